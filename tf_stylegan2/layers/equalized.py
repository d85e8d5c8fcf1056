"""Equalized-learning-rate dense and convolution layers (StyleGAN2's `dense_layer`,
`conv2d_layer` + `apply_bias_act`; ADA's `FullyConnectedLayer`, `Conv2dLayer`).

Weights are stored raw, exactly as in official pickles, and scaled at run time:
dense `weight [in, out]` by `lr_multiplier / sqrt(in)`, conv `weight [k, k, in, out]` (HWIO)
by `1 / sqrt(k*k*in)`; the bias by `lr_multiplier`.
"""

import numpy as np
import keras
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers.initialization import add_weight

REDUCED_PRECISION_CLAMP = 256.0  # StyleGAN2-ADA's conv_clamp, applied when computing below float32


def effective_clamp(conv_clamp, dtype):
    """The layer's `conv_clamp`, or `REDUCED_PRECISION_CLAMP` when unset and computing below float32."""
    if conv_clamp is None and dtype != tf.float32:
        return REDUCED_PRECISION_CLAMP
    return conv_clamp


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class DenseLayer(keras.layers.Layer):
    """`y = act(x @ (weight * c) + bias * lr_multiplier)`: `[N, in_features] -> [N, units]`.

    `c = lr_multiplier / sqrt(in_features)`, or just `lr_multiplier` with `use_wscale=False`
    (StyleGAN2's `LabelConcat` weight).
    """

    def __init__(self, in_features, units, bias=True, activation="linear", lr_multiplier=1.0,
                 bias_init=0.0, use_wscale=True, **kwargs):
        super().__init__(**kwargs)
        self.in_features = int(in_features)
        self.units = int(units)
        self.use_bias = bool(bias)
        self.activation = activation
        self.lr_multiplier = float(lr_multiplier)
        self.bias_init = float(bias_init)
        self.use_wscale = bool(use_wscale)
        self.weight_gain = float(self.lr_multiplier / (np.sqrt(self.in_features) if self.use_wscale else 1.0))

    def build(self, input_shape=None):
        self.weight = add_weight(
            self, name="weight", shape=(self.in_features, self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.lr_multiplier))
        if self.use_bias:
            self.bias = add_weight(self, name="bias", shape=(self.units,),
                                   initializer=keras.initializers.Constant(self.bias_init / self.lr_multiplier))
        self.built = True

    def call(self, x):
        x = tf.matmul(x, self.weight * self.weight_gain)
        b = self.bias * self.lr_multiplier if self.use_bias else None
        return ops.fused_bias_act(x, b, act=self.activation)

    def get_config(self):
        config = super().get_config()
        config.update(in_features=self.in_features, units=self.units, bias=self.use_bias, activation=self.activation,
                      lr_multiplier=self.lr_multiplier, bias_init=self.bias_init, use_wscale=self.use_wscale)
        return config


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class Conv2dLayer(keras.layers.Layer):
    """Equalized conv, optionally fused with a 2x FIR up- or downsampling.

    `[N, H, W, in_channels] -> [N, H*up/down, W*up/down, out_channels]` in x's dtype; SAME-size
    output when up = down = 1. `call(x, gain)` multiplies the activation gain (and clamp) by `gain`.
    Below float32 a layer with a bias is clamped at `REDUCED_PRECISION_CLAMP` when `conv_clamp`
    is unset (StyleGAN2-ADA gives `conv_clamp` to exactly those: the bias-free resnet skips never clamp).
    """

    def __init__(self, in_channels, out_channels, kernel_size, bias=True, activation="linear", up=1, down=1,
                 resample_filter=(1, 3, 3, 1), conv_clamp=None, **kwargs):
        kwargs.setdefault("autocast", False)  # keep x's dtype (the resnet skip of a reduced-precision block)
        super().__init__(**kwargs)
        if up not in (1, 2) or down not in (1, 2) or up * down > 2:
            raise ValueError("Conv2dLayer supports up=2 or down=2 only, got up=%s down=%s" % (up, down))
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = int(kernel_size)
        self.use_bias = bool(bias)
        self.activation = activation
        self.up = int(up)
        self.down = int(down)
        self.resample_filter = [float(v) for v in resample_filter]
        self.conv_clamp = conv_clamp
        self.weight_gain = float(1.0 / np.sqrt(self.in_channels * self.kernel_size ** 2))

    def build(self, input_shape=None):
        k = self.kernel_size
        self.weight = add_weight(self, name="weight", shape=(k, k, self.in_channels, self.out_channels),
                                 initializer=keras.initializers.RandomNormal(stddev=1.0))
        if self.use_bias:
            self.bias = add_weight(self, name="bias", shape=(self.out_channels,), initializer="zeros")
        self.built = True

    def call(self, x, gain=1.0):
        w = tf.cast(self.weight * self.weight_gain, x.dtype)
        if self.up > 1:
            x = ops.upsample_conv2d(x, w, k=self.resample_filter)
        elif self.down > 1:
            x = ops.conv_downsample2d(x, w, k=self.resample_filter)
        else:
            x = tf.nn.conv2d(x, w, strides=1, padding="SAME")
        _, _, act_gain = ops.resolve_activation(self.activation)
        conv_clamp = effective_clamp(self.conv_clamp, x.dtype) if self.use_bias else self.conv_clamp
        clamp = None if conv_clamp is None else conv_clamp * gain
        b = self.bias if self.use_bias else None
        return ops.fused_bias_act(x, b, act=self.activation, gain=act_gain * gain, clamp=clamp)

    def get_config(self):
        config = super().get_config()
        config.update(in_channels=self.in_channels, out_channels=self.out_channels, kernel_size=self.kernel_size,
                      bias=self.use_bias, activation=self.activation, up=self.up, down=self.down,
                      resample_filter=self.resample_filter, conv_clamp=self.conv_clamp)
        return config
