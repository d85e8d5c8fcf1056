"""A `GradualStyleEncoder` from a pSp state dict: the architecture read from the weight shapes
and key names, the weights set without random initialisation or a second copy."""

import re

import numpy as np

from tf_stylegan2.encoders.gradual_style import UNITS_PER_STAGE, GradualStyleEncoder
from tf_stylegan2.encoders.layers import from_torch
from tf_stylegan2.layers.initialization import aligned_empty, deferred_initialization
from tf_stylegan2.official.unpickler import NetworkPickleError

IGNORED_SUFFIX = ".num_batches_tracked"  # BatchNorm's step counter: not used in eval mode
_STAGE_STARTS = tuple(int(s) for s in np.cumsum((0,) + UNITS_PER_STAGE[:-1]))


def _shape(tensors, key, ndim, what):
    value = tensors.get(key)
    if not isinstance(value, np.ndarray) or value.ndim != ndim:
        raise NetworkPickleError("%s: %s is missing or not a %d-D tensor" % (what, key, ndim))
    return value.shape


def _indices(tensors, pattern):
    return sorted({int(m.group(1)) for m in map(re.compile(pattern).match, tensors) if m})


def encoder_config(tensors, what="encoder"):
    """`GradualStyleEncoder` keyword arguments read from the state dict `tensors` (keys without
    the `encoder.` prefix).

    Raises:
      NetworkPickleError: not a GradualStyleEncoder state dict (wrong unit count, missing keys, gaps).
    """
    units = _indices(tensors, r"body\.(\d+)\.")
    if units != list(range(sum(UNITS_PER_STAGE))):
        raise NetworkPickleError("%s: expected IR-50's %d body units (pSp's GradualStyleEncoder), found %d"
                                 % (what, sum(UNITS_PER_STAGE), len(units)))
    styles = _indices(tensors, r"styles\.(\d+)\.")
    if not styles or styles != list(range(len(styles))):
        raise NetworkPickleError("%s: style heads missing or not numbered 0..n-1" % what)
    convs = _indices(tensors, r"styles\.0\.convs\.(\d+)\.weight$")
    width, input_nc = _shape(tensors, "input_layer.0.weight", 4, what)[:2]
    return dict(input_width=width, input_nc=input_nc,
                depths=[_shape(tensors, "body.%d.res_layer.1.weight" % u, 4, what)[0] for u in _STAGE_STARTS],
                fpn_width=_shape(tensors, "latlayer1.weight", 4, what)[0],
                style_dim=_shape(tensors, "styles.0.linear.weight", 2, what)[0],
                n_styles=len(styles), coarse_convs=len(convs),
                se="body.0.res_layer.5.fc1.weight" in tensors)


def _variable_value(value, layout):
    """The PyTorch array in our layout, in a fresh aligned float32 buffer that the variable adopts."""
    value = from_torch(value, layout)
    out = aligned_empty(max(value.size * 4, 1))[:value.size * 4].view(np.float32).reshape(value.shape)
    np.copyto(out, value)
    return out


def encoder_from_state_dict(tensors, name="encoder", what="encoder", mode="psp"):
    """A built `GradualStyleEncoder` with the weights of `tensors` (`{PyTorch name without
    'encoder.': ndarray}`; entries are popped as they are used); `mode`: "psp" or "e4e" (encoder4editing).

    Raises:
      NetworkPickleError: unexpected or missing weights, mismatched shapes, non-numeric values.
    """
    config = encoder_config(tensors, what)
    with deferred_initialization() as values:
        try:
            encoder = GradualStyleEncoder(name=name, mode=mode, **config)
            encoder.build()
        except ValueError as e:
            raise NetworkPickleError("%s: unsupported encoder (%s)" % (what, e)) from None
        targets = encoder.torch_weights()
        check_weight_names(tensors, targets, what)
        for key, (variable, layout) in targets.items():
            value = checked_weight(tensors.pop(key), variable, layout, key, what, convert=_variable_value)
            values.set(variable, value)
            del value
    return encoder


def check_weight_names(tensors, targets, what):
    """Raise NetworkPickleError naming the unexpected and missing weights of `tensors`
    (`{PyTorch name: ndarray}`, BatchNorm step counters ignored) against `targets` (`{name: ...}`)."""
    given = {k for k in tensors if not k.endswith(IGNORED_SUFFIX)}
    unexpected, missing = sorted(given - set(targets)), sorted(set(targets) - given)
    if unexpected or missing:
        raise NetworkPickleError("%s: %s" % (what, "; ".join(
            "%s weights %s" % (kind, ", ".join(keys[:5]) + (" ..." if len(keys) > 5 else ""))
            for kind, keys in (("unexpected", unexpected), ("missing", missing)) if keys)))


def checked_weight(value, variable, layout, key, what, convert=from_torch):
    """`convert(value, layout)` (a PyTorch-layout float array in our layout), its dtype and its shape
    against `variable` checked (NetworkPickleError naming `key`)."""
    if value.dtype.kind != "f":
        raise NetworkPickleError("%s: %s holds %s values, expected floats" % (what, key, value.dtype))
    value = convert(value, layout)
    if tuple(value.shape) != tuple(variable.shape):
        raise NetworkPickleError("%s: %s has shape %s in our layout, expected %s"
                                 % (what, key, tuple(value.shape), tuple(variable.shape)))
    return value
