"""Choice between the reference TF implementation of an op and a custom-op kernel.

`impl` is "ref", "custom" or "auto". Only the reference implementation exists until a
custom-op library registers itself with `register_custom`; "auto" then prefers it.
Inside `reference_only()` (used for SavedModel export and XLA) every op uses the reference.
"""

import contextlib
import threading

_CUSTOM = {}
_STATE = threading.local()


def register_custom(op_name, fn):
    """Make `fn` the custom kernel for `op_name` (called by the custom-op loader)."""
    _CUSTOM[op_name] = fn


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


def select(op_name, impl, x):
    """Return the custom kernel to use for `op_name` on tensor `x`, or None for the reference.

    Raises:
      ValueError: unknown `impl`, or "custom" requested but not available.
    """
    del x  # Device-based selection arrives with the custom-op library.
    if impl not in ("auto", "ref", "custom"):
        raise ValueError("impl must be 'auto', 'ref' or 'custom', got %r" % (impl,))
    if impl == "ref" or getattr(_STATE, "reference_only", False):
        return None
    fn = _CUSTOM.get(op_name)
    if fn is None and impl == "custom":
        raise ValueError("custom op %r is not available (custom-op library not built or loaded)" % op_name)
    return fn
