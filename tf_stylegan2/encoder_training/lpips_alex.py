"""LPIPS with an AlexNet trunk, as pSp's `criteria.lpips.LPIPS(net_type='alex')`, NHWC.

Images `[N, H, W, 3]` in [-1, 1] are z-scored with LPIPS's shift/scale, run through AlexNet's
`features` (conv11 s4 p2, relu, maxpool3 s2, conv5 p2, relu, maxpool3 s2, conv3 p1, relu, conv3
p1, relu, conv3 p1, relu); the five ReLU outputs are unit-normalised over channels
(`x / (sqrt(sum_c x^2) + 1e-10)`), their squared differences weighted by the 1x1 `lin` convs,
averaged over positions, summed over layers and the batch and divided by N.
"""

import keras
import tensorflow as tf

from tf_stylegan2.encoder_training.torch_state import assign_torch_weights, read_state_dict
from tf_stylegan2.encoders.layers import TORCH_CONV, TORCH_SAME, TorchConv2d, prefixed
from tf_stylegan2.official.unpickler import NetworkPickleError

# PyTorch index in AlexNet's `features` -> (kernel, stride, padding, max-pool before it)
CONVS = {"0": (11, 4, 2, False), "3": (5, 1, 2, True), "6": (3, 1, 1, True), "8": (3, 1, 1, False),
         "10": (3, 1, 1, False)}
NORM_EPS = 1e-10


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class AlexLPIPS(keras.Model):
    """`call(a, b)` -> scalar LPIPS distance (mean over the batch); `features(x)` -> the 5 normalised maps.

    Args:
      widths: the 5 conv widths (64, 192, 384, 256, 256 in AlexNet).
    """

    def __init__(self, widths=(64, 192, 384, 256, 256), **kwargs):
        super().__init__(**kwargs)
        self.widths = [int(w) for w in widths]

    def build(self, input_shape=None):
        self.convs, in_channels = [], 3
        for (index, (k, s, p, _)), width in zip(CONVS.items(), self.widths):
            self.convs.append(TorchConv2d(in_channels, width, k, s, p, name="conv%s" % index))
            in_channels = width
        self.lins = [TorchConv2d(w, 1, 1, bias=False, name="lin%d" % i) for i, w in enumerate(self.widths)]
        for layer in self.convs + self.lins:
            layer.build()
        self.shift = self.add_weight(name="shift", shape=(3,), initializer="zeros", trainable=False)
        self.scale = self.add_weight(name="scale", shape=(3,), initializer="ones", trainable=False)
        self.built = True

    def features(self, x):
        """`x [N, H, W, 3]` in [-1, 1] -> list of 5 `[N, h, w, width]` unit-normalised ReLU maps."""
        x = (x - self.shift) / self.scale
        out = []
        for conv, (_, _, _, pool) in zip(self.convs, CONVS.values()):
            if pool:
                x = tf.nn.max_pool2d(x, 3, 2, "VALID")
            x = tf.nn.relu(conv(x))
            out.append(x / (tf.sqrt(tf.reduce_sum(tf.square(x), axis=-1, keepdims=True)) + NORM_EPS))
        return out

    def per_sample(self, a, b):
        """`[N]`: each sample's distance (the layers' spatial means of the weighted squared differences, summed)."""
        return tf.add_n([tf.reduce_mean(lin(tf.square(fa - fb)), axis=[1, 2, 3])
                         for lin, fa, fb in zip(self.lins, self.features(a), self.features(b))])

    def call(self, a, b):
        return tf.reduce_mean(self.per_sample(a, b))

    def torch_weights(self):
        out = {"net.mean": (self.shift, TORCH_SAME), "net.std": (self.scale, TORCH_SAME)}
        for index, conv in zip(CONVS, self.convs):
            out.update(prefixed("net.layers." + index, conv.torch_weights()))
        for i, lin in enumerate(self.lins):
            out["lin.%d.1.weight" % i] = (lin.weight, TORCH_CONV)
        return out

    def get_config(self):
        config = super().get_config()
        config.update(widths=self.widths)
        return config


def alex_lpips_from_state_dict(tensors, what="LPIPS AlexNet"):
    """A built `AlexLPIPS` from pSp's `LPIPS(net_type='alex')` state dict (`net.mean`, `net.std`,
    `net.layers.{0,3,6,8,10}.*`, `lin.{0..4}.1.weight`); widths read from the weights, which may be
    a file path or the dict itself."""
    if not isinstance(tensors, dict):
        tensors = read_state_dict(tensors, what)
    widths = [tensors["net.layers.%s.weight" % i].shape[0] for i in CONVS if "net.layers.%s.weight" % i in tensors]
    if len(widths) != len(CONVS):
        raise NetworkPickleError("%s: not an LPIPS AlexNet state dict (net.layers.{0,3,6,8,10}.weight expected)" % what)
    model = AlexLPIPS(widths=widths)
    model.build()
    tensors = dict(tensors, **{k: tensors[k].reshape(-1) for k in ("net.mean", "net.std") if k in tensors})
    assign_torch_weights(model.torch_weights(), tensors, what)
    return model
