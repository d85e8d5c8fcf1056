"""StyleGAN (v1) synthesis network w -> image (NVIDIA's `G_synthesis` at level of detail 0)."""

import keras
import tensorflow as tf

from tf_stylegan2.layers import Conv2dLayer
from tf_stylegan2.networks import common
from tf_stylegan2.networks.synthesis import (NOISE_MODES, CompiledCalls, SynthesisNetwork, add_noise_buffers,
                                             as_float_tensors, resolve_execution)
from tf_stylegan2.stylegan1.layers import StyledLayerV1, fused_scale_at, official_scope


def v1_channels_rule(fmap_base, fmap_decay, fmap_max, stages):
    """v1's `nf(stage) = min(int(fmap_base / 2**(stage*fmap_decay)), fmap_max)` (no lower bound);
    ValueError if a layer of `stages` would have no channels."""
    nf = common.channels_rule(fmap_base, fmap_decay, 1, fmap_max)
    empty = [s for s in stages if int(fmap_base / (2.0 ** (s * fmap_decay))) < 1]
    if empty:
        raise ValueError("fmap_base=%r, fmap_decay=%r give layers without channels" % (fmap_base, fmap_decay))
    return nf


@keras.saving.register_keras_serializable(package="tf_stylegan2.stylegan1")
class StyleGAN1Synthesis(keras.Model):
    """`call(ws [N, num_ws, w_dim], noise_mode="const", noise=None, precision="fp32")
    -> img [N, R, R, img_channels]` (float32 NHWC, about [-1, 1], unclipped).

    Layers in w order: `4x4/Const` (learned constant + epilogue) reads `ws[:, 0]`, `4x4/Conv`
    `ws[:, 1]`, then per resolution `2^r` `Conv0_up` `ws[:, 2r-4]` and `Conv1` `ws[:, 2r-3]`, so
    `num_ws = 2*log2(R) - 2`; the image is the final level's `ToRGB_lod0` (1x1 conv, gain 1).
    The other levels' ToRGB layers (progressive growing) are kept, unused, for the pickle.
    Every layer adds noise (`num_noise = num_ws`, layer `i` at `noise_resolution(i)`): `noise[i]`
    when given (`[N or 1, H, W(, 1)]`), else the stored buffer `noise{i}` ("const"), fresh N(0, 1)
    ("random"), or none ("none"). `blocks` lists the styled layers as `conv0`/`conv1` per
    resolution (the constant and 4x4 conv at 4x4), which is what SeFa reads.
    Computes in float32 only. `execution` as `SynthesisNetwork`.
    """

    def __init__(self, w_dim=512, img_resolution=1024, img_channels=3, fmap_base=8192, fmap_decay=1.0, fmap_max=512,
                 blur_filter=(1, 2, 1), fused_scale="auto", **kwargs):
        super().__init__(**kwargs)
        self.w_dim, self.img_resolution, self.img_channels = int(w_dim), int(img_resolution), int(img_channels)
        self.fmap_base, self.fmap_decay, self.fmap_max = fmap_base, fmap_decay, fmap_max
        self.blur_filter = None if blur_filter is None else [float(v) for v in blur_filter]
        self.log2_res = common.resolution_log2(self.img_resolution)
        fused_scale_at(fused_scale, self.img_resolution)
        self.fused_scale = fused_scale
        self.num_ws = self.num_noise = 2 * self.log2_res - 2
        nf = v1_channels_rule(fmap_base, fmap_decay, fmap_max, range(1, self.log2_res))
        kw = dict(w_dim=self.w_dim)
        blocks = [dict(res=2, conv0=StyledLayerV1(nf(1), nf(1), kind="const", name="4x4_Const", **kw),
                       conv1=StyledLayerV1(nf(1), nf(1), kind="conv", name="4x4_Conv", **kw))]
        for r in range(3, self.log2_res + 1):
            s = "%dx%d" % (2 ** r, 2 ** r)
            blocks.append(dict(res=r, conv0=StyledLayerV1(nf(r - 2), nf(r - 1), kind="up", blur_filter=self.blur_filter,
                                                          flip=fused_scale_at(fused_scale, 2 ** r),
                                                          name=s + "_Conv0_up", **kw),
                               conv1=StyledLayerV1(nf(r - 1), nf(r - 1), kind="conv", name=s + "_Conv1", **kw)))
        for block in blocks:
            r = block["res"]
            block["torgb"] = Conv2dLayer(nf(r - 1), self.img_channels, kernel_size=1,
                                         name="ToRGB_lod%d" % (self.log2_res - r))
            block["torgb"].trainable = r == self.log2_res
        self.blocks = blocks  # assigned complete: Keras tracks the layers of dicts present at assignment
        self.build()
        self.execution = "auto"
        self._compiled = CompiledCalls(super().__call__)

    def build(self, input_shape=None):
        for block in self.blocks:
            for key in ("conv0", "conv1", "torgb"):
                block[key].build()
        self.noise_buffers = add_noise_buffers(self)
        self.built = True

    @staticmethod
    def noise_resolution(i):
        """Side length of the feature map that layer `i` adds its noise to."""
        return 2 ** (i // 2 + 2)

    def styled_layers(self):
        """The styled layers in w order (`num_ws` of them)."""
        return [block[key] for block in self.blocks for key in ("conv0", "conv1")]

    _noise = SynthesisNetwork._noise  # StyleGAN2's rules: the override, else the buffer, fresh noise or none

    def __call__(self, ws, noise_mode="const", noise=None, precision="fp32"):
        execution = resolve_execution(self.execution)
        if execution == "eager" or not tf.executing_eagerly():
            return super().__call__(ws, noise_mode=noise_mode, noise=noise, precision=precision)
        return self._compiled(execution == "xla", self.trace_key(), tf.convert_to_tensor(ws, tf.float32),
                              noise_mode=noise_mode, noise=as_float_tensors(noise), precision=precision)

    def trace_key(self):
        """No layer setting changes the traced graph."""
        return ()

    def call(self, ws, noise_mode="const", noise=None, precision="fp32"):
        if noise_mode not in NOISE_MODES:
            raise ValueError("noise_mode must be one of %s, got %r" % (NOISE_MODES, noise_mode))
        if noise is not None and len(noise) != self.num_noise:
            raise ValueError("noise override needs %d entries (one per layer), got %d" % (self.num_noise, len(noise)))
        common.check_precision(precision)
        if precision != "fp32":
            raise ValueError("StyleGAN (v1) networks compute in float32 only, got precision %r" % precision)
        ws = tf.cast(ws, tf.float32)
        batch = tf.shape(ws)[0]
        x = ws
        for i, layer in enumerate(self.styled_layers()):
            x = layer(x, ws[:, i], self._noise(i, batch, noise_mode, noise))
        return self.blocks[-1]["torgb"](x)

    def official_weights(self):
        """`{official name: (variable, layout)}` of the `G_synthesis` component, in NVIDIA's creation order."""
        out = {"noise%d" % i: (v, common.LAYOUT_NCHW) for i, v in enumerate(self.noise_buffers)}
        for block in self.blocks:
            for key in ("conv0", "conv1"):
                layer = block[key]
                scope = official_scope(layer.name)
                out.update({"%s/%s" % (scope, name): (v, common.LAYOUT_NCHW if name == "const" else common.LAYOUT_SAME)
                            for name, v in layer.official_weights().items()})
            out.update(common.scoped_weights(block["torgb"], block["torgb"].name))
        return out

    def get_config(self):
        return dict(w_dim=self.w_dim, img_resolution=self.img_resolution, img_channels=self.img_channels,
                    fmap_base=self.fmap_base, fmap_decay=self.fmap_decay, fmap_max=self.fmap_max,
                    blur_filter=self.blur_filter, fused_scale=self.fused_scale, name=self.name)
