"""Loader of the custom-op library (`custom_ops/`, built by `build_custom_ops`).

`load()` finds the library inside this package, `tf.load_op_library`s it once per process and
registers the Python wrappers with `dispatch`. The gradients are registered here:

- `Stylegan2Upfirdn2d`: an upfirdn2d with up/down swapped, the filter flipped and pads
  `(fW - padx0 - 1, inW*upx - outW*downx + padx0 - upx + 1)` (same in y). It is linear, so every
  order works. It needs static H and W of x. The filter is a constant (no gradient), as in the
  reference path.
- `Stylegan2FusedBiasAct`: the forward op (grad=0) differentiates into the same op with grad=1,
  which differentiates into grad=1 (w.r.t. the upstream gradient) and grad=2 (w.r.t. x and b,
  the full second derivative). Like NVIDIA's op it stops there: a third order raises.
"""

import threading

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import kernels

from tf_stylegan2.ops import build_custom_ops, dispatch
from tf_stylegan2.ops.fused_bias_act import ACTIVATIONS

_LOCK = threading.Lock()
_LOADED = {}  # "lib": the op module; "error": why it is not available; "build_tried": True


def load(build=False):
    """Load the library, building it first (at most once per process) when `build` and it is
    missing or older than its sources.

    Returns:
      None when the custom ops are registered with `dispatch`, else a one-line reason.
    """
    with _LOCK:
        if "lib" in _LOADED:
            return None
        if "error" in _LOADED and (not build or "build_tried" in _LOADED):
            return _LOADED["error"]
        path = build_custom_ops.library_path()
        try:
            if build:
                _LOADED["build_tried"] = True
                build_custom_ops.build()
            elif not build_custom_ops.is_current(path):
                raise build_custom_ops.BuildError("custom-op library not built or older than its sources "
                                                  "(python -m tf_stylegan2.ops.build_custom_ops)")
            lib = tf.load_op_library(path)
        except (build_custom_ops.BuildError, tf.errors.OpError) as e:
            _LOADED["error"] = str(e).splitlines()[0]
            return _LOADED["error"]
        _LOADED.pop("error", None)
        _LOADED["lib"] = lib
        dispatch.register_custom("upfirdn2d", _upfirdn2d, _kernel_checker("Stylegan2Upfirdn2d"))
        dispatch.register_custom("fused_bias_act", _fused_bias_act, _kernel_checker("Stylegan2FusedBiasAct"))
        return None


def library():
    """The loaded op module (`stylegan2_upfirdn2d`, `stylegan2_fused_bias_act`), or None."""
    return _LOADED.get("lib")


def _kernel_checker(op_type):
    """has_kernel(device_type, dtype) for the kernels registered for `op_type`."""
    available = set()
    for kernel in kernels.get_registered_kernels_for_op(op_type).kernel:
        for constraint in kernel.constraint:
            if constraint.name == "T":
                available.update((kernel.device_type, t) for t in constraint.allowed_values.list.type)
    return lambda device_type, dtype: (device_type, dtype.as_datatype_enum) in available


@tf.autograph.experimental.do_not_convert
def _upfirdn2d(x, f2d, upx, upy, downx, downy, padx0, padx1, pady0, pady1):
    """`dispatch` convention: x `[N, H, W, C]`, f2d a 2-D numpy filter (true convolution).

    A large separable filter (an outer product) runs as a pass along W then one along H: fW + fH
    taps per pixel instead of fW * fH, for twice the memory traffic. The 4x4 FIRs of StyleGAN2
    are faster in one pass (measured: the CPU kernel is memory-bound there).
    """
    op = library().stylegan2_upfirdn2d
    f2d = np.asarray(f2d, dtype=np.float64)
    factors = _separable_factors(f2d)
    if factors is None:
        return op(x, tf.constant(f2d, x.dtype), upx=upx, upy=upy, downx=downx, downy=downy,
                  padx0=padx0, padx1=padx1, pady0=pady0, pady1=pady1)
    fy, fx = factors
    x = op(x, tf.constant(fx[np.newaxis, :], x.dtype), upx=upx, upy=1, downx=downx, downy=1,
           padx0=padx0, padx1=padx1, pady0=0, pady1=0)
    return op(x, tf.constant(fy[:, np.newaxis], x.dtype), upx=1, upy=upy, downx=1, downy=downy,
              padx0=0, padx1=0, pady0=pady0, pady1=pady1)


def _separable_factors(f2d):
    """(fy, fx) with outer(fy, fx) == f2d to float precision, or None where two passes would not
    save work (fW * fH <= 2 * (fW + fH), e.g. 4x4 and 1-wide filters) or f2d is not separable."""
    if f2d.size <= 2 * sum(f2d.shape):
        return None
    u, s, vt = np.linalg.svd(f2d)
    if s[1] > 1e-7 * s[0]:
        return None
    return u[:, 0] * np.sqrt(s[0]), vt[0] * np.sqrt(s[0])


@tf.autograph.experimental.do_not_convert
def _fused_bias_act(x, b, act, alpha, gain, clamp, axis):
    """`dispatch` convention: b None or 1-D of x's dtype along `axis` (checked); clamp None or >= 0."""
    empty = tf.zeros([0], x.dtype)  # b when there is none, and the unused xref and dy inputs
    b = empty if b is None else b
    return library().stylegan2_fused_bias_act(
        x, b, empty, empty, act=act, grad=0, alpha=alpha, gain=gain,
        clamp=-1.0 if clamp is None else clamp, axis=axis % max(x.shape.rank, 1))


@tf.RegisterGradient("Stylegan2Upfirdn2d")
def _upfirdn2d_grad(op, dy):
    x, f = op.inputs
    upx, upy, downx, downy = (op.get_attr(k) for k in ("upx", "upy", "downx", "downy"))
    padx0, pady0 = op.get_attr("padx0"), op.get_attr("pady0")
    in_h, in_w = x.shape[1], x.shape[2]
    out_h, out_w = op.outputs[0].shape[1], op.outputs[0].shape[2]
    if None in (in_h, in_w, out_h, out_w):
        raise ValueError("the custom upfirdn2d gradient needs static H and W; use impl='ref'")
    fh, fw = f.shape
    dx = library().stylegan2_upfirdn2d(
        dy, tf.reverse(f, [0, 1]), upx=downx, upy=downy, downx=upx, downy=upy,
        padx0=fw - padx0 - 1, padx1=in_w * upx - out_w * downx + padx0 - upx + 1,
        pady0=fh - pady0 - 1, pady1=in_h * upy - out_h * downy + pady0 - upy + 1)
    return [dx, None]


@tf.RegisterGradient("Stylegan2FusedBiasAct")
def _fused_bias_act_grad(op, g):
    x, b, xref, _ = op.inputs
    order = op.get_attr("grad")
    attrs = {k: op.get_attr(k) for k in ("act", "alpha", "gain", "clamp", "axis")}
    attrs["act"] = attrs["act"].decode() if isinstance(attrs["act"], bytes) else attrs["act"]
    empty = tf.zeros([0], x.dtype)
    op_fn = library().stylegan2_fused_bias_act
    if order == 0:
        dx = op_fn(g, b, x, empty, grad=1, **attrs)
        return [dx, _bias_grad(dx, b, attrs["axis"]), None, None]
    if order == 1:
        # This op is x * f'(xref + b) * gain * mask: linear in x, and f'' w.r.t. xref and b.
        d_x = op_fn(g, b, xref, empty, grad=1, **attrs)
        if not ACTIVATIONS[attrs["act"]].has_2nd_grad:
            return [d_x, None, None, None]
        d_xref = op_fn(g, b, xref, x, grad=2, **attrs)
        return [d_x, _bias_grad(d_xref, b, attrs["axis"]), d_xref, None]
    raise NotImplementedError("the custom fused_bias_act has first and second order gradients only; use impl='ref'")


def _bias_grad(dx, b, axis):
    """Sum of dx over every axis but `axis`, or None without a bias."""
    if b.shape[0] == 0:
        return None
    return tf.reduce_sum(dx, axis=[i for i in range(dx.shape.rank) if i != axis])
