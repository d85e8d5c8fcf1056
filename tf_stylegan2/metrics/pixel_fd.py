"""Pixel-space Fréchet distance: a detector-free quality measure for small generators.

The features of an image are its pixels, box-averaged down to `size x size` (`size * size * C`
dimensions), in [-1, 1]; the distance between two sets is `fid_from_features` of those features.
It needs no download, so tests and CPU runs use it where FID's Inception network is out of reach.
Values depend on `size` and on the number of images: compare figures measured alike only.
"""

import numpy as np

from tf_stylegan2.metrics.frechet import fid_from_features


def pixel_features(images, size):
    """`images [N, H, W, C]` float in [-1, 1] (H, W multiples of `size`) -> `[N, size * size * C]` float64."""
    images = np.asarray(images, np.float64)
    n, h, w, c = images.shape
    pooled = images.reshape(n, size, h // size, size, w // size, c).mean(axis=(2, 4))
    return pooled.reshape(n, -1)


def generated_images(G, num, seed=123, batch=256, truncation_psi=1.0):
    """`num` images of `G` (z = `RandomState(seed).randn(num, z_dim)`, const noise) ->
    `[num, H, W, C]` float32 clipped to [-1, 1]."""
    z = np.random.RandomState(seed).randn(num, G.z_dim).astype(np.float32)
    parts = [np.asarray(G(z[i:i + batch], truncation_psi=truncation_psi, noise_mode="const"))
             for i in range(0, num, batch)]
    return np.clip(np.concatenate(parts), -1.0, 1.0)


def pixel_fd(G, reals, size, seed=123):
    """Fréchet distance between the pooled pixels of `len(reals)` images of `G` and of `reals`
    (`[N, H, W, C]` float in [-1, 1]) -> float >= 0."""
    fakes = generated_images(G, len(reals), seed=seed)
    return fid_from_features(pixel_features(reals, size), pixel_features(fakes, size))
