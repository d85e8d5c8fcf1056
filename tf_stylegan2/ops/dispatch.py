"""Choice between the reference TF implementation of an op and its custom-op kernel.

Every op takes `impl`:
  "ref"    the reference implementation (plain TF ops);
  "custom" the custom-op kernel; builds the library on first use if it is missing and raises
           ValueError when it cannot be built or loaded, or has no kernel for the tensor;
  "auto"   the default set by the environment variable `TF_STYLEGAN2_OPS` (auto|ref|custom,
           default auto). Plain auto uses the custom kernel when the library is built, loads,
           and has a kernel for the tensor's device and dtype; otherwise the reference, with one
           plain line on stderr at the first fallback on a GPU (on a CPU the reference ops are as
           fast, so nothing is said). Auto never compiles.

The reference is used, whatever `impl` says:
  - inside `reference_only()`: wrap the tracing of anything exported (SavedModel, TF Serving)
    in it, so the graph holds only core TF ops;
  - while tracing a `tf.function(jit_compile=True)` (and anything it calls), detected with TF's
    XLA control-flow context, because XLA cannot compile unknown ops.
"""

import contextlib
import os
import sys
import threading

import tensorflow as tf
from tensorflow.python.ops import control_flow_util

ENV_VAR = "TF_STYLEGAN2_OPS"
IMPLS = ("auto", "ref", "custom")

_CUSTOM = {}
_STATE = threading.local()
_FALLBACK_WARNED = []


def register_custom(op_name, fn, has_kernel):
    """Make `fn` the custom kernel for `op_name` (called by the custom-op loader).

    `has_kernel(device_type, dtype)` says whether the library has a kernel for a tensor on a
    device type ("CPU", "GPU") with a `tf.DType`.
    """
    _CUSTOM[op_name] = (fn, has_kernel)


@contextlib.contextmanager
def reference_only():
    """Within this block "auto" and "custom" both resolve to the reference implementation:
    graphs traced here contain only core TF ops (for SavedModel export / TF Serving and XLA)."""
    previous = getattr(_STATE, "reference_only", False)
    _STATE.reference_only = True
    try:
        yield
    finally:
        _STATE.reference_only = previous


def default_impl():
    """What impl="auto" means: the value of `TF_STYLEGAN2_OPS` ("auto" when unset)."""
    impl = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if impl not in IMPLS:
        raise ValueError("%s must be one of %s, got %r" % (ENV_VAR, ", ".join(IMPLS), impl))
    return impl


def mode():
    """What impl="auto" resolves to right now, as a key for caches of traced graphs: "ref" inside
    `reference_only()`, else `TF_STYLEGAN2_OPS` ("ref" or "custom") or, for "auto", "auto:custom"
    when the built library loads and "auto:ref" when it does not (auto never compiles)."""
    if getattr(_STATE, "reference_only", False):
        return "ref"
    impl = default_impl()
    if impl != "auto":
        return impl
    from tf_stylegan2.ops import custom  # Imported here: it registers itself with this module.
    return "auto:custom" if custom.load(build=False) is None else "auto:ref"


def in_xla_context():
    """True while tracing a function that XLA will compile (`tf.function(jit_compile=True)`)."""
    if tf.executing_eagerly():
        return False
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def select(op_name, impl, x):
    """Return the custom kernel to use for `op_name` on tensor `x`, or None for the reference.

    Raises:
      ValueError: unknown `impl`, or "custom" requested but not available for `x`.
    """
    if impl not in IMPLS:
        raise ValueError("impl must be 'auto', 'ref' or 'custom', got %r" % (impl,))
    if impl == "auto":
        impl = default_impl()
    if impl == "ref" or getattr(_STATE, "reference_only", False) or in_xla_context():
        return None
    from tf_stylegan2.ops import custom  # Imported here: it registers itself with this module.
    problem = custom.load(build=impl == "custom")
    device_type = _device_type(x)
    if problem is None:
        fn, has_kernel = _CUSTOM[op_name]
        if has_kernel(device_type, x.dtype):
            return fn
        problem = "no %s kernel for %s on %s" % (op_name, x.dtype.name, device_type)
    if impl == "custom":
        raise ValueError("custom op %r is not available: %s" % (op_name, problem))
    if not _FALLBACK_WARNED and device_type == "GPU":
        _FALLBACK_WARNED.append(problem)
        print("tf_stylegan2: note: using the reference ops on the GPU (%s)" % problem, file=sys.stderr, flush=True)
    return None


def _device_type(x):
    """The device type `x` lives on; for a graph tensor without a device, where TF would place it."""
    if x.device:
        return tf.DeviceSpec.from_string(x.device).device_type or "CPU"
    return "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
