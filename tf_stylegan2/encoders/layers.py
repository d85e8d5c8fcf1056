"""The plain (non-equalized) layers of pSp's IR-SE encoder, NHWC, with PyTorch's exact semantics.

Each layer maps its PyTorch parameter names to its variables with `torch_weights()`:
`{name: (variable, layout)}`, `layout` saying how the PyTorch array becomes ours
(`TORCH_CONV`: OIHW -> HWIO, `TORCH_LINEAR`: [out, in] -> [in, out], `TORCH_SAME`: as is).
"""

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2.layers.initialization import add_weight

TORCH_SAME = "same"
TORCH_CONV = "oihw"
TORCH_LINEAR = "out_in"
BATCH_NORM_EPS = 1e-5  # PyTorch's BatchNorm2d default (Keras defaults to 1e-3)


def from_torch(value, layout):
    """A PyTorch parameter array -> our layout (a view where possible)."""
    value = np.asarray(value)
    if layout == TORCH_CONV:
        return value.transpose(2, 3, 1, 0)
    if layout == TORCH_LINEAR:
        return value.T
    return value


def prefixed(prefix, weights):
    """`{prefix + "." + name: entry}` for a sub-layer's `torch_weights()`."""
    return {"%s.%s" % (prefix, name): entry for name, entry in weights.items()}


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class TorchConv2d(keras.layers.Layer):
    """PyTorch's `Conv2d(in, out, k, stride, padding)`: `[N, H, W, in] -> [N, H', W', out]`.

    The padding is explicit and symmetric (PyTorch pads top/left and bottom/right alike; TF's
    'SAME' would pad only bottom/right for a stride-2 conv on an even size). `activation`:
    None, or "lrelu" (`nn.LeakyReLU()`, slope 0.01, no gain).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, activation=None,
                 **kwargs):
        super().__init__(**kwargs)
        if activation not in (None, "lrelu"):
            raise ValueError("activation must be None or 'lrelu', got %r" % (activation,))
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding = int(kernel_size), int(stride), int(padding)
        self.use_bias, self.activation = bool(bias), activation

    def build(self, input_shape=None):
        k = self.kernel_size
        self.weight = add_weight(self, "weight", (k, k, self.in_channels, self.out_channels),
                                 keras.initializers.HeNormal())
        if self.use_bias:
            self.bias = add_weight(self, "bias", (self.out_channels,), "zeros")
        self.built = True

    def call(self, x):
        p = self.padding
        x = tf.nn.conv2d(x, self.weight, strides=self.stride, padding=[[0, 0], [p, p], [p, p], [0, 0]])
        if self.use_bias:
            x = tf.nn.bias_add(x, self.bias)
        if self.activation == "lrelu":
            x = tf.nn.leaky_relu(x, alpha=0.01)
        return x

    def torch_weights(self):
        out = {"weight": (self.weight, TORCH_CONV)}
        if self.use_bias:
            out["bias"] = (self.bias, TORCH_SAME)
        return out

    def get_config(self):
        config = super().get_config()
        config.update(in_channels=self.in_channels, out_channels=self.out_channels, kernel_size=self.kernel_size,
                      stride=self.stride, padding=self.padding, bias=self.use_bias, activation=self.activation)
        return config


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class TorchBatchNorm(keras.layers.Layer):
    """PyTorch's `BatchNorm2d(channels)` (or `BatchNorm1d` on `[N, C]`), per channel (the last axis).

    Eval mode (default): `(x - running_mean) / sqrt(running_var + 1e-5) * weight + bias`.
    `training=True` (PyTorch's train mode): normalises by the batch's mean and biased variance over
    all other axes and updates the non-trainable running statistics with momentum 0.1, the
    variance unbiased (`* n / (n - 1)`), as PyTorch does.
    """

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def build(self, input_shape=None):
        c = (self.channels,)
        self.weight = add_weight(self, "weight", c, "ones")
        self.bias = add_weight(self, "bias", c, "zeros")
        self.running_mean = add_weight(self, "running_mean", c, "zeros", trainable=False)
        self.running_var = add_weight(self, "running_var", c, "ones", trainable=False)
        self.built = True

    def call(self, x, training=None):
        if training:
            axes = list(range(len(x.shape) - 1))
            mean, var = tf.nn.moments(x, axes)
            n = tf.cast(tf.size(x) // self.channels, x.dtype)
            self.running_mean.assign(0.9 * self.running_mean + 0.1 * mean)
            self.running_var.assign(0.9 * self.running_var + 0.1 * var * n / (n - 1.0))
        else:
            mean, var = self.running_mean, self.running_var
        scale = self.weight * tf.math.rsqrt(var + BATCH_NORM_EPS)
        return x * scale + (self.bias - mean * scale)

    def torch_weights(self):
        return {name: (getattr(self, name), TORCH_SAME) for name in ("weight", "bias", "running_mean", "running_var")}

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels)
        return config


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class TorchPReLU(keras.layers.Layer):
    """PyTorch's `PReLU(channels)`: `max(x, 0) + weight * min(x, 0)`, one slope per channel."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def build(self, input_shape=None):
        self.weight = add_weight(self, "weight", (self.channels,), keras.initializers.Constant(0.25))
        self.built = True

    def call(self, x):
        return tf.nn.relu(x) - self.weight * tf.nn.relu(-x)

    def torch_weights(self):
        return {"weight": (self.weight, TORCH_SAME)}

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels)
        return config


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class SqueezeExcite(keras.layers.Layer):
    """pSp's `SEModule(channels, 16)`: `x * sigmoid(fc2(relu(fc1(mean_hw(x)))))`, the fcs bias-free
    1x1 convs (`fc1.weight [channels // 16, channels, 1, 1]`)."""

    def __init__(self, channels, reduction=16, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.reduction = int(channels), int(reduction)

    def build(self, input_shape=None):
        c, r = self.channels, self.channels // self.reduction
        self.fc1 = TorchConv2d(c, r, 1, bias=False, name="fc1")
        self.fc2 = TorchConv2d(r, c, 1, bias=False, name="fc2")
        self.fc1.build()
        self.fc2.build()
        self.built = True

    def call(self, x):
        s = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        return x * tf.sigmoid(self.fc2(tf.nn.relu(self.fc1(s))))

    def torch_weights(self):
        return {**prefixed("fc1", self.fc1.torch_weights()), **prefixed("fc2", self.fc2.torch_weights())}

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, reduction=self.reduction)
        return config


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class BottleneckIR(keras.layers.Layer):
    """pSp's `bottleneck_IR_SE(in_channel, depth, stride)` (or `bottleneck_IR` with `se=False`):
    `[N, H, W, in] -> [N, H/stride, W/stride, depth]`.

    `res_layer`: BN(in), conv3x3 s1 (in -> depth), PReLU(depth), conv3x3 with the stride (depth ->
    depth), BN(depth), SE. Shortcut: `x[:, ::stride, ::stride]` (`MaxPool2d(1, stride)`) when
    `in == depth`, else conv1x1 with the stride + BN.
    """

    def __init__(self, in_channels, depth, stride, se=True, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.depth, self.stride, self.se = int(in_channels), int(depth), int(stride), bool(se)

    def build(self, input_shape=None):
        i, d = self.in_channels, self.depth
        # indices of PyTorch's Sequential `res_layer`
        self.res = {"0": TorchBatchNorm(i, name="res_bn0"),
                    "1": TorchConv2d(i, d, 3, 1, 1, bias=False, name="res_conv1"),
                    "2": TorchPReLU(d, name="res_prelu2"),
                    "3": TorchConv2d(d, d, 3, self.stride, 1, bias=False, name="res_conv3"),
                    "4": TorchBatchNorm(d, name="res_bn4")}
        if self.se:
            self.res["5"] = SqueezeExcite(d, name="res_se5")
        self.shortcut = {}
        if i != d:
            self.shortcut = {"0": TorchConv2d(i, d, 1, self.stride, 0, bias=False, name="shortcut_conv0"),
                             "1": TorchBatchNorm(d, name="shortcut_bn1")}
        for layer in list(self.res.values()) + list(self.shortcut.values()):
            layer.build()
        self.built = True

    def call(self, x):
        shortcut = x[:, ::self.stride, ::self.stride, :] if not self.shortcut else \
            self.shortcut["1"](self.shortcut["0"](x))
        for key in sorted(self.res):
            x = self.res[key](x)
        return x + shortcut

    def torch_weights(self):
        out = {}
        for key, layer in self.res.items():
            out.update(prefixed("res_layer." + key, layer.torch_weights()))
        for key, layer in self.shortcut.items():
            out.update(prefixed("shortcut_layer." + key, layer.torch_weights()))
        return out

    def get_config(self):
        config = super().get_config()
        config.update(in_channels=self.in_channels, depth=self.depth, stride=self.stride, se=self.se)
        return config
