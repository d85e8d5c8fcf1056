"""Separable resampling of NHWC maps by per-axis matrices (static spatial sizes): PyTorch's
`F.interpolate(mode='bilinear', align_corners=True)` and `nn.AdaptiveAvgPool2d`."""

import numpy as np
import tensorflow as tf


def align_corners_matrix(n_in, n_out):
    """`[n_out, n_in]` float32 weights of 1-D linear interpolation with `align_corners=True`
    (output i samples the source at `i * (n_in - 1) / (n_out - 1)`)."""
    pos = np.arange(n_out) * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros([1])
    lo = np.minimum(np.floor(pos).astype(int), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    m = np.zeros([n_out, n_in], np.float64)
    np.add.at(m, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(m, (np.arange(n_out), hi), frac)
    return m.astype(np.float32)


def adaptive_pool_matrix(n_in, n_out):
    """`[n_out, n_in]` float32 weights of `AdaptiveAvgPool` along one axis: output i averages the
    inputs `[floor(i * n_in / n_out), ceil((i + 1) * n_in / n_out))` (a nearest-neighbour copy when
    n_out is a multiple of n_in, a box filter when n_in is a multiple of n_out)."""
    m = np.zeros([n_out, n_in], np.float64)
    for i in range(n_out):
        lo, hi = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m.astype(np.float32)


def resample(x, mh, mw):
    """`x [N, H, W, C]` -> `[N, H', W', C]` with row weights `mh [H', H]` and column weights `mw [W', W]`."""
    x = tf.einsum("oh,nhwc->nowc", tf.constant(mh, x.dtype), x)
    return tf.einsum("pw,nowc->nopc", tf.constant(mw, x.dtype), x)


def upsample_add(x, y):
    """`F.interpolate(x, size=y's (H, W), mode='bilinear', align_corners=True) + y`."""
    return resample(x, align_corners_matrix(x.shape[1], y.shape[1]), align_corners_matrix(x.shape[2], y.shape[2])) + y


def adaptive_avg_pool(x, size):
    """`nn.AdaptiveAvgPool2d((size, size))` on NHWC `x`."""
    return resample(x, adaptive_pool_matrix(x.shape[1], size), adaptive_pool_matrix(x.shape[2], size))
