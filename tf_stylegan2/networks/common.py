"""Helpers shared by the networks: the channel rule, official variable naming and the blocks that
compute in reduced precision."""

import numpy as np
import tensorflow as tf

# How an official (TF1, NCHW) variable is laid out relative to ours (NHWC).
LAYOUT_SAME = "same"                  # identical array
LAYOUT_NCHW = "nchw"                  # [1, C, H, W] official <-> [1, H, W, C] ours
LAYOUT_NCHW_FLATTEN = "nchw_flatten"  # dense weight fed by an NCHW flatten: rows (c, h, w) <-> (h, w, c)

PRECISIONS = {"fp32": tf.float32, "fp16": tf.float16, "bf16": tf.bfloat16}
NUM_REDUCED_PRECISION_RES = 4  # StyleGAN2-ADA's num_fp16_res: only the 4 highest resolutions


def check_precision(precision):
    """ValueError unless `precision` is one of `PRECISIONS` ("fp32", "fp16", "bf16")."""
    if precision not in PRECISIONS:
        raise ValueError("precision must be one of %s, got %r" % (sorted(PRECISIONS), precision))


def block_dtype(res_log2, img_log2, precision):
    """The dtype a synthesis or discriminator block of resolution `2**res_log2` computes in, in a
    network of resolution `2**img_log2` called with `precision`: StyleGAN2-ADA's `num_fp16_res`
    rule, `precision`'s dtype for the `NUM_REDUCED_PRECISION_RES` highest resolutions that are at
    least 8x8 (`2**res >= max(2**(img_log2 + 1 - 4), 8)`), float32 for the others."""
    check_precision(precision)
    reduced = 2 ** res_log2 >= max(2 ** (img_log2 + 1 - NUM_REDUCED_PRECISION_RES), 8)
    return PRECISIONS[precision] if reduced else tf.float32


def channels_rule(fmap_base, fmap_decay=1.0, fmap_min=1, fmap_max=512):
    """The official `nf(stage) = clip(int(fmap_base / 2**(stage*fmap_decay)), fmap_min, fmap_max)`."""
    return lambda stage: int(np.clip(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_min, fmap_max))


def channel_table(channels, log2_res):
    """`channels_rule`'s `nf(stage)` from an explicit table: the channel counts of resolutions 4, 8,
    ..., `2**log2_res` (stage s is resolution `2**(s+1)`; stage 0, a discriminator's Dense0, takes
    the 4x4 count). ValueError unless the table has one positive count per resolution."""
    channels = [int(c) for c in channels]
    if len(channels) != log2_res - 1 or min(channels) < 1:
        raise ValueError("channels must list %d positive counts (resolutions 4 to %d), got %s"
                         % (log2_res - 1, 2 ** log2_res, channels))
    return lambda stage: channels[max(stage, 1) - 1]


def resolution_log2(resolution):
    """log2 of a power-of-two resolution >= 4, else ValueError."""
    r = int(np.log2(resolution)) if resolution and resolution > 0 else 0
    if resolution < 4 or 2 ** r != resolution:
        raise ValueError("resolution must be a power of two >= 4, got %r" % (resolution,))
    return r


def scoped_weights(layer, scope, layouts=None):
    """`{"<scope>/<weight name>": (variable, layout)}` for a layer's own weights.

    `layouts` maps a weight name to its layout; unnamed weights are LAYOUT_SAME.
    """
    layouts = layouts or {}
    return {"%s/%s" % (scope, v.name): (v, layouts.get(v.name, LAYOUT_SAME)) for v in layer.weights}


def to_official(value, layout):
    """Our array -> the official layout."""
    value = np.asarray(value)
    if layout == LAYOUT_NCHW:
        return value.transpose(0, 3, 1, 2)
    if layout == LAYOUT_NCHW_FLATTEN:
        # ours: rows ordered (h, w, c) of a [4, 4, C] map; official: (c, h, w)
        rows, out = value.shape
        c = rows // 16
        return value.reshape(4, 4, c, out).transpose(2, 0, 1, 3).reshape(rows, out)
    return value


def from_official(value, layout):
    """Official array -> our layout (the inverse of `to_official`)."""
    value = np.asarray(value)
    if layout == LAYOUT_NCHW:
        return value.transpose(0, 2, 3, 1)
    if layout == LAYOUT_NCHW_FLATTEN:
        rows, out = value.shape
        c = rows // 16
        return value.reshape(c, 4, 4, out).transpose(1, 2, 0, 3).reshape(rows, out)
    return value
