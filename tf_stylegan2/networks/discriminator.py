"""Discriminator, architectures 'orig', 'skip' and 'resnet' (TF1 `D_stylegan2`, spec §3)."""

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers import Conv2dLayer, DenseLayer, MinibatchStddev
from tf_stylegan2.networks import common, recompute
from tf_stylegan2.networks.mapping import normalize_2nd_moment
from tf_stylegan2.networks.synthesis import ARCHITECTURES

LABEL_MODES = ("onehot", "projection")


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class Discriminator(keras.Model):
    """`call(img [N, R, R, img_channels] in [-1, 1], c [N, c_dim] or None, precision="fp32")
    -> score [N, 1]` (float32 raw logits).

    `precision` "fp16"/"bf16" computes the blocks of the 4 highest resolutions (8x8 and above:
    `common.block_dtype`, the rule of the synthesis network) in that dtype, as StyleGAN2-ADA's
    `num_fp16_res`; their biased convolutions are clamped at ±256 when `conv_clamp` is unset.
    The 4x4 epilogue (minibatch stddev, conv, dense layers) and the labels stay float32.

    Labels: `label_mode="onehot"` (StyleGAN2, `D_stylegan2`): `c_dim` outputs, score
    `sum(out * c, axis=1)`. `"projection"` (StyleGAN2-ADA, `D_main`): the label is embedded
    (`LabelEmbed`, normalised) and mapped (`mapping_layers` x `Mapping{i}`, lr multiplier
    `mapping_lr_multiplier`) to `cmap [N, cmap_dim]`; score `sum(out * cmap, axis=1) / sqrt(cmap_dim)`.
    Minibatch stddev groups `min(mbstd_group_size, N)` samples (None: the whole minibatch; N must
    be divisible by the group size); it is off for a group size of 1 or `mbstd_num_features=0`.

    The attribute `recompute` lists the block resolutions (R, R/2, ..., 8) whose forward pass is
    run again in the backward pass instead of keeping its activations (`networks.recompute`; empty
    by default): the same gradients, first and second order, for less memory.

    Channels: the official rule from the `fmap_*` arguments, or `channels`, the count of every
    resolution 4, 8, ..., R (Dense0 takes the 4x4 count; official pickles cannot hold such a network).
    """

    def __init__(self, c_dim=0, img_resolution=1024, img_channels=3, architecture="resnet", fmap_base=16384,
                 fmap_decay=1.0, fmap_min=1, fmap_max=512, mbstd_group_size=4, mbstd_num_features=1,
                 activation="lrelu", resample_filter=(1, 3, 3, 1), conv_clamp=None, label_mode="onehot",
                 cmap_dim=None, mapping_layers=0, mapping_lr_multiplier=0.1, channels=None, **kwargs):
        super().__init__(**kwargs)
        if architecture not in ARCHITECTURES:
            raise ValueError("architecture must be one of %s, got %r" % (ARCHITECTURES, architecture))
        if label_mode not in LABEL_MODES:
            raise ValueError("label_mode must be one of %s, got %r" % (LABEL_MODES, label_mode))
        self.c_dim, self.img_resolution, self.img_channels = int(c_dim), int(img_resolution), int(img_channels)
        self.architecture = architecture
        self.fmap_base, self.fmap_decay, self.fmap_min, self.fmap_max = fmap_base, fmap_decay, fmap_min, fmap_max
        self.mbstd_group_size = None if mbstd_group_size is None else int(mbstd_group_size)
        self.mbstd_num_features = int(mbstd_num_features)
        self.label_mode, self.mapping_layers = label_mode, int(mapping_layers)
        self.mapping_lr_multiplier = float(mapping_lr_multiplier)
        self.activation, self.conv_clamp = activation, conv_clamp
        self.resample_filter = [float(v) for v in resample_filter]
        self.log2_res = common.resolution_log2(self.img_resolution)
        self.channels = None if channels is None else [int(c) for c in channels]
        nf = (common.channels_rule(fmap_base, fmap_decay, fmap_min, fmap_max) if channels is None
              else common.channel_table(channels, self.log2_res))
        self.cmap_dim = int(cmap_dim or nf(0)) if label_mode == "projection" else None

        conv_kwargs = dict(activation=activation, resample_filter=self.resample_filter, conv_clamp=conv_clamp)
        blocks = []
        for r in range(self.log2_res, 2, -1):
            s = "%dx%d" % (2 ** r, 2 ** r)
            block = dict(res=r,
                         conv0=Conv2dLayer(nf(r - 1), nf(r - 1), 3, name=s + "_Conv0", **conv_kwargs),
                         conv1=Conv2dLayer(nf(r - 1), nf(r - 2), 3, down=2, name=s + "_Conv1_down", **conv_kwargs))
            if architecture == "skip" or r == self.log2_res:
                block["fromrgb"] = Conv2dLayer(self.img_channels, nf(r - 1), 1, name=s + "_FromRGB", **conv_kwargs)
            if architecture == "resnet":
                block["skip"] = Conv2dLayer(nf(r - 1), nf(r - 2), 1, bias=False, down=2,
                                            resample_filter=self.resample_filter, name=s + "_Skip")
            blocks.append(block)
        self.blocks = blocks  # assigned complete: Keras tracks the layers of dicts present at assignment
        self.fromrgb4 = (Conv2dLayer(self.img_channels, nf(1), 1, name="4x4_FromRGB", **conv_kwargs)
                         if architecture == "skip" else None)
        use_mbstd = self.mbstd_num_features > 0 and (self.mbstd_group_size is None or self.mbstd_group_size > 1)
        self.mbstd = (MinibatchStddev(self.mbstd_group_size, self.mbstd_num_features, name="4x4_MinibatchStddev")
                      if use_mbstd else None)
        extra = self.mbstd_num_features if self.mbstd else 0
        self.conv4 = Conv2dLayer(nf(1) + extra, nf(1), 3, name="4x4_Conv", **conv_kwargs)
        self.dense0 = DenseLayer(nf(1) * 16, nf(0), activation=activation, name="4x4_Dense0")
        self.label_layers = []
        if self.c_dim > 0 and label_mode == "projection":
            self.label_layers = [DenseLayer(self.c_dim, self.cmap_dim, name="LabelEmbed")] + [
                DenseLayer(self.cmap_dim, self.cmap_dim, activation=activation, lr_multiplier=self.mapping_lr_multiplier,
                           name="Mapping%d" % i) for i in range(self.mapping_layers)]
        self.out = DenseLayer(nf(0), self.cmap_dim if self.label_layers else max(self.c_dim, 1), name="Output")
        self.recompute = ()
        self.build()

    def _layers_by_scope(self):
        layers = []
        for block in self.blocks:
            layers += [block[k] for k in ("fromrgb", "conv0", "conv1", "skip") if k in block]
        layers += [l for l in (self.fromrgb4, self.conv4, self.dense0, self.out) if l is not None]
        return layers + self.label_layers

    def build(self, input_shape=None):
        for layer in self._layers_by_scope():
            layer.build()
        self.built = True

    def call(self, img, c=None, precision="fp32"):
        x = self.features(img, precision)
        if self.c_dim == 0:
            return x
        if c is None:
            raise ValueError("this discriminator is conditional: pass c [N, %d]" % self.c_dim)
        if not self.label_layers:
            return tf.reduce_sum(x * tf.cast(c, x.dtype), axis=1, keepdims=True)
        return tf.reduce_sum(x * self.cmap(c), axis=1, keepdims=True) * (1.0 / np.sqrt(self.cmap_dim))

    def features(self, img, precision="fp32"):
        """The `Output` layer's values before any label is applied: `[N, R, R, C] -> [N, outputs]`
        float32 (1 unconditional, `c_dim` for "onehot", `cmap_dim` for "projection")."""
        common.check_precision(precision)
        y = tf.cast(img, tf.float32)
        x = None
        for block in self.blocks:
            uses_y = "fromrgb" in block or self.architecture == "skip"
            # Whole blocks, one level: measured at config-f 256 batch 4, R1's peak with per-layer and
            # nested recomputation (5.61 GB) was above that of per-block (3.84 GB) and of none (4.47 GB).
            args = (block, precision, x, y if uses_y else None)
            x, y_down = (recompute.call(self._block, *args, nested=False) if 2 ** block["res"] in self.recompute
                         else self._block(*args))
            y = y if y_down is None else y_down
        x, y = (None if x is None else tf.cast(x, tf.float32)), tf.cast(y, tf.float32)
        if self.fromrgb4 is not None:
            x = x + self.fromrgb4(y)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv4(x)
        x = self.dense0(tf.reshape(x, [tf.shape(x)[0], -1]))
        return self.out(x)

    def _block(self, block, precision, x, y):
        """One block: features `x` (None before the first FromRGB) and the image `y` (None when the
        block does not read it) -> the features at half the resolution and, for the "skip"
        architecture, the image downsampled (else None)."""
        dtype = common.block_dtype(block["res"], self.log2_res, precision)
        x = None if x is None else tf.cast(x, dtype)
        if "fromrgb" in block:
            t = block["fromrgb"](tf.cast(y, dtype))
            x = t if x is None else x + t
        if "skip" in block:
            t = block["skip"](x, gain=float(np.sqrt(0.5)))
            x = block["conv1"](block["conv0"](x), gain=float(np.sqrt(0.5))) + t
        else:
            x = block["conv1"](block["conv0"](x))
        return x, (ops.downsample2d(tf.cast(y, dtype), self.resample_filter) if self.architecture == "skip" else None)

    def cmap(self, c):
        """"projection" mode: labels `[N, c_dim]` -> `[N, cmap_dim]` (embedding, normalised, then mapping)."""
        cmap = normalize_2nd_moment(self.label_layers[0](tf.cast(c, tf.float32)))
        for layer in self.label_layers[1:]:
            cmap = layer(cmap)
        return cmap

    def official_weights(self):
        """`{official name: (variable, layout)}`; Dense0's rows are reordered from the NCHW flatten."""
        out = {}
        for layer in self._layers_by_scope():
            layouts = {"weight": common.LAYOUT_NCHW_FLATTEN} if layer is self.dense0 else None
            out.update(common.scoped_weights(layer, layer.name.replace("_", "/", 1), layouts))
        return out

    def get_config(self):
        config = dict(c_dim=self.c_dim, img_resolution=self.img_resolution, img_channels=self.img_channels,
                      architecture=self.architecture, fmap_base=self.fmap_base, fmap_decay=self.fmap_decay,
                      fmap_min=self.fmap_min, fmap_max=self.fmap_max, mbstd_group_size=self.mbstd_group_size,
                      mbstd_num_features=self.mbstd_num_features, activation=self.activation,
                      resample_filter=self.resample_filter, conv_clamp=self.conv_clamp, label_mode=self.label_mode,
                      cmap_dim=self.cmap_dim, mapping_layers=self.mapping_layers,
                      mapping_lr_multiplier=self.mapping_lr_multiplier, name=self.name)
        if self.channels is not None:
            config["channels"] = self.channels
        return config
