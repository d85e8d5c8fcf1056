"""Perceptual path length (spec §13.6).

Pairs of images a small step `epsilon` apart along a random interpolation (slerp in Z, lerp in
W), their perceptual distance over `epsilon^2`, and the mean of the values between the 1st and
99th percentiles. The distance is the projector's LPIPS-style VGG16 distance (NVIDIA's
`vgg16_zhang_perceptual.pkl` is not readable here, so values are close to, not identical with,
the papers').
"""

import numpy as np
import tensorflow as tf

from tf_stylegan2.metrics.features import random_labels
from tf_stylegan2.progress import Progress
from tf_stylegan2.projector.lpips import PerceptualDistance, vgg16_backbone
from tf_stylegan2.projector.projector import box_downsample

DISTANCE_RESOLUTION = 256


class LpipsDistance:
    """`(a, b) -> [N]`: the projector's `PerceptualDistance` on VGG16, compiled once.
    `min_size`: the smallest image side it measures (VGG16 pools by 2 four times before relu5_3)."""

    min_size = 16

    def __init__(self, vgg16):
        self._fn = tf.function(PerceptualDistance(vgg16).__call__, reduce_retracing=True)

    def __call__(self, a, b):
        return self._fn(a, b)


_DISTANCES = {}


def lpips_distance(vgg16_weights="imagenet"):
    """`LpipsDistance` with `vgg16_weights` ("imagenet" or a Keras weights file, as the projector's
    --vgg16), kept for the life of the process."""
    key = vgg16_weights or "imagenet"
    if key not in _DISTANCES:
        _DISTANCES[key] = LpipsDistance(vgg16_backbone(key))
    return _DISTANCES[key]


def distance_input_size(resolution, crop):
    """Side of the images the distance sees: cropped to a half, then box-downsampled to 256 when larger."""
    size = resolution // 8 * 4 if crop else resolution
    return size // (size // DISTANCE_RESOLUTION) if size > DISTANCE_RESOLUTION else size


def check_generator(G):
    """One-line ValueError for a generator whose synthesis noise cannot be set (a SavedModel)."""
    if not hasattr(getattr(G, "synthesis", None), "num_noise"):
        raise ValueError("PPL needs a Keras generator (pickle or converted directory), not a SavedModel")


def check_distance_input(G, crop, distance):
    """One-line ValueError when `distance` cannot measure this generator's (cropped) images."""
    size = distance_input_size(G.img_resolution, crop)
    if size < getattr(distance, "min_size", 0):
        raise ValueError("PPL's VGG16 distance needs images of at least %dx%d%s; this %dx%d network gives %dx%d"
                         % (distance.min_size, distance.min_size, " after the crop" if crop else "",
                            G.img_resolution, G.img_resolution, size, size))


def _normalize(x):
    return x / tf.norm(x, axis=-1, keepdims=True)


def slerp(a, b, t):
    """Spherical interpolation of `[N, D]` directions at `t [N, 1]` (the official one: the inputs are
    normalised, the result is unit length)."""
    a, b = _normalize(a), _normalize(b)
    d = tf.reduce_sum(a * b, axis=-1, keepdims=True)
    p = t * tf.acos(d)
    c = _normalize(b - d * a)
    return _normalize(a * tf.cos(p) + c * tf.sin(p))


def lerp(a, b, t):
    return a + (b - a) * t


def crop_face(img):
    """NHWC `[N, H, W, C]` -> the official crop: rows `3c:7c`, columns `2c:6c`, c = H // 8."""
    c = img.shape[1] // 8
    return img[:, c * 3:c * 7, c * 2:c * 6, :]


def ppl_from_distances(distances):
    """Mean of the scaled distances between the 1st ('lower') and 99th ('higher') percentiles."""
    d = np.asarray(distances, np.float64)
    lo = np.percentile(d, 1, method="lower")
    hi = np.percentile(d, 99, method="higher")
    return float(np.mean(d[(d >= lo) & (d <= hi)]))


def _shared_noise(G, rnd):
    """One N(0, 1) map `[1, r, r]` per noise input, shared by a whole minibatch."""
    syn = G.synthesis
    return [rnd.randn(1, syn.noise_resolution(i), syn.noise_resolution(i)).astype(np.float32)
            for i in range(syn.num_noise)]


def _to_distance_input(img, crop):
    """Synthesis output in [-1, 1] -> cropped, box-downsampled above 256 px (TF1: by the cropped
    size over 256), RGB in [0, 255]."""
    if crop:
        img = crop_face(img)
    img = box_downsample(img, DISTANCE_RESOLUTION)
    img = (img + 1.0) * 127.5
    return tf.tile(img, [1, 1, 1, 3]) if img.shape[-1] == 1 else img


def path_distances(G, distance, num_samples, space="z", sampling="full", crop=True, labels=None, epsilon=1e-4,
                   batch_size=8, seed=0, progress=True, desc="ppl"):
    """Scaled distances `[num_samples]` float64 of `num_samples` interpolation pairs.

    Args:
      G: a Keras `Generator` (its synthesis takes noise overrides).
      distance: `(a, b) -> [N]` between RGB images in [0, 255] NHWC (e.g. `PerceptualDistance`).
      space: "z" (slerp of latents, then mapping) or "w" (lerp of the mapped latents).
      sampling: "full" (t ~ U(0, 1)) or "end" (t = 0).
      labels: dataset labels `[N, c_dim]` a random one of which conditions each pair.
      batch_size: pairs per step; the synthesis noise is redrawn once per step.
    Draws from `RandomState(seed)`, per step: z `[2 * batch_size, z_dim]` (first halves z0, second z1),
    the labels, t (`full` only), then one `[1, r, r]` noise map per noise input.
    """
    check_generator(G)
    check_distance_input(G, crop, distance)
    rnd = np.random.RandomState(seed)
    out = []
    bar = Progress(total=num_samples, desc=desc) if progress else None
    for _ in range(0, num_samples, batch_size):
        z = rnd.randn(2 * batch_size, G.z_dim).astype(np.float32)
        c = random_labels(rnd, labels, G.c_dim, batch_size)
        t = (rnd.uniform(size=[batch_size, 1]) if sampling == "full" else np.zeros([batch_size, 1])).astype(np.float32)
        z0, z1 = z[:batch_size], z[batch_size:]
        c2 = None if c is None else np.concatenate([c, c])
        if space == "z":
            zt = tf.concat([slerp(z0, z1, t), slerp(z0, z1, t + epsilon)], axis=0)
            ws = G.mapping(zt, c2, truncation_psi=1)
        else:
            w = G.mapping(z, c2, truncation_psi=1)
            w0, w1 = w[:batch_size], w[batch_size:]
            ws = tf.concat([lerp(w0, w1, t[:, :, None]), lerp(w0, w1, t[:, :, None] + epsilon)], axis=0)
        img = _to_distance_input(G.synthesis(ws, noise_mode="const", noise=_shared_noise(G, rnd)), crop)
        d = distance(img[:batch_size], img[batch_size:])
        out.append(np.asarray(d, np.float64) / epsilon ** 2)
        if bar:
            bar.update(min(batch_size, num_samples - bar.count))
    if bar:
        bar.close()
    return np.concatenate(out)[:num_samples]
