"""Layers of the original StyleGAN (NVlabs/stylegan `training/networks_stylegan.py`), NHWC.

Equalized learning rate as in v1: the runtime weight is `stored * gain / sqrt(fan_in) * lrmul`
with `gain = sqrt(2)` for the convolutions and dense layers that feed a leaky ReLU, and the
leaky ReLU (slope 0.2) has no gain of its own (StyleGAN2 moves that sqrt(2) after the
activation). Biases are scaled by `lrmul`. Layers whose gain is 1 (ToRGB, StyleMod, D's last
dense layer) have StyleGAN2's maths and are the project's `Conv2dLayer` / `DenseLayer`.
"""

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers import DenseLayer
from tf_stylegan2.layers.initialization import add_weight

SQRT2 = float(np.sqrt(2.0))
FUSED_SCALE_CHOICES = ("auto", True, False)
FUSED_MIN_RESOLUTION = 128  # fused_scale="auto": NVIDIA fuses resampling and conv from this (higher) resolution on


def official_scope(layer_name):
    """A layer's name -> NVIDIA's variable scope: "128x128_Conv0_up" -> "128x128/Conv0_up"; "ToRGB_lod0" unchanged."""
    return layer_name.replace("_", "/", 1) if layer_name[:1].isdigit() else layer_name


def blur_filter_2d(blur_filter):
    """A 1-D blur filter (e.g. `[1, 2, 1]`) -> its normalised 2-D outer product `[k, k]` float32, or
    None for no blur (`blur_filter` None or empty)."""
    if not blur_filter:
        return None
    f = np.asarray(blur_filter, np.float32)
    f = f[:, np.newaxis] * f[np.newaxis, :]
    return f / np.sum(f)


def blur2d(x, kernel):
    """Depthwise `kernel [k, k]` over `x [N, H, W, C]`, SAME padding (TF1 `_blur2d`); None: x unchanged."""
    if kernel is None:
        return x
    f = tf.tile(tf.constant(kernel, x.dtype)[:, :, tf.newaxis, tf.newaxis], [1, 1, x.shape[-1], 1])
    return tf.nn.depthwise_conv2d(x, f, strides=[1, 1, 1, 1], padding="SAME")


def upscale2d(x):
    """Nearest-neighbour 2x upsampling `[N, H, W, C] -> [N, 2H, 2W, C]`."""
    return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)


def downscale2d(x):
    """2x2 box average `[N, H, W, C] -> [N, H/2, W/2, C]` (TF1 `_downscale2d`)."""
    return tf.nn.avg_pool2d(x, 2, 2, "VALID")


def fused_scale_at(fused_scale, resolution):
    """Whether NVIDIA runs the resampling convolution whose larger side is `resolution` fused
    (`conv2d_transpose` / strided conv): `fused_scale` True, False, or "auto" (>= 128)."""
    if fused_scale not in FUSED_SCALE_CHOICES:
        raise ValueError("fused_scale must be 'auto', True or False, got %r" % (fused_scale,))
    return resolution >= FUSED_MIN_RESOLUTION if fused_scale == "auto" else bool(fused_scale)


@keras.saving.register_keras_serializable(package="tf_stylegan2.stylegan1")
class DenseV1(DenseLayer):
    """v1 dense layer: `act(x @ (weight * gain * lr_multiplier / sqrt(in)) + bias * lr_multiplier)`,
    the activation without gain. `[N, in_features] -> [N, units]`."""

    def __init__(self, in_features, units, gain=SQRT2, **kwargs):
        super().__init__(in_features, units, **kwargs)
        self.gain = float(gain)
        self.weight_gain *= self.gain

    def call(self, x):
        x = tf.matmul(x, self.weight * self.weight_gain)
        b = self.bias * self.lr_multiplier if self.use_bias else None
        return ops.fused_bias_act(x, b, act=self.activation, gain=1.0)

    def get_config(self):
        config = super().get_config()
        config.update(gain=self.gain)
        return config


@keras.saving.register_keras_serializable(package="tf_stylegan2.stylegan1")
class ConvV1(keras.layers.Layer):
    """v1 discriminator convolution `[N, H, W, in] -> [N, H', W', out]`: `weight [k, k, in, out]`
    (HWIO) scaled by `sqrt(2) / sqrt(k*k*in)`, SAME padding, bias, leaky ReLU without gain.

    `down=True` is `Conv1_down`: blur (`blur_filter`), conv, 2x2 average. NVIDIA's fused strided
    variant (fused_scale) is the same operation, so one path serves both.
    """

    def __init__(self, in_channels, out_channels, kernel_size, down=False, blur_filter=None, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.down = int(kernel_size), bool(down)
        self.blur_filter = None if blur_filter is None else [float(v) for v in blur_filter]
        self._blur = blur_filter_2d(self.blur_filter)
        self.weight_gain = SQRT2 / float(np.sqrt(self.in_channels * self.kernel_size ** 2))

    def build(self, input_shape=None):
        k = self.kernel_size
        self.weight = add_weight(self, name="weight", shape=(k, k, self.in_channels, self.out_channels),
                                 initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.bias = add_weight(self, name="bias", shape=(self.out_channels,), initializer="zeros")
        self.built = True

    def call(self, x):
        if self.down:
            x = blur2d(x, self._blur)
        x = tf.nn.conv2d(x, self.weight * self.weight_gain, strides=1, padding="SAME")
        if self.down:
            x = downscale2d(x)
        return ops.fused_bias_act(x, self.bias, act="lrelu", gain=1.0)

    def get_config(self):
        config = super().get_config()
        config.update(in_channels=self.in_channels, out_channels=self.out_channels, kernel_size=self.kernel_size,
                      down=self.down, blur_filter=self.blur_filter)
        return config


def instance_norm(x, eps=1e-8):
    """Per-sample, per-channel normalisation over H and W of `[N, H, W, C]` (eps inside the rsqrt)."""
    x = x - tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=[1, 2], keepdims=True) + eps)


LAYER_KINDS = ("const", "conv", "up")


@keras.saving.register_keras_serializable(package="tf_stylegan2.stylegan1")
class StyledLayerV1(keras.layers.Layer):
    """One synthesis layer of v1 with its epilogue: `call(x, w [N, w_dim], noise) -> [N, H', W', C]`.

    kind "const": the learned constant `const [1, 4, 4, C]` (x only gives the batch size);
    "conv": 3x3 conv; "up": nearest 2x upsampling, 3x3 conv, blur (`Conv0_up`). With `flip` the
    "up" kernel is used spatially flipped: NVIDIA's fused `conv2d_transpose` (fused_scale, output
    resolution >= 128 by default) equals upsample + conv with the flipped kernel.
    Conv weights `weight [3, 3, in, out]` scale by `sqrt(2) / sqrt(9*in)`.

    Epilogue: `x + noise * noise_strength [C]` (noise `[N or 1, H, W, 1]`, or None for none),
    `+ bias`, leaky ReLU (no gain), instance norm, style `x * (s[:, :C] + 1) + s[:, C:]` with
    `s = StyleMod(w)` (a gain-1 dense layer `[w_dim, 2C]`).
    """

    def __init__(self, in_channels, out_channels, w_dim, kind="conv", flip=False, blur_filter=None, **kwargs):
        super().__init__(**kwargs)
        if kind not in LAYER_KINDS:
            raise ValueError("kind must be one of %s, got %r" % (LAYER_KINDS, kind))
        self.in_channels, self.out_channels, self.w_dim = int(in_channels), int(out_channels), int(w_dim)
        self.kind, self.flip = kind, bool(flip)
        self.blur_filter = None if blur_filter is None else [float(v) for v in blur_filter]
        self._blur = blur_filter_2d(self.blur_filter)
        self.weight_gain = SQRT2 / float(np.sqrt(self.in_channels * 9))
        self.style = DenseLayer(self.w_dim, 2 * self.out_channels, name="StyleMod")

    def build(self, input_shape=None):
        normal = keras.initializers.RandomNormal(stddev=1.0)
        if self.kind == "const":
            self.const = add_weight(self, name="const", shape=(1, 4, 4, self.out_channels), initializer="ones")
        else:
            self.weight = add_weight(self, name="weight", shape=(3, 3, self.in_channels, self.out_channels),
                                     initializer=normal)
        self.noise_strength = add_weight(self, name="noise_strength", shape=(self.out_channels,), initializer="zeros")
        self.bias = add_weight(self, name="bias", shape=(self.out_channels,), initializer="zeros")
        self.style.build()
        self.built = True

    @property
    def mod_weight(self):
        """The StyleMod weight `[w_dim, 2C]` (scale columns, then bias columns): SeFa's affine weight."""
        return self.style.weight

    def call(self, x, w, noise=None):
        if self.kind == "const":
            x = tf.tile(self.const, [tf.shape(x)[0], 1, 1, 1])
        else:
            kernel = self.weight * self.weight_gain
            if self.kind == "up":
                x = upscale2d(x)
                kernel = kernel[::-1, ::-1] if self.flip else kernel
            x = tf.nn.conv2d(x, kernel, strides=1, padding="SAME")
            if self.kind == "up":
                x = blur2d(x, self._blur)
        if noise is not None:
            x = x + noise * self.noise_strength
        x = instance_norm(ops.fused_bias_act(x, self.bias, act="lrelu", gain=1.0))
        style = self.style(w)
        c = self.out_channels
        return x * (style[:, tf.newaxis, tf.newaxis, :c] + 1) + style[:, tf.newaxis, tf.newaxis, c:]

    def official_weights(self):
        """`{name inside the layer's scope: variable}` as NVIDIA names them."""
        first = {"const": self.const} if self.kind == "const" else {"weight": self.weight}
        return dict(first, **{"Noise/weight": self.noise_strength, "bias": self.bias,
                              "StyleMod/weight": self.style.weight, "StyleMod/bias": self.style.bias})

    def get_config(self):
        config = super().get_config()
        config.update(in_channels=self.in_channels, out_channels=self.out_channels, w_dim=self.w_dim, kind=self.kind,
                      flip=self.flip, blur_filter=self.blur_filter)
        return config
