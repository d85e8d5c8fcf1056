"""Projection of an image into a generator's latent space (spec §6, TF1 `projector.py`).

Optimises a latent in W (`[1, 1, w_dim]`, tiled over the layers, the official space) or W+
(`[1, num_ws, w_dim]`) together with the per-layer noise inputs, with Adam, the official
learning-rate and latent-noise schedules, noise regularisation and renormalisation, against an
LPIPS-style perceptual distance. The generator's own variables are never modified.
"""

import collections
import math

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2.ops import dispatch

SPACES = ("w", "w+")

Hyperparameters = collections.namedtuple("Hyperparameters", [
    "num_steps", "w_avg_samples", "initial_learning_rate", "lr_rampup_length", "lr_rampdown_length",
    "initial_noise_factor", "noise_ramp_length", "regularize_noise_weight", "perceptual_resolution"])
OFFICIAL = Hyperparameters(num_steps=1000, w_avg_samples=10000, initial_learning_rate=0.1, lr_rampup_length=0.05,
                           lr_rampdown_length=0.25, initial_noise_factor=0.05, noise_ramp_length=0.75,
                           regularize_noise_weight=1e5, perceptual_resolution=256)

StepResult = collections.namedtuple("StepResult", ["step", "distance", "loss"])


def learning_rate(t, initial_learning_rate=0.1, rampup_length=0.05, rampdown_length=0.25):
    """Official lr at progress `t = step / num_steps`: cosine ramp-down over the last
    `rampdown_length`, linear ramp-up over the first `rampup_length` (so 0 at t = 0)."""
    r = min(1.0, (1.0 - t) / rampdown_length)
    r = 0.5 - 0.5 * math.cos(math.pi * r)
    r *= min(1.0, t / rampup_length)
    return initial_learning_rate * r


def noise_strength(t, w_std, initial_noise_factor=0.05, noise_ramp_length=0.75):
    """Std of the Gaussian added to the latent at progress `t`: `w_std * factor * max(0, 1 - t/ramp)^2`."""
    return w_std * initial_noise_factor * max(0.0, 1.0 - t / noise_ramp_length) ** 2


def snapshot_steps(num_steps, num_snapshots):
    """Steps (1-based, after the update) at which the official script saves an image:
    `{num_steps - linspace(0, num_steps, num_snapshots, endpoint=False).astype(int)}`."""
    return set(int(s) for s in num_steps - np.linspace(0, num_steps, num_snapshots, endpoint=False).astype(int))


def w_statistics(mapping, num_samples=10000, seed=123):
    """W mean `[1, 1, w_dim]` and RMS distance to it (a float) over the first ws of
    `mapping(RandomState(seed).randn(num_samples, z_dim))`, as the official projector."""
    z = np.random.RandomState(seed).randn(num_samples, mapping.z_dim).astype(np.float32)
    w = mapping(z, None)[:, :1, :].numpy().astype(np.float64)
    w_avg = w.mean(axis=0, keepdims=True)
    w_std = float(np.sqrt(np.sum((w - w_avg) ** 2) / num_samples))
    return w_avg.astype(np.float32), w_std


def noise_regularization(noise):
    """Official noise regulariser: at each scale (halving by 2x2 average pooling down to 8x8), the
    squared mean of each `[1, r, r, 1]` map times itself shifted by one pixel along W and along H."""
    reg = 0.0
    for v in noise:
        while True:
            reg += tf.square(tf.reduce_mean(v * tf.roll(v, shift=1, axis=2)))
            reg += tf.square(tf.reduce_mean(v * tf.roll(v, shift=1, axis=1)))
            if v.shape[1] <= 8:
                break
            v = tf.nn.avg_pool2d(v, 2, 2, "VALID")
    return reg


def box_downsample(img, resolution):
    """`[N, H, W, C]` -> mean over `factor x factor` boxes, `factor = H // resolution`, when H > resolution."""
    h, w, c = img.shape[1], img.shape[2], img.shape[3]
    if h <= resolution:
        return img
    f = h // resolution
    return tf.reduce_mean(tf.reshape(img, [-1, h // f, f, w // f, f, c]), axis=[2, 4])


class Projector:
    """Finds the latent (and noise) that makes `G.synthesis` reproduce a target image.

    Usage:
      projector = Projector(G, PerceptualDistance(vgg16_backbone(...)), space="w")
      for result in projector.run(target):   # target [1, R, R, C] float in [-1, 1]
          ...                                # result: StepResult(step 1..num_steps, distance, loss)
          projector.images()                 # [1, R, R, C] current projection
      projector.w(), projector.noise()       # [1, num_ws, w_dim], list of [1, r, r, 1]

    `jit`: True compiles the step with XLA (reference ops only), False uses a plain `tf.function`,
    None runs eagerly (for benchmarks). `seed` drives the noise initialisation and the latent noise.
    """

    def __init__(self, G, distance, space="w", hyperparameters=OFFICIAL, jit=False, seed=303):
        if space not in SPACES:
            raise ValueError("space must be one of %s, got %r" % (", ".join(SPACES), space))
        if G.c_dim > 0:
            raise ValueError("projection of conditional networks (c_dim=%d) is not supported" % G.c_dim)
        if hyperparameters.num_steps < 1 or hyperparameters.w_avg_samples < 1:
            raise ValueError("num_steps and w_avg_samples must be at least 1, got %d and %d"
                             % (hyperparameters.num_steps, hyperparameters.w_avg_samples))
        self.G, self.distance, self.space, self.hp, self.seed = G, distance, space, hyperparameters, seed
        self.w_avg, self.w_std = w_statistics(G.mapping, hyperparameters.w_avg_samples)
        rows = 1 if space == "w" else G.num_ws
        self._w = tf.Variable(tf.zeros([1, rows, G.w_dim]), name="projected_w")
        self._noise = [tf.Variable(tf.zeros(v.shape), name="noise%d" % i)
                       for i, v in enumerate(G.synthesis.noise_buffers)]
        perceptual_shape = self._perceptual_input(tf.zeros(self._image_shape())).shape
        if min(perceptual_shape[1:3]) < 16:
            raise ValueError("the perceptual distance needs images of at least 16x16, got %dx%d (network %dpx, "
                             "perceptual_resolution %d)" % (perceptual_shape[1], perceptual_shape[2],
                                                            G.img_resolution, hyperparameters.perceptual_resolution))
        self._target_features = [tf.Variable(tf.zeros([1] + list(f.shape[1:])), trainable=False)
                                 for f in distance.features(tf.zeros(perceptual_shape))]
        self._rng = tf.random.Generator.from_seed(seed)
        self.optimizer = keras.optimizers.Adam(learning_rate=0.0, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
        self.optimizer.build(self._variables())
        self.jit = jit
        if jit is None:
            self._step = self._step_fn
        else:
            signature = [tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.float32)]
            self._step = tf.function(self._step_fn, input_signature=signature, jit_compile=bool(jit), autograph=False)
            if jit:
                with dispatch.reference_only():  # Trace now: XLA cannot compile custom ops.
                    self._step.get_concrete_function()

    def _image_shape(self):
        return (1, self.G.img_resolution, self.G.img_resolution, self.G.img_channels)

    def _variables(self):
        return [self._w] + self._noise

    def _perceptual_input(self, img):
        """[-1, 1] image `[1, R, R, C]` -> the distance's input: [0, 255] RGB, box-downsampled."""
        x = (tf.cast(img, tf.float32) + 1.0) * 127.5
        if x.shape[-1] == 1:
            x = tf.tile(x, [1, 1, 1, 3])
        return box_downsample(x, self.hp.perceptual_resolution)

    def _ws(self, w):
        return tf.tile(w, [1, self.G.num_ws, 1]) if self.space == "w" else w

    def _step_fn(self, lr, w_noise_strength):
        with tf.GradientTape() as tape:
            w = self._w + self._rng.normal(self._w.shape) * w_noise_strength
            img = self.G.synthesis(self._ws(w), noise=list(self._noise))
            dist = self.distance.distance_to_features(self._perceptual_input(img), self._target_features)
            loss = tf.reduce_sum(dist) + self.hp.regularize_noise_weight * noise_regularization(self._noise)
        variables = self._variables()
        grads = tape.gradient(loss, variables)
        self.optimizer.learning_rate.assign(lr)
        self.optimizer.apply_gradients(zip(grads, variables))
        for v in self._noise:
            centred = v - tf.reduce_mean(v)
            v.assign(centred * tf.math.rsqrt(tf.reduce_mean(tf.square(centred))))
        return tf.reduce_sum(dist), loss

    def start(self, target, w=None):
        """Reset to the official start for `target` `[1, R, R, C]` in [-1, 1]: latent = W mean,
        noise = N(0, 1), fresh Adam state. With `w` (`[1, num_ws, w_dim]`, space "w+", e.g. an
        encoder's code): latent = `w` and noise = the generator's stored buffers, the encoder's rendering."""
        target = tf.convert_to_tensor(target, tf.float32)
        if tuple(target.shape) != self._image_shape():
            raise ValueError("target must have shape %s, got %s" % (self._image_shape(), tuple(target.shape)))
        if w is not None and (self.space != "w+" or tuple(np.shape(w)) != tuple(self._w.shape)):
            raise ValueError("a starting latent needs space 'w+' and shape %s, got %s in space %r"
                             % (tuple(self._w.shape), tuple(np.shape(w)), self.space))
        for var, f in zip(self._target_features, self.distance.features(self._perceptual_input(target))):
            var.assign(f)
        self._w.assign(tf.tile(self.w_avg, [1, self._w.shape[1], 1]) if w is None else w)
        for v, buf in zip(self._noise, self.G.synthesis.noise_buffers):
            v.assign(self._rng.normal(v.shape) if w is None else buf)
        for v in self.optimizer.variables:
            v.assign(tf.zeros_like(v))

    def run(self, target, w=None):
        """`start(target, w)`, then yield a `StepResult` after each of the `num_steps` steps; the
        distance and loss are those evaluated in the step (before its update)."""
        self.start(target, w)
        hp = self.hp
        for step in range(hp.num_steps):
            t = step / hp.num_steps
            lr = learning_rate(t, hp.initial_learning_rate, hp.lr_rampup_length, hp.lr_rampdown_length)
            strength = noise_strength(t, self.w_std, hp.initial_noise_factor, hp.noise_ramp_length)
            dist, loss = self._step(tf.constant(lr, tf.float32), tf.constant(strength, tf.float32))
            yield StepResult(step + 1, float(dist), float(loss))

    def w(self):
        """Current latent as `[1, num_ws, w_dim]` float32 numpy (W space: all rows equal)."""
        return self._ws(self._w).numpy()

    def noise(self):
        """Current noise inputs: list of float32 numpy `[1, r, r, 1]`, conv layer order."""
        return [v.numpy() for v in self._noise]

    def images(self):
        """Current projection `[1, R, R, C]` float32 (about [-1, 1]), rendered without latent noise."""
        return self.G.synthesis(self._ws(self._w), noise=list(self._noise)).numpy()
