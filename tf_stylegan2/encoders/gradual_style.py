"""pSp's `GradualStyleEncoder`: an IR-SE-50 backbone, a two-level feature pyramid and one
`GradualStyleBlock` head per style, as a Keras model (NHWC).

Shapes for input size S (256 in pSp's models): taps `c1 = body[6]` `[N, S/4, S/4, d2]`,
`c2 = body[20]` `[N, S/8, S/8, d3]`, `c3 = body[23]` `[N, S/16, S/16, d4]`; pyramid
`p2 = up(c3) + latlayer1(c2)` `[N, S/8, S/8, F]`, `p1 = up(p2) + latlayer2(c1)` `[N, S/4, S/4, F]`
(`up`: bilinear with `align_corners=True`). Styles 0-2 read c3, 3-6 p2, 7.. p1; each head halves its
map down to 1x1 (so the input size follows from the head depths) and ends with an EqualLinear.

encoder4editing's `Encoder4Editing` has the same weights and heads; its code is head 0's output for
every style plus, for styles i >= 1, head i's output as a delta (`mode="e4e"`, e4e's inference stage).
"""

import keras
import tensorflow as tf

from tf_stylegan2.encoders.layers import (TORCH_LINEAR, TORCH_SAME, BottleneckIR, TorchBatchNorm, TorchConv2d,
                                          TorchPReLU, prefixed)
from tf_stylegan2.encoders.resampling import upsample_add
from tf_stylegan2.layers.equalized import DenseLayer

MODES = ("psp", "e4e")
UNITS_PER_STAGE = (3, 4, 14, 3)  # pSp's get_blocks(50); its forward taps body[6], body[20], body[23]
TAPS = (6, 20, 23)
COARSE, MIDDLE = 3, 7  # styles [0, 3) read c3, [3, 7) p2, [7, n_styles) p1


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class GradualStyleBlock(keras.layers.Layer):
    """pSp's `GradualStyleBlock(in_c, out_c, spatial)`: `num_convs = log2(spatial)` conv3x3 stride 2
    pad 1 (+ bias, LeakyReLU 0.01), then EqualLinear(out_c, out_c): `[N, spatial, spatial, in_c] -> [N, out_c]`."""

    def __init__(self, in_channels, out_channels, num_convs, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.out_channels, self.num_convs = int(in_channels), int(out_channels), int(num_convs)

    def build(self, input_shape=None):
        self.convs = [TorchConv2d(self.in_channels if i == 0 else self.out_channels, self.out_channels, 3, 2, 1,
                                  activation="lrelu", name="conv%d" % i) for i in range(self.num_convs)]
        self.linear = DenseLayer(self.out_channels, self.out_channels, name="linear")
        for layer in self.convs + [self.linear]:
            layer.build()
        self.built = True

    def call(self, x):
        for conv in self.convs:
            x = conv(x)
        return self.linear(tf.reshape(x, [-1, self.out_channels]))

    def torch_weights(self):
        out = {}
        for i, conv in enumerate(self.convs):  # PyTorch's Sequential interleaves the LeakyReLUs
            out.update(prefixed("convs.%d" % (2 * i), conv.torch_weights()))
        out["linear.weight"] = (self.linear.weight, TORCH_LINEAR)
        out["linear.bias"] = (self.linear.bias, TORCH_SAME)
        return out

    def get_config(self):
        config = super().get_config()
        config.update(in_channels=self.in_channels, out_channels=self.out_channels, num_convs=self.num_convs)
        return config


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class GradualStyleEncoder(keras.Model):
    """`call(x [N, S, S, input_nc] float in [-1, 1]) -> codes [N, n_styles, style_dim]` (before
    `latent_avg`). `features(x)` also returns the taps and pyramid maps.

    Args:
      input_width: channels of the input layer (64 in pSp).
      depths: the 4 stage depths (64, 128, 256, 512 in pSp); units per stage are IR-50's.
      fpn_width: pyramid channels (= depths[3]; 512 in pSp).
      style_dim: head width and code size (512).
      n_styles: heads (18 for a 1024 decoder).
      coarse_convs: convs of a coarse head (4 at the 256 input); middle heads have one more, fine two.
      input_nc: input channels (3: RGB).
      se: IR-SE units (pSp's 'ir_se'), else plain IR.
      mode: "psp" (head i gives style i) or "e4e" (head 0 for all styles, heads i >= 1 add deltas).
    Attributes: `input_size = 16 * 2**coarse_convs`.
    """

    def __init__(self, input_width, depths, fpn_width, style_dim, n_styles, coarse_convs, input_nc=3, se=True,
                 mode="psp", **kwargs):
        super().__init__(**kwargs)
        self.input_width, self.depths = int(input_width), [int(d) for d in depths]
        self.fpn_width, self.style_dim, self.n_styles = int(fpn_width), int(style_dim), int(n_styles)
        self.coarse_convs, self.input_nc, self.se = int(coarse_convs), int(input_nc), bool(se)
        if mode not in MODES:
            raise ValueError("mode must be one of %s, got %r" % (", ".join(MODES), mode))
        self.mode = mode
        if len(self.depths) != 4 or self.coarse_convs < 1 or self.n_styles < 1:
            raise ValueError("GradualStyleEncoder needs 4 stage depths, n_styles >= 1 and coarse_convs >= 1")
        self.input_size = 16 * 2 ** self.coarse_convs

    def build(self, input_shape=None):
        w = self.input_width
        self.input_conv = TorchConv2d(self.input_nc, w, 3, 1, 1, bias=False, name="input_conv")
        self.input_bn = TorchBatchNorm(w, name="input_bn")
        self.input_prelu = TorchPReLU(w, name="input_prelu")
        self.body = []
        in_channels = w
        for depth, units in zip(self.depths, UNITS_PER_STAGE):
            for u in range(units):
                self.body.append(BottleneckIR(in_channels, depth, 2 if u == 0 else 1, self.se,
                                              name="body%d" % len(self.body)))
                in_channels = depth
        self.latlayer1 = TorchConv2d(self.depths[2], self.fpn_width, 1, name="latlayer1")
        self.latlayer2 = TorchConv2d(self.depths[1], self.fpn_width, 1, name="latlayer2")
        self.styles = [GradualStyleBlock(self.fpn_width, self.style_dim,
                                         self.coarse_convs + (i >= COARSE) + (i >= MIDDLE), name="style%d" % i)
                       for i in range(self.n_styles)]
        for layer in [self.input_conv, self.input_bn, self.input_prelu, self.latlayer1, self.latlayer2] \
                + self.body + self.styles:
            layer.build()
        self.built = True

    def features(self, x):
        """`x [N, S, S, input_nc]` -> `{"c1", "c2", "c3", "p2", "p1", "heads", "codes"}` (see the module
        docstring; `heads [N, n_styles, style_dim]`: each head's output, = `codes` in mode "psp")."""
        x = self.input_prelu(self.input_bn(self.input_conv(x)))
        taps = {}
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in TAPS:
                taps["c%d" % (TAPS.index(i) + 1)] = x
        c1, c2, c3 = taps["c1"], taps["c2"], taps["c3"]
        p2 = upsample_add(c3, self.latlayer1(c2))
        p1 = upsample_add(p2, self.latlayer2(c1))
        sources = [c3] * COARSE + [p2] * (MIDDLE - COARSE) + [p1] * max(self.n_styles - MIDDLE, 0)
        heads = tf.stack([head(src) for head, src in zip(self.styles, sources)], axis=1)
        codes = heads if self.mode == "psp" else tf.concat([heads[:, :1], heads[:, 1:] + heads[:, :1]], axis=1)
        return dict(taps, p2=p2, p1=p1, heads=heads, codes=codes)

    def call(self, x):
        return self.features(x)["codes"]

    def torch_weights(self):
        """`{PyTorch state-dict name (without 'encoder.'): (variable, layout)}`."""
        out = {**prefixed("input_layer.0", self.input_conv.torch_weights()),
               **prefixed("input_layer.1", self.input_bn.torch_weights()),
               **prefixed("input_layer.2", self.input_prelu.torch_weights()),
               **prefixed("latlayer1", self.latlayer1.torch_weights()),
               **prefixed("latlayer2", self.latlayer2.torch_weights())}
        for i, unit in enumerate(self.body):
            out.update(prefixed("body.%d" % i, unit.torch_weights()))
        for i, head in enumerate(self.styles):
            out.update(prefixed("styles.%d" % i, head.torch_weights()))
        return out

    def get_config(self):
        config = super().get_config()
        config.update(input_width=self.input_width, depths=self.depths, fpn_width=self.fpn_width,
                      style_dim=self.style_dim, n_styles=self.n_styles, coarse_convs=self.coarse_convs,
                      input_nc=self.input_nc, se=self.se, mode=self.mode)
        return config
