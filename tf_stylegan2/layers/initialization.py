"""Weight creation that can skip computing initial values, for networks whose weights come from a file.

Layers create their weights with `add_weight(layer, ...)`. Normally that is `layer.add_weight`.
Inside `deferred_initialization()`, variables are created without a value (Keras' `StatelessScope`);
the caller gives each its array with `values.set(variable, array)`, and on leaving the block every
variable is created directly from its array, or from the layer's initializer when none was given.
No random numbers are drawn for weights that a file overwrites.

A float32 array that is C-contiguous, writable, 64-byte aligned (see `aligned_empty`) and whose
memory no variable has taken yet becomes the variable's storage without a copy (DLPack): the
pickle readers put large arrays in such buffers. Any other array is copied once.
"""

import contextlib
import threading
import weakref

import keras
import numpy as np
import tensorflow as tf

ALIGNMENT = 64  # bytes: TensorFlow's CPU kernels require tensor data aligned to this (EIGEN_MAX_ALIGN_BYTES)
_STATE = threading.local()
_ADOPTED = weakref.WeakValueDictionary()  # id(root buffer) -> root buffer, for memory a variable owns


def aligned_empty(nbytes):
    """A writable uint8 array of `nbytes` whose data starts on an `ALIGNMENT` boundary."""
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = (-raw.ctypes.data) % ALIGNMENT
    return raw[start:start + nbytes]


def _root(array):
    """The ndarray that owns `array`'s memory (through views and memoryviews)."""
    while True:
        base = array.base
        if isinstance(base, np.ndarray):
            array = base
        elif isinstance(base, memoryview) and isinstance(base.obj, np.ndarray):
            array = base.obj
        else:
            return array


def variable_value(value):
    """The tensor a variable is created from, for a float32 ndarray `value`: its own memory when
    that can become the variable's (see the module docstring; the memory is then the variable's,
    never to be given to another), else a copy in aligned memory."""
    root = _root(value)
    if not (value.dtype == np.float32 and value.flags.c_contiguous and value.flags.writeable and value.size
            and value.ctypes.data % ALIGNMENT == 0 and _ADOPTED.get(id(root)) is not root):
        copy = aligned_empty(max(value.nbytes, 1))[:value.nbytes].view(np.float32).reshape(value.shape)
        np.copyto(copy, value)
        value, root = copy, _root(copy)
    _ADOPTED[id(root)] = root
    return tf.experimental.dlpack.from_dlpack(value.__dlpack__())


class _Pending(keras.initializers.Initializer):
    """An initializer returning the value set on it once, else (`abandoned`) zeros, else `default`'s."""

    def __init__(self, default):
        self.default = default
        self.value = None
        self.abandoned = False

    def __call__(self, shape, dtype=None):
        if self.value is not None:
            value, self.value = self.value, None
            return variable_value(value)
        if self.abandoned:
            return tf.zeros(shape, dtype)
        return self.default(shape, dtype=dtype)


def add_weight(layer, name, shape, initializer, trainable=True):
    """`layer.add_weight(name=name, shape=shape, initializer=initializer, trainable=trainable)`,
    deferred inside `deferred_initialization()`."""
    initializer = keras.initializers.get(initializer)
    pending = getattr(_STATE, "values", None)
    if pending is None:
        return layer.add_weight(name=name, shape=shape, initializer=initializer, trainable=trainable)
    wrapper = _Pending(initializer)
    variable = layer.add_weight(name=name, shape=shape, initializer=wrapper, trainable=trainable)
    pending.register(variable, wrapper)
    return variable


class InitialValues:
    """The values of the variables created inside one `deferred_initialization()` block."""

    def __init__(self):
        self._pending = {}

    def register(self, variable, wrapper):
        self._pending[id(variable)] = (variable, wrapper)

    def set(self, variable, value):
        """Give `variable` (created in this block) its initial value: an array of its shape
        (cast to its dtype; the variable is created from it on leaving the block).

        Raises:
          ValueError: not a variable of this block, or a shape mismatch.
        """
        entry = self._pending.get(id(variable))
        if entry is None or entry[0] is not variable:
            raise ValueError("variable %s was not created inside this deferred_initialization block" % variable.path)
        if tuple(np.shape(value)) != tuple(variable.shape):
            raise ValueError("value of shape %s for variable %s of shape %s"
                             % (tuple(np.shape(value)), variable.path, tuple(variable.shape)))
        if variable.dtype != "float32":
            raise ValueError("variable %s is %s: only float32 variables take deferred values" % (variable.path,
                                                                                              variable.dtype))
        entry[1].value = np.asarray(value, dtype=np.float32)

    def zero_unset(self):
        """Create the variables given no value as zeros instead of from their initializers."""
        for _, wrapper in self._pending.values():
            wrapper.abandoned = True

    def abandon(self):
        """Create every variable as zeros (the networks are being discarded)."""
        for _, wrapper in self._pending.values():
            wrapper.value = None
            wrapper.abandoned = True


@contextlib.contextmanager
def deferred_initialization(unset="initializer"):
    """`with deferred_initialization() as values:` build layers, then `values.set(var, array)`.

    The variables exist (shapes, names, tracking) inside the block but must not be read there.
    `unset`: what the variables given no value start as, "initializer" (their layer's) or "zeros"
    (for weights loaded right after the block, e.g. by Keras `load_weights`). On an exception the
    block's variables are created as zeros (cheap) before it propagates.
    """
    if unset not in ("initializer", "zeros"):
        raise ValueError("unset must be 'initializer' or 'zeros', got %r" % (unset,))
    if getattr(_STATE, "values", None) is not None:
        raise RuntimeError("deferred_initialization blocks do not nest")
    values = InitialValues()
    _STATE.values = values
    try:
        with keras.StatelessScope():
            try:
                yield values
            except BaseException:
                values.abandon()
                raise
            if unset == "zeros":
                values.zero_unset()
    finally:
        _STATE.values = None
