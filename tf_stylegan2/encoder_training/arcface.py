"""pSp's ArcFace `Backbone(112, 50, 'ir_se')` (InsightFace IR-SE-50), NHWC, in eval mode, for the
ID loss: `[N, 112, 112, 3]` in [-1, 1] -> L2-normalised identity features `[N, embedding]`.

input_layer (conv3x3 bias-free, BN, PReLU) -> the IR-50 body (units 3, 4, 14, 3, each stage's
first unit with stride 2: 112 -> 7) -> output_layer: BN, Dropout (identity in eval), Flatten in
PyTorch's NCHW order, Linear(C * 7 * 7, E), BatchNorm1d(E) -> `x / ||x||`.
"""

import keras
import tensorflow as tf

from tf_stylegan2.encoder_training.torch_state import assign_torch_weights, read_state_dict
from tf_stylegan2.encoders.gradual_style import UNITS_PER_STAGE
from tf_stylegan2.encoders.layers import (TORCH_LINEAR, TORCH_SAME, BottleneckIR, TorchBatchNorm, TorchConv2d,
                                          TorchPReLU, prefixed)
from tf_stylegan2.official.unpickler import NetworkPickleError

INPUT_SIZE = 112
OUTPUT_GRID = 7  # 112 / 2**4


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class ArcFace(keras.Model):
    """Args: input_width (64), depths (the 4 stage depths: 64, 128, 256, 512), embedding (512)."""

    def __init__(self, input_width=64, depths=(64, 128, 256, 512), embedding=512, **kwargs):
        super().__init__(**kwargs)
        self.input_width, self.depths, self.embedding = int(input_width), [int(d) for d in depths], int(embedding)

    def build(self, input_shape=None):
        w, last = self.input_width, self.depths[-1]
        self.input_conv = TorchConv2d(3, w, 3, 1, 1, bias=False, name="input_conv")
        self.input_bn = TorchBatchNorm(w, name="input_bn")
        self.input_prelu = TorchPReLU(w, name="input_prelu")
        self.body, in_channels = [], w
        for depth, units in zip(self.depths, UNITS_PER_STAGE):
            for u in range(units):
                self.body.append(BottleneckIR(in_channels, depth, 2 if u == 0 else 1, name="body%d" % len(self.body)))
                in_channels = depth
        self.output_bn = TorchBatchNorm(last, name="output_bn")
        self.output_bn1d = TorchBatchNorm(self.embedding, name="output_bn1d")
        for layer in [self.input_conv, self.input_bn, self.input_prelu, self.output_bn, self.output_bn1d] + self.body:
            layer.build()
        self.linear_weight = self.add_weight(name="linear_weight", shape=(last * OUTPUT_GRID ** 2, self.embedding),
                                             initializer="glorot_uniform", trainable=False)
        self.linear_bias = self.add_weight(name="linear_bias", shape=(self.embedding,), initializer="zeros",
                                           trainable=False)
        self.built = True

    def call(self, x):
        """`x [N, 112, 112, 3]` in [-1, 1] -> `[N, embedding]` unit vectors (always eval mode)."""
        x = self.input_prelu(self.input_bn(self.input_conv(x, training=False), training=False))
        for unit in self.body:
            x = unit(x, training=False)
        x = self.output_bn(x, training=False)
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, self.depths[-1] * OUTPUT_GRID ** 2])  # NCHW flatten
        x = self.output_bn1d(tf.matmul(x, self.linear_weight) + self.linear_bias, training=False)
        return x / tf.norm(x, axis=1, keepdims=True)

    def torch_weights(self):
        out = {**prefixed("input_layer.0", self.input_conv.torch_weights()),
               **prefixed("input_layer.1", self.input_bn.torch_weights()),
               **prefixed("input_layer.2", self.input_prelu.torch_weights()),
               **prefixed("output_layer.0", self.output_bn.torch_weights()),
               **prefixed("output_layer.4", self.output_bn1d.torch_weights()),
               "output_layer.3.weight": (self.linear_weight, TORCH_LINEAR),
               "output_layer.3.bias": (self.linear_bias, TORCH_SAME)}
        for i, unit in enumerate(self.body):
            out.update(prefixed("body.%d" % i, unit.torch_weights()))
        return out

    def get_config(self):
        config = super().get_config()
        config.update(input_width=self.input_width, depths=self.depths, embedding=self.embedding)
        return config


def arcface_from_state_dict(tensors, what="ArcFace"):
    """A built, frozen `ArcFace` from a `model_ir_se50.pth`-style state dict (a path or the dict);
    widths read from the weights."""
    if not isinstance(tensors, dict):
        tensors = read_state_dict(tensors, what)
    starts = [sum(UNITS_PER_STAGE[:i]) for i in range(len(UNITS_PER_STAGE))]
    try:
        config = dict(input_width=tensors["input_layer.0.weight"].shape[0],
                      depths=[tensors["body.%d.res_layer.1.weight" % u].shape[0] for u in starts],
                      embedding=tensors["output_layer.3.weight"].shape[0])
    except KeyError as e:
        raise NetworkPickleError("%s: not an IR-SE-50 ArcFace state dict (no %s)" % (what, e)) from None
    model = ArcFace(**config)
    model.build()
    assign_torch_weights(model.torch_weights(), tensors, what)
    model.trainable = False
    return model
