"""Synthesis network w -> image, architectures 'orig', 'skip' and 'resnet' (spec §2.3),
and the compiled execution that eager calls of the networks dispatch to."""

import functools
import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers import Conv2dLayer, ConstInput, SynthesisLayer, ToRGBLayer
from tf_stylegan2.layers.initialization import add_weight
from tf_stylegan2.networks import common, recompute

ARCHITECTURES = ("orig", "skip", "resnet")
NOISE_MODES = ("const", "random", "none")
EXECUTION_MODES = ("auto", "eager", "function", "xla")


def resolve_execution(execution):
    """"auto"/"eager"/"function"/"xla" -> "eager", "function" or "xla".

    "auto" is "function" (a `tf.function` graph): on CPU, TF's oneDNN convolutions beat XLA's
    (see benchmarks/bench_generator.py).
    """
    if execution not in EXECUTION_MODES:
        raise ValueError("execution must be one of %s, got %r" % (EXECUTION_MODES, execution))
    return "function" if execution == "auto" else execution


class CompiledCalls:
    """`tf.function`s of a network's graph code, for eager callers.

    One function per (XLA or not, `key`, `ops.dispatch.mode()`); `key` names network state that
    changes the traced graph (e.g. the modulated layers' `fused_modconv`), the dispatch mode which
    ops were traced in (reference or custom). Each function keeps TF's own trace cache
    per input shapes and Python arguments: a new batch shape traces once, repeated shapes reuse
    their graph. Shapes stay static (no `reduce_retracing`): the batch-1 fused path, custom ops
    and XLA all want them. (`ops.dispatch` picks the reference ops while tracing for XLA.)
    """

    def __init__(self, fn):
        self._fn = fn
        self._functions = {}

    def __call__(self, xla, key, *args, **kwargs):
        key = (xla, key, ops.dispatch.mode())  # a graph traced with the reference ops is not reused for custom
        fn = self._functions.get(key)
        if fn is None:
            fn = tf.function(self._fn, jit_compile=xla)
            self._functions[key] = fn
        return fn(*args, **kwargs)


def as_float_tensors(values):
    """A noise override list for a compiled call: arrays -> float32 tensors; tensors, variables
    (keep their gradients) and None pass through. None -> None."""
    if values is None:
        return None
    return [v if v is None or isinstance(v, (tf.Tensor, tf.Variable)) else tf.convert_to_tensor(v, tf.float32)
            for v in values]


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class SynthesisNetwork(keras.Model):
    """`call(ws [N, num_ws, w_dim], noise_mode="const", noise=None, precision="fp32")
    -> img [N, R, R, img_channels]` (float32 NHWC, about [-1, 1], unclipped).

    Called eagerly, the network runs as a cached compiled graph chosen by the attribute
    `execution` ("auto", "eager", "function" or "xla"; see `resolve_execution`); the first call
    with a new batch shape traces, repeated calls reuse the graph. Called inside a caller's
    `tf.function`, it is plain graph code.

    `precision` "fp16"/"bf16" computes the blocks of the 4 highest resolutions (8x8 and above:
    `common.block_dtype`) in that dtype (weights and activations cast, convolution outputs
    clamped to ±256 like StyleGAN2-ADA's `conv_clamp`), accumulating the image in float32.

    Channels: the official rule from `fmap_base`, `fmap_decay`, `fmap_min`, `fmap_max`, unless
    `channels` lists the count of every resolution 4, 8, ..., R (e.g. a rosinality checkpoint's
    table; official pickles cannot hold such a network).

    Layer `i` (0 = the 4x4 conv, then Conv0_up / Conv1 per block) reads `ws[:, i]`; the ToRGB of
    resolution `2^r` reads `ws[:, 2r-3]`, so `num_ws = 2*log2(R) - 2`. Noise for conv layer `i`:
    `noise[i]` when given (`[N or 1, H, W]` or `[N or 1, H, W, 1]`), else the stored buffer
    `noise{i}` ("const"), fresh N(0, 1) ("random"), or zero ("none").

    The attribute `recompute` lists the block resolutions (4, 8, ..., R) whose layers' forward passes
    are run again in the backward pass instead of keeping their activations (`networks.recompute`; empty by
    default): the same gradients, first and second order, for less memory.
    """

    def __init__(self, w_dim=512, img_resolution=1024, img_channels=3, fmap_base=16384, fmap_decay=1.0, fmap_min=1,
                 fmap_max=512, architecture="skip", activation="lrelu", resample_filter=(1, 3, 3, 1),
                 fused_modconv="auto", conv_clamp=None, channels=None, **kwargs):
        super().__init__(**kwargs)
        if architecture not in ARCHITECTURES:
            raise ValueError("architecture must be one of %s, got %r" % (ARCHITECTURES, architecture))
        self.w_dim, self.img_resolution, self.img_channels = int(w_dim), int(img_resolution), int(img_channels)
        self.fmap_base, self.fmap_decay, self.fmap_min, self.fmap_max = fmap_base, fmap_decay, fmap_min, fmap_max
        self.architecture, self.activation = architecture, activation
        self.resample_filter = [float(v) for v in resample_filter]
        self.fused_modconv, self.conv_clamp = fused_modconv, conv_clamp
        self.log2_res = common.resolution_log2(self.img_resolution)
        self.num_ws = 2 * self.log2_res - 2
        self.num_noise = self.num_ws - 1
        self.channels = None if channels is None else [int(c) for c in channels]
        nf = (common.channels_rule(fmap_base, fmap_decay, fmap_min, fmap_max) if channels is None
              else common.channel_table(channels, self.log2_res))

        layer_kwargs = dict(w_dim=self.w_dim, activation=activation, resample_filter=self.resample_filter,
                            conv_clamp=conv_clamp, fused_modconv=fused_modconv)
        rgb_kwargs = dict(w_dim=self.w_dim, conv_clamp=conv_clamp, fused_modconv=fused_modconv)
        self.const = ConstInput(nf(1), name="4x4_Const")
        blocks = [dict(res=2, conv1=SynthesisLayer(nf(1), nf(1), name="4x4_Conv", **layer_kwargs))]
        for r in range(3, self.log2_res + 1):
            s = "%dx%d" % (2 ** r, 2 ** r)
            block = dict(res=r,
                         conv0=SynthesisLayer(nf(r - 2), nf(r - 1), up=2, name=s + "_Conv0_up", **layer_kwargs),
                         conv1=SynthesisLayer(nf(r - 1), nf(r - 1), name=s + "_Conv1", **layer_kwargs))
            if architecture == "resnet":
                block["skip"] = Conv2dLayer(nf(r - 2), nf(r - 1), kernel_size=1, bias=False, up=2,
                                            resample_filter=self.resample_filter, name=s + "_Skip")
            blocks.append(block)
        for block in blocks:
            r = block["res"]
            if architecture == "skip" or r == self.log2_res:
                block["torgb"] = ToRGBLayer(nf(r - 1), self.img_channels, name="%dx%d_ToRGB" % (2 ** r, 2 ** r),
                                            **rgb_kwargs)
        self.blocks = blocks  # assigned complete: Keras tracks the layers of dicts present at assignment
        self.build()
        self.execution = "auto"
        self.recompute = ()
        self._compiled = CompiledCalls(super().__call__)

    def build(self, input_shape=None):
        self.const.build()
        for block in self.blocks:
            for key in ("conv0", "conv1", "skip", "torgb"):
                if key in block:
                    block[key].build()
        self.noise_buffers = add_noise_buffers(self)
        self.built = True

    @staticmethod
    def noise_resolution(i):
        """Side length of the feature map that conv layer `i` adds its noise to."""
        return 2 ** ((i + 5) // 2)

    def _noise(self, i, batch, noise_mode, noise):
        if noise is not None and noise[i] is not None:
            n = tf.convert_to_tensor(noise[i], tf.float32)
            return n[..., tf.newaxis] if n.shape.rank == 3 else n
        if noise_mode == "const":
            return self.noise_buffers[i]
        if noise_mode == "random":
            size = self.noise_resolution(i)
            return tf.random.normal([batch, size, size, 1])
        return None

    def __call__(self, ws, noise_mode="const", noise=None, precision="fp32"):
        execution = resolve_execution(self.execution)
        if execution == "eager" or not tf.executing_eagerly():
            return super().__call__(ws, noise_mode=noise_mode, noise=noise, precision=precision)
        return self._compiled(execution == "xla", self.trace_key(), tf.convert_to_tensor(ws, tf.float32),
                              noise_mode=noise_mode, noise=as_float_tensors(noise), precision=precision)

    def trace_key(self):
        """The settings a compiled graph depends on: the recomputed blocks and each modulated layer's
        `fused_modconv`."""
        return (tuple(self.recompute),) + tuple(
            layer.fused_modconv for layer in self._flatten_layers() if hasattr(layer, "fused_modconv"))

    def call(self, ws, noise_mode="const", noise=None, precision="fp32"):
        if noise_mode not in NOISE_MODES:
            raise ValueError("noise_mode must be one of %s, got %r" % (NOISE_MODES, noise_mode))
        if noise is not None and len(noise) != self.num_noise:
            raise ValueError("noise override needs %d entries (one per conv layer), got %d" % (self.num_noise, len(noise)))
        common.check_precision(precision)
        ws = tf.cast(ws, tf.float32)
        batch = tf.shape(ws)[0]
        x = self.const(batch)
        img = None
        for block in self.blocks:
            r = block["res"]
            first = max(2 * r - 5, 0)  # the block's first conv layer; its ToRGB reads ws[:, 2r-3]
            noises = [self._noise(i, batch, noise_mode, noise) for i in range(first, 2 * r - 3)]
            x, img = self._block(block, precision, x, img, ws[:, first:2 * r - 2], *noises)
        return img

    def _block(self, block, precision, x, img, ws, *noises):
        """One block: features `x` and the image so far `img` (None before the first ToRGB) -> both
        after it. `ws [N, 3, w_dim]` (2 at 4x4): its conv layers' and its ToRGB's; `noises`: its conv
        layers'."""
        r = block["res"]
        layer = functools.partial(recompute.block_call, 2 ** r in self.recompute)
        x = tf.cast(x, common.block_dtype(r, self.log2_res, precision))
        if r == 2:
            x = layer(block["conv1"], x, ws[:, 0], noises[0])
        else:
            x_in = x
            gain = float(np.sqrt(0.5)) if self.architecture == "resnet" else 1.0
            x = layer(block["conv0"], x, ws[:, 0], noises[0])
            x = layer(block["conv1"], x, ws[:, 1], noises[1], gain=gain)
            if "skip" in block:
                x = x + layer(block["skip"], x_in, gain=gain)
            if img is not None:
                img = ops.upsample2d(img, self.resample_filter)
        if "torgb" in block:
            y = tf.cast(layer(block["torgb"], x, ws[:, -1]), tf.float32)
            img = y if img is None else img + y
        return x, img

    def official_weights(self):
        """`{official name: (variable, layout)}` for the synthesis component."""
        out = {"noise%d" % i: (v, common.LAYOUT_NCHW) for i, v in enumerate(self.noise_buffers)}
        out.update(common.scoped_weights(self.const, "4x4/Const", {"const": common.LAYOUT_NCHW}))
        for block in self.blocks:
            for key in ("conv0", "conv1", "skip", "torgb"):
                if key in block:
                    layer = block[key]
                    out.update(common.scoped_weights(layer, layer.name.replace("_", "/", 1)))
        return out

    def get_config(self):
        config = dict(w_dim=self.w_dim, img_resolution=self.img_resolution, img_channels=self.img_channels,
                      fmap_base=self.fmap_base, fmap_decay=self.fmap_decay, fmap_min=self.fmap_min,
                      fmap_max=self.fmap_max, architecture=self.architecture, activation=self.activation,
                      resample_filter=self.resample_filter, fused_modconv=self.fused_modconv,
                      conv_clamp=self.conv_clamp, name=self.name)
        if self.channels is not None:
            config["channels"] = self.channels
        return config


def add_noise_buffers(network):
    """The stored noise (noise_mode "const") of a synthesis network with `num_noise` and
    `noise_resolution(i)`: non-trainable `noise{i}` variables `[1, size, size, 1]`, N(0, 1) initialised."""
    return [add_weight(network, name="noise%d" % i, shape=(1, size, size, 1), trainable=False,
                       initializer=keras.initializers.RandomNormal(stddev=1.0))
            for i, size in enumerate(map(network.noise_resolution, range(network.num_noise)))]
