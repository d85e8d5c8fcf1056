"""Weight creation that can skip computing initial values, for networks whose weights come from a file.

Layers create their weights with `add_weight(layer, ...)`. Normally that is `layer.add_weight`.
Inside `deferred_initialization()`, variables are created without a value (Keras' `StatelessScope`);
the caller gives each its array with `values.set(variable, array)`, and on leaving the block every
variable is created directly from its array (one copy, into the variable; the array is released
right after), or from the layer's initializer when none was given. No random numbers are drawn for
weights that a file overwrites, and no variable holds a value twice.
"""

import contextlib
import threading

import keras
import numpy as np
import tensorflow as tf

_STATE = threading.local()


class _Pending(keras.initializers.Initializer):
    """An initializer returning the value set on it once, else (`abandoned`) zeros, else `default`'s."""

    def __init__(self, default):
        self.default = default
        self.value = None
        self.abandoned = False

    def __call__(self, shape, dtype=None):
        if self.value is not None:
            value, self.value = self.value, None
            return value
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
        entry[1].value = np.asarray(value, dtype=variable.dtype)

    def abandon(self):
        """Create every variable still without a value as zeros (the networks are being discarded)."""
        for _, wrapper in self._pending.values():
            wrapper.value = None
            wrapper.abandoned = True


@contextlib.contextmanager
def deferred_initialization():
    """`with deferred_initialization() as values:` build layers, then `values.set(var, array)`.

    The variables exist (shapes, names, tracking) inside the block but must not be read there.
    On an exception the block's variables are created as zeros (cheap) before it propagates.
    """
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
    finally:
        _STATE.values = None
