"""PyTorch state dicts <-> built Keras layers' variables, without torch."""

import numpy as np

from tf_stylegan2.encoders.layers import TORCH_CONV, TORCH_LINEAR, from_torch
from tf_stylegan2.encoders.psp_weights import IGNORED_SUFFIX, check_weight_names, checked_weight
from tf_stylegan2.official.torch_pickle import load_torch_file
from tf_stylegan2.official.unpickler import NetworkPickleError


def read_state_dict(path, what):
    """`load_torch_file(path)` -> `{name: ndarray}`; one-line NetworkPickleError if it is not a state dict."""
    obj = load_torch_file(path)
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items()):
        raise NetworkPickleError("%s is not a %s state dict (a dict of named tensors)" % (path, what))
    return dict(obj)


def to_torch(value, layout):
    """An array in our layout -> PyTorch's (the inverse of `encoders.layers.from_torch`), C-contiguous."""
    value = np.asarray(value)
    if layout == TORCH_CONV:
        value = value.transpose(3, 2, 0, 1)
    elif layout == TORCH_LINEAR:
        value = value.T
    return np.ascontiguousarray(value)


def assign_torch_weights(targets, tensors, what):
    """Assign `tensors` (`{PyTorch name: ndarray}`) to `targets` (`{name: (variable, layout)}`).

    Raises:
      NetworkPickleError: missing or unexpected names, shape mismatches, non-float values.
    """
    check_weight_names(tensors, targets, what)
    for key, (variable, layout) in targets.items():
        value = checked_weight(tensors[key], variable, layout, key, what)
        variable.assign(value.astype(np.float32))
