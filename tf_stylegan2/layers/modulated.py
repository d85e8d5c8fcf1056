"""Modulated convolution and the synthesis-network layers built on it.

`modulated_conv2d` has two equivalent execution paths (spec §2.3):
- fused: per-sample weights `w * style` (demodulated), run as one grouped convolution
  (groups = batch). TF's grouped-conv gradient runs on CPU only under XLA.
- non-fused: scale activations by the style, convolve with the shared weight, scale by the
  demodulation coefficients. Plain convolutions: differentiable everywhere, fast on CPU.
"""

import numpy as np
import keras
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers.equalized import effective_clamp
from tf_stylegan2.layers.initialization import add_weight

FUSED_MODCONV_CHOICES = ("auto", True, False)


def choose_fused(fused_modconv, x_shape=None, weight_shape=None, up=1):
    """Resolve `fused_modconv` ("auto"/True/False) to a bool for input `x_shape` `[N, H, W, I]`
    and weight `weight_shape` `[k, k, I, O]` (static dims, None where unknown).

    "auto" picks the fused path where it is a plain convolution (a static batch of 1) and its
    per-sample weight (k*k*I*O values, modulated and demodulated) is smaller than the
    activations the non-fused path scales (H*W*I in, H*up*W*up*O out): the high resolutions.
    Otherwise the non-fused path: plain convolutions, differentiable on every device without
    XLA, where the fused path would need a grouped convolution (no fast CPU kernel, and its
    gradient runs on CPU only under XLA).
    """
    if fused_modconv not in FUSED_MODCONV_CHOICES:
        raise ValueError("fused_modconv must be 'auto', True or False, got %r" % (fused_modconv,))
    if fused_modconv != "auto":
        return fused_modconv
    if x_shape is None or weight_shape is None or None in tuple(x_shape):
        return False
    n, h, w, in_ch = x_shape
    k, _, _, out_ch = weight_shape
    return n == 1 and h * w * (in_ch + up * up * out_ch) > k * k * in_ch * out_ch


def modulated_conv2d(x, weight, styles, demodulate=True, up=1, resample_filter=(1, 3, 3, 1), fused=False):
    """Style-modulated convolution.

    Args:
      x: `[N, H, W, I]`.
      weight: `[k, k, I, O]` (HWIO).
      styles: `[N, I]` per-sample input-channel scales (a constant gain of the weight may be
        folded into them: only the products weight * style matter).
      demodulate: normalise each output channel's per-sample weight to unit L2 norm.
      up: 1, or 2 for a transposed conv + FIR upsampling (`ops.upsample_conv2d`).
      fused: run with per-sample weights: a grouped convolution, a plain one for a static batch of 1.
    Returns:
      `[N, H*up, W*up, O]` in x's dtype (styles and demodulation are computed in float32, then cast).
    """
    styles = tf.cast(styles, tf.float32)
    weight = tf.cast(weight, tf.float32)
    dcoefs = None
    if demodulate:
        # d[n, o] = rsqrt(sum_{kh, kw, i} (w[kh, kw, i, o] * s[n, i])^2 + 1e-8)
        wsq = tf.reduce_sum(tf.square(weight), axis=[0, 1])
        dcoefs = tf.math.rsqrt(tf.matmul(tf.square(styles), wsq) + 1e-8)

    def conv(inp, w, groups):
        if up > 1:
            return ops.upsample_conv2d(inp, w, k=resample_filter, factor=up, groups=groups)
        return tf.nn.conv2d(inp, w, strides=1, padding="SAME")

    if not fused:
        x = x * tf.cast(styles, x.dtype)[:, tf.newaxis, tf.newaxis, :]
        x = conv(x, tf.cast(weight, x.dtype), groups=1)
        if dcoefs is not None:
            x = x * tf.cast(dcoefs, x.dtype)[:, tf.newaxis, tf.newaxis, :]
        return x

    k, _, in_ch, out_ch = weight.shape
    scales = styles[:, :, tf.newaxis] if dcoefs is None else styles[:, :, tf.newaxis] * dcoefs[:, tf.newaxis, :]
    ww = tf.cast(weight[tf.newaxis] * scales[:, tf.newaxis, tf.newaxis], x.dtype)  # [N, k, k, I, O], one pass
    if x.shape[0] == 1:
        return conv(x, ww[0], groups=1)
    batch = tf.shape(x)[0]
    ww = tf.reshape(tf.transpose(ww, [1, 2, 3, 0, 4]), [k, k, in_ch, -1])         # [k, k, I, N*O]
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    xg = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, w, -1])                 # [1, H, W, N*I]
    y = conv(xg, ww, groups=batch)
    y = tf.reshape(y, [tf.shape(y)[1], tf.shape(y)[2], batch, out_ch])
    return tf.transpose(y, [2, 0, 1, 3])


class _StyledLayer(keras.layers.Layer):
    """Common part of modulated layers: raw conv weight plus the style affine
    `styles = w @ (mod_weight / sqrt(w_dim)) + mod_bias + 1`."""

    def __init__(self, in_channels, out_channels, w_dim, kernel_size, fused_modconv="auto", **kwargs):
        kwargs.setdefault("autocast", False)  # keep x's dtype (Keras would cast it to float32): `precision`
        super().__init__(**kwargs)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.w_dim = int(w_dim)
        self.kernel_size = int(kernel_size)
        choose_fused(fused_modconv)
        self.fused_modconv = fused_modconv
        self.weight_gain = float(1.0 / np.sqrt(self.in_channels * self.kernel_size ** 2))
        self.affine_gain = float(1.0 / np.sqrt(self.w_dim))

    def build(self, input_shape=None):
        k = self.kernel_size
        normal = keras.initializers.RandomNormal(stddev=1.0)
        self.weight = add_weight(self, name="weight", shape=(k, k, self.in_channels, self.out_channels),
                                 initializer=normal)
        self.mod_weight = add_weight(self, name="mod_weight", shape=(self.w_dim, self.in_channels), initializer=normal)
        self.mod_bias = add_weight(self, name="mod_bias", shape=(self.in_channels,), initializer="zeros")

    def styles(self, w):
        """`[N, w_dim] -> [N, in_channels]`."""
        return tf.matmul(w, self.mod_weight * self.affine_gain) + (self.mod_bias + 1.0)

    def get_config(self):
        config = super().get_config()
        config.update(in_channels=self.in_channels, out_channels=self.out_channels, w_dim=self.w_dim,
                      kernel_size=self.kernel_size, fused_modconv=self.fused_modconv)
        return config


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class SynthesisLayer(_StyledLayer):
    """Modulated 3x3 conv (optionally 2x up) + noise + bias + activation.

    `call(x [N, H, W, I], w [N, w_dim], noise [N or 1, H', W', 1] or None, gain)`
    -> `[N, H', W', O]` with `H' = H * up`, computed in x's dtype (below float32, clamped at
    `equalized.REDUCED_PRECISION_CLAMP` when `conv_clamp` is unset). Weights: `weight`, `mod_weight`, `mod_bias`,
    `noise_strength` (scalar), `bias`.
    """

    def __init__(self, in_channels, out_channels, w_dim, kernel_size=3, up=1, resample_filter=(1, 3, 3, 1),
                 activation="lrelu", conv_clamp=None, **kwargs):
        super().__init__(in_channels, out_channels, w_dim, kernel_size, **kwargs)
        self.up = int(up)
        self.resample_filter = [float(v) for v in resample_filter]
        self.activation = activation
        self.conv_clamp = conv_clamp

    def build(self, input_shape=None):
        super().build(input_shape)
        self.noise_strength = add_weight(self, name="noise_strength", shape=(), initializer="zeros")
        self.bias = add_weight(self, name="bias", shape=(self.out_channels,), initializer="zeros")
        self.built = True

    def call(self, x, w, noise=None, gain=1.0):
        x = modulated_conv2d(x, self.weight, self.styles(w) * self.weight_gain, demodulate=True, up=self.up,
                             resample_filter=self.resample_filter,
                             fused=choose_fused(self.fused_modconv, x.shape, self.weight.shape, self.up))
        if noise is not None:
            x = x + tf.cast(noise * self.noise_strength, x.dtype)
        _, _, act_gain = ops.resolve_activation(self.activation)
        conv_clamp = effective_clamp(self.conv_clamp, x.dtype)
        clamp = None if conv_clamp is None else conv_clamp * gain
        return ops.fused_bias_act(x, self.bias, act=self.activation, gain=act_gain * gain, clamp=clamp)

    def get_config(self):
        config = super().get_config()
        config.update(up=self.up, resample_filter=self.resample_filter, activation=self.activation,
                      conv_clamp=self.conv_clamp)
        return config


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class ToRGBLayer(_StyledLayer):
    """Modulated 1x1 conv without demodulation, plus bias, linear:
    `call(x [N, H, W, I], w [N, w_dim]) -> [N, H, W, out_channels]`."""

    def __init__(self, in_channels, out_channels, w_dim, kernel_size=1, conv_clamp=None, **kwargs):
        super().__init__(in_channels, out_channels, w_dim, kernel_size, **kwargs)
        self.conv_clamp = conv_clamp

    def build(self, input_shape=None):
        super().build(input_shape)
        self.bias = add_weight(self, name="bias", shape=(self.out_channels,), initializer="zeros")
        self.built = True

    def call(self, x, w):
        x = modulated_conv2d(x, self.weight, self.styles(w) * self.weight_gain, demodulate=False,
                             fused=choose_fused(self.fused_modconv, x.shape, self.weight.shape))
        return ops.fused_bias_act(x, self.bias, clamp=effective_clamp(self.conv_clamp, x.dtype))

    def get_config(self):
        config = super().get_config()
        config.update(conv_clamp=self.conv_clamp)
        return config


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class ConstInput(keras.layers.Layer):
    """The learned constant `[1, size, size, channels]`, tiled to the batch: `call(batch) -> [N, s, s, C]`."""

    def __init__(self, channels, size=4, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.size = int(size)

    def build(self, input_shape=None):
        self.const = add_weight(self, name="const", shape=(1, self.size, self.size, self.channels),
                                initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.built = True

    def call(self, batch_size):
        return tf.tile(self.const, [batch_size, 1, 1, 1])

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, size=self.size)
        return config
