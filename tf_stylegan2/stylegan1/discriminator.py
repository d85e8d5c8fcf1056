"""StyleGAN (v1) discriminator (NVIDIA's `D_basic` at level of detail 0)."""

import keras
import tensorflow as tf

from tf_stylegan2.layers import DenseLayer, MinibatchStddev
from tf_stylegan2.networks import common
from tf_stylegan2.stylegan1.layers import ConvV1, DenseV1, official_scope
from tf_stylegan2.stylegan1.synthesis import v1_channels_rule


@keras.saving.register_keras_serializable(package="tf_stylegan2.stylegan1")
class StyleGAN1Discriminator(keras.Model):
    """`call(img [N, R, R, img_channels] in [-1, 1], c [N, c_dim] or None) -> score [N, 1]` float32.

    `FromRGB_lod0` (1x1 conv), per resolution `2^r` from R down to 8 `Conv0` (3x3) and
    `Conv1_down` (blur, 3x3 conv, 2x2 average); at 4x4 minibatch stddev (groups of
    `min(mbstd_group_size, N)`, off for a group size <= 1), `Conv`, `Dense0` (fed by the NCHW
    flatten of `[N, C, 4, 4]`, its weight stored here in (h, w, c) row order) and `Dense1`
    (gain 1) with `max(c_dim, 1)` outputs; a label selects its score: `sum(out * c, axis=1)`.
    All layers but Dense1 use v1's sqrt(2) weight gain and a leaky ReLU without gain. The other
    levels' FromRGB layers (progressive growing) are kept, unused, for the pickle.
    """

    def __init__(self, c_dim=0, img_resolution=1024, img_channels=3, fmap_base=8192, fmap_decay=1.0, fmap_max=512,
                 mbstd_group_size=4, mbstd_num_features=1, blur_filter=(1, 2, 1), **kwargs):
        super().__init__(**kwargs)
        self.c_dim, self.img_resolution, self.img_channels = int(c_dim), int(img_resolution), int(img_channels)
        self.fmap_base, self.fmap_decay, self.fmap_max = fmap_base, fmap_decay, fmap_max
        self.mbstd_group_size, self.mbstd_num_features = int(mbstd_group_size), int(mbstd_num_features)
        self.blur_filter = None if blur_filter is None else [float(v) for v in blur_filter]
        self.log2_res = common.resolution_log2(self.img_resolution)
        nf = v1_channels_rule(fmap_base, fmap_decay, fmap_max, range(0, self.log2_res))
        self.fromrgb = []  # level of detail l reads the image at resolution R / 2^l; only lod 0 is used
        self.down_blocks = []  # [Conv0, Conv1_down] for resolutions R .. 8
        for r in range(self.log2_res, 1, -1):
            s = "%dx%d" % (2 ** r, 2 ** r)
            self.fromrgb.append(ConvV1(self.img_channels, nf(r - 1), 1, name="FromRGB_lod%d" % (self.log2_res - r)))
            self.fromrgb[-1].trainable = r == self.log2_res
            if r > 2:
                self.down_blocks.append([ConvV1(nf(r - 1), nf(r - 1), 3, name=s + "_Conv0"),
                                         ConvV1(nf(r - 1), nf(r - 2), 3, down=True, blur_filter=self.blur_filter,
                                                name=s + "_Conv1_down")])
        self.mbstd = None
        extra = 0
        if self.mbstd_group_size > 1:
            self.mbstd = MinibatchStddev(self.mbstd_group_size, self.mbstd_num_features)
            extra = self.mbstd_num_features
        self.conv = ConvV1(nf(1) + extra, nf(1), 3, name="4x4_Conv")
        self.dense0 = DenseV1(nf(1) * 16, nf(0), activation="lrelu", name="4x4_Dense0")
        self.dense1 = DenseLayer(nf(0), max(self.c_dim, 1), name="4x4_Dense1")
        self.build()

    def _ordered_layers(self):
        """All layers in NVIDIA's creation order: each level's FromRGB, then the block it feeds, then 4x4."""
        out = []
        for i, fromrgb in enumerate(self.fromrgb):
            out += [fromrgb] + (self.down_blocks[i] if i < len(self.down_blocks) else [])
        return out + [self.conv, self.dense0, self.dense1]

    def build(self, input_shape=None):
        for layer in self._ordered_layers():
            layer.build()
        self.built = True

    def call(self, img, c=None, precision="fp32"):
        common.check_precision(precision)
        if precision != "fp32":
            raise ValueError("StyleGAN (v1) networks compute in float32 only, got precision %r" % precision)
        if self.c_dim > 0 and c is None:
            raise ValueError("this discriminator is conditional: pass c [N, %d]" % self.c_dim)
        x = self.fromrgb[0](tf.cast(img, tf.float32))
        for conv0, conv1_down in self.down_blocks:
            x = conv1_down(conv0(x))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        out = self.dense1(self.dense0(tf.reshape(x, [-1, 16 * x.shape[-1]])))
        if self.c_dim == 0:
            return out
        return tf.reduce_sum(out * tf.cast(c, tf.float32), axis=1, keepdims=True)

    def official_weights(self):
        """`{official name: (variable, layout)}` in NVIDIA's creation order."""
        out = {}
        for layer in self._ordered_layers():
            layouts = {"weight": common.LAYOUT_NCHW_FLATTEN} if layer is self.dense0 else None
            out.update(common.scoped_weights(layer, official_scope(layer.name), layouts))
        return out

    def get_config(self):
        return dict(c_dim=self.c_dim, img_resolution=self.img_resolution, img_channels=self.img_channels,
                    fmap_base=self.fmap_base, fmap_decay=self.fmap_decay, fmap_max=self.fmap_max,
                    mbstd_group_size=self.mbstd_group_size, mbstd_num_features=self.mbstd_num_features,
                    blur_filter=self.blur_filter, name=self.name)
