"""Upsample, FIR-filter, downsample (`upfirdn2d`) and the resampling wrappers built on it.

All tensors are NHWC. A filter `f` is a 2-D array `[fH, fW]` applied as a *true convolution*
(the kernel is flipped before TF's cross-correlation), or a 1-D array `[fW]` applied separably
(once along W, once along H). Semantics follow NVIDIA's `upfirdn_2d` (spec §1.1):

1. upsample: insert `up-1` zeros after every pixel;
2. pad with zeros (`pad` counted in upsampled pixels; negative values crop);
3. convolve with `f` (VALID);
4. downsample: keep every `down`-th pixel, starting at 0.

Output size: `outH = (inH*upy + pady0 + pady1 - fH) // downy + 1`, same for W.
"""

import numpy as np
import tensorflow as tf

from tf_stylegan2.ops import dispatch


def setup_filter(f=None, normalize=True, separable=None):
    """Turn a filter spec into a float32 numpy kernel.

    Args:
      f: None (=[1, 1]), a 1-D or 2-D array-like of taps.
      normalize: divide by the sum of the (2-D) taps so the filter has unit DC gain.
      separable: keep a 1-D filter 1-D (applied separably). `None` keeps short 1-D filters
        (< 8 taps) as a 2-D outer product, like the official code.

    Returns:
      float32 array `[fW]` (separable) or `[fH, fW]`.
    """
    f = np.asarray([1, 1] if f is None else f, dtype=np.float64)
    if f.ndim == 0:
        f = f[np.newaxis]
    if f.ndim not in (1, 2) or f.size == 0:
        raise ValueError("filter must be a non-empty 1-D or 2-D array, got shape %s" % (f.shape,))
    if separable is None:
        separable = f.ndim == 1 and f.size >= 8
    if f.ndim == 1 and not separable:
        f = np.outer(f, f)
    if normalize:
        f = f / np.sum(f)
    return f.astype(np.float32)


def parse_scaling(s):
    """int or (sx, sy) -> (sx, sy), all >= 1."""
    sx, sy = (s, s) if np.isscalar(s) else tuple(s)
    sx, sy = int(sx), int(sy)
    if sx < 1 or sy < 1:
        raise ValueError("up/down factors must be >= 1, got %s" % (s,))
    return sx, sy


def parse_padding(pad):
    """int, (px, py) or (x0, x1, y0, y1) -> (x0, x1, y0, y1)."""
    if np.isscalar(pad):
        pad = (pad, pad)
    pad = tuple(int(p) for p in pad)
    if len(pad) == 2:
        pad = (pad[0], pad[0], pad[1], pad[1])
    if len(pad) != 4:
        raise ValueError("pad must be an int, (px, py) or (x0, x1, y0, y1), got %s" % (pad,))
    return pad


def upfirdn2d(x, f, up=1, down=1, pad=0, gain=1, impl="auto"):
    """Pad, upsample, filter and downsample a batch of images.

    Args:
      x: float tensor `[N, H, W, C]`.
      f: 1-D (separable) or 2-D filter taps, true convolution (no flip applied by the caller).
      up: int or (upx, upy).
      down: int or (downx, downy).
      pad: int, (px, py) or (x0, x1, y0, y1); negative values crop.
      gain: overall gain; multiplies a 2-D filter, each pass of a 1-D one by sqrt(gain).
      impl: "auto", "ref" or "custom" (see `tf_stylegan2.ops.dispatch`).

    Returns:
      tensor `[N, outH, outW, C]` of x's dtype.
    """
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    padx0, padx1, pady0, pady1 = parse_padding(pad)
    f = np.asarray(f, dtype=np.float32)
    if f.ndim not in (1, 2):
        raise ValueError("filter must be 1-D or 2-D, got shape %s" % (f.shape,))
    if f.ndim == 2:
        f = f * np.float32(gain)
        fx = fy = None
    else:
        fx = fy = f * np.float32(np.sqrt(gain))
    x = tf.convert_to_tensor(x)
    fn = dispatch.select("upfirdn2d", impl, x)
    if fn is not None:
        f2d = f if f.ndim == 2 else np.outer(fy, fx)
        return fn(x, f2d, upx, upy, downx, downy, padx0, padx1, pady0, pady1)
    if f.ndim == 2:
        return _upfirdn2d_ref(x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1)
    x = _upfirdn2d_ref(x, fx[np.newaxis, :], upx, 1, downx, 1, padx0, padx1, 0, 0)
    return _upfirdn2d_ref(x, fy[:, np.newaxis], 1, upy, 1, downy, 0, 0, pady0, pady1)


def _upfirdn2d_ref(x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1):
    """Reference upfirdn2d from plain TF ops; f is a 2-D numpy kernel."""
    channels = x.shape[-1]
    if channels is None:
        # Channels known only at run time (a grouped conv over a dynamic batch): filter them as a
        # batch of 1-channel images, like TF1's [N*C, H, W, 1] layout.
        shape = tf.shape(x)
        y = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, shape[1], shape[2], 1])
        y = _upfirdn2d_ref(y, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1)
        out = tf.shape(y)
        return tf.transpose(tf.reshape(y, [shape[0], shape[3], out[1], out[2]]), [0, 2, 3, 1])
    in_h, in_w = tf.shape(x)[1], tf.shape(x)[2]
    batch = tf.shape(x)[0]

    if upx > 1 or upy > 1:
        x = tf.reshape(x, [batch, in_h, 1, in_w, 1, channels])
        x = tf.pad(x, [[0, 0], [0, 0], [0, upy - 1], [0, 0], [0, upx - 1], [0, 0]])
        x = tf.reshape(x, [batch, in_h * upy, in_w * upx, channels])

    # Pad explicitly: the depthwise conv's own explicit padding aborts in TF's fused depthwise+bias kernel.
    x = tf.pad(x, [[0, 0], [max(pady0, 0), max(pady1, 0)], [max(padx0, 0), max(padx1, 0)], [0, 0]])
    if min(padx0, padx1, pady0, pady1) < 0:
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        x = x[:, max(-pady0, 0):h - max(-pady1, 0), max(-padx0, 0):w - max(-padx1, 0), :]

    kernel = np.tile(f[::-1, ::-1, np.newaxis, np.newaxis], [1, 1, channels, 1])
    kernel = tf.constant(kernel, dtype=x.dtype)
    if downx == downy:
        return tf.nn.depthwise_conv2d(x, kernel, strides=[1, downy, downx, 1], padding="VALID")
    # TF's depthwise-conv gradient needs equal strides: filter at full rate, then decimate.
    x = tf.nn.depthwise_conv2d(x, kernel, strides=[1, 1, 1, 1], padding="VALID")
    return x[:, ::downy, ::downx, :]


# ---------------------------------------------------------------------------------------------
# Resampling wrappers (TF1 `upfirdn_2d.py` semantics, NHWC).


def _same_pads(p0, p1):
    """The (x0, x1, y0, y1) pads that apply (p0, p1) along both axes."""
    return (p0, p1, p0, p1)


def filter2d(x, k, gain=1, impl="auto"):
    """Filter with the normalised FIR `k`, keeping the size. Output `[N, H, W, C]`."""
    f = setup_filter(k) * np.float32(gain)
    p = f.shape[0] - 1
    return upfirdn2d(x, f, pad=_same_pads((p + 1) // 2, p // 2), impl=impl)


def upsample2d(x, k=None, factor=2, gain=1, impl="auto"):
    """Upsample by `factor` with FIR `k` (default: nearest). Output `[N, H*f, W*f, C]`."""
    f = setup_filter([1] * factor if k is None else k) * np.float32(gain * factor ** 2)
    p = f.shape[0] - factor
    return upfirdn2d(x, f, up=factor, pad=_same_pads((p + 1) // 2 + factor - 1, p // 2), impl=impl)


def downsample2d(x, k=None, factor=2, gain=1, impl="auto"):
    """Downsample by `factor` with FIR `k` (default: box). Output `[N, H/f, W/f, C]`."""
    f = setup_filter([1] * factor if k is None else k) * np.float32(gain)
    p = f.shape[0] - factor
    return upfirdn2d(x, f, down=factor, pad=_same_pads((p + 1) // 2, p // 2), impl=impl)


def upsample_conv2d(x, w, k=None, factor=2, gain=1, groups=1, impl="auto"):
    """Transposed convolution with stride `factor`, then FIR `k`: a fused 2x up + conv.

    Args:
      x: `[N, H, W, groups*I]`.
      w: conv weight `[C, C, I, groups*O]` (HWIO, used as a cross-correlation kernel in the
        equivalent zero-insertion form), C odd or even.
      groups: implied by the channel counts; an int is checked against them, a tensor (e.g. a
        dynamic batch, for per-sample weights) is not.
    Returns:
      `[N, H*factor, W*factor, groups*O]`.
    """
    ksize = int(w.shape[0])
    x = tf.convert_to_tensor(x)
    w = tf.cast(w, x.dtype)
    if isinstance(groups, int) and x.shape[-1] is not None and x.shape[-1] != groups * w.shape[2]:
        raise ValueError("upsample_conv2d: x has %d channels, expected groups (%d) * weight inputs (%d)"
                         % (x.shape[-1], groups, w.shape[2]))
    f = setup_filter([1] * factor if k is None else k) * np.float32(gain * factor ** 2)
    p = (f.shape[0] - factor) - (ksize - 1)
    x = _polyphase_conv_transpose(x, w, factor)
    # The transposed conv spans (H-1)*factor + C rows; the polyphase result has zero rows past that.
    extra = factor * -(-ksize // factor) - ksize
    return upfirdn2d(x, f, pad=_same_pads((p + 1) // 2 + factor - 1, p // 2 + 1 - extra), impl=impl)


def _polyphase_conv_transpose(x, w, factor):
    """The zero-insertion form of a stride-`factor` transposed conv (insert zeros, pad by C-1,
    correlate with `w [C, C, I, O']`), computed without multiplying zeros: output phase (a, b)
    (rows a, a+factor, ...) is a stride-1 correlation of x with the taps `w[ta::factor, tb::factor]`
    at input resolution, and `depth_to_space` interleaves the factor² phases. Grouped when
    x has a multiple of I channels. `[N, H, W, G*I] -> [N, factor*(H+e), factor*(W+e), O']`
    with `e = ceil(C/factor) - 1`.
    """
    ksize = int(w.shape[0])
    extra = -(-ksize // factor) - 1
    taps = []
    for a in range(factor):
        t0 = (ksize - 1 - a) % factor
        shift = (a + t0 - ksize + 1) // factor          # input offset of the phase's first tap, <= 0
        count = len(range(t0, ksize, factor))
        taps.append((t0, -shift, extra + shift + count - 1))
    phases = []
    for ta, pad_top, pad_bottom in taps:
        for tb, pad_left, pad_right in taps:
            sub = w[ta::factor, tb::factor]
            if sub.shape[0] == 0 or sub.shape[1] == 0:   # C < factor: this phase only sees inserted zeros
                phases.append(None)
                continue
            pads = [[0, 0], [pad_top, pad_bottom], [pad_left, pad_right], [0, 0]]
            phases.append(tf.nn.conv2d(x, sub, strides=1, padding=pads))
    phases = [tf.zeros_like(phases[0]) if y is None else y for y in phases]
    return tf.nn.depth_to_space(tf.concat(phases, axis=-1), factor)


def conv_downsample2d(x, w, k=None, factor=2, gain=1, impl="auto"):
    """FIR `k`, then a stride-`factor` VALID convolution with `w` `[C, C, I, O]`
    (grouped when x has a multiple of I channels). Output `[N, H/f, W/f, O]`.

    A 1x1 `w` (the resnet skip) commutes with the FIR: the image is downsampled first (the FIR at
    the output positions only) and convolved at the output resolution, as NVIDIA's conv2d_resample
    does; the same values as the FIR at full rate then a strided 1x1 convolution."""
    ksize = int(w.shape[0])
    if ksize == 1:
        return tf.nn.conv2d(downsample2d(x, k, factor, gain, impl=impl), w, strides=1, padding="VALID")
    f = setup_filter([1] * factor if k is None else k) * np.float32(gain)
    p = (f.shape[0] - factor) + (ksize - 1)
    x = upfirdn2d(x, f, pad=_same_pads((p + 1) // 2, p // 2), impl=impl)
    return tf.nn.conv2d(x, w, strides=factor, padding="VALID")
