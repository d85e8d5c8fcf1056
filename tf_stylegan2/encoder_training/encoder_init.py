"""A GradualStyleEncoder's body initialised from an ArcFace IR-SE-50 state dict (`model_ir_se50.pth`),
as pSp does when it trains from scratch: `encoder.load_state_dict(ir_se50, strict=False)`, i.e.
every entry whose name the encoder also has (`input_layer.*`, `body.*`) is copied, the others
(`output_layer.*`) are ignored; `input_layer.*` is skipped for non-RGB inputs (`label_nc != 0`).
"""

from tf_stylegan2.encoder_training.torch_state import IGNORED_SUFFIX, read_state_dict
from tf_stylegan2.encoders.layers import from_torch
from tf_stylegan2.official.unpickler import NetworkPickleError


def init_from_arcface(encoder, tensors, skip_input_layer=False, what="IR-SE-50"):
    """Copy the matching entries of `tensors` (a state dict or a path) into `encoder`'s variables.

    Returns the list of PyTorch names copied.
    Raises:
      NetworkPickleError: a shared name whose shape differs (PyTorch's strict=False raises too),
        or no shared name at all (not an IR-SE-50 state dict).
    """
    if not isinstance(tensors, dict):
        tensors = read_state_dict(tensors, what)
    targets = encoder.torch_weights()
    names = [k for k in tensors if k in targets and not k.endswith(IGNORED_SUFFIX)
             and not (skip_input_layer and k.startswith("input_layer."))]
    if not any(k.startswith("body.") for k in names):
        raise NetworkPickleError("%s: no body.* weight fits the encoder (not an IR-SE-50 state dict)" % what)
    values = {}
    for key in names:
        variable, layout = targets[key]
        value = from_torch(tensors[key], layout)
        if tuple(value.shape) != tuple(variable.shape):
            raise NetworkPickleError("%s: %s has shape %s in our layout, the encoder's is %s (widths differ)"
                                     % (what, key, tuple(value.shape), tuple(variable.shape)))
        values[key] = value
    for key, value in values.items():
        targets[key][0].assign(value.astype("float32"))
    return names
