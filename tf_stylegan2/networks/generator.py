"""Generator = mapping + synthesis, with truncation, noise modes and style mixing."""

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2.networks import common
from tf_stylegan2.ops.dispatch import reference_only
from tf_stylegan2.networks.mapping import MappingNetwork
from tf_stylegan2.networks.synthesis import CompiledCalls, SynthesisNetwork, as_float_tensors, resolve_execution


def mix_styles(w_row, w_col, col_styles):
    """Style mixing: `w_row` with the layers listed in `col_styles` taken from `w_col`.

    Args:
      w_row, w_col: `[N, num_ws, w_dim]` (broadcastable against each other).
      col_styles: layer indices (ints), or a `[num_ws]` boolean/0-1 mask.
    Returns:
      `[N, num_ws, w_dim]`.
    """
    w_row = tf.convert_to_tensor(w_row, tf.float32)
    w_col = tf.convert_to_tensor(w_col, tf.float32)
    num_ws = w_row.shape[1]
    mask = style_mask(col_styles, num_ws)
    return tf.where(mask[tf.newaxis, :, tf.newaxis], w_col, w_row)


def style_mask(col_styles, num_ws):
    """Indices or a mask -> a `[num_ws]` bool tensor. Out-of-range indices raise ValueError."""
    if isinstance(col_styles, tf.Tensor) and col_styles.dtype == tf.bool:
        return col_styles
    arr = np.asarray(col_styles)
    if arr.dtype == bool:
        if arr.shape != (num_ws,):
            raise ValueError("style mask must have %d entries, got shape %s" % (num_ws, arr.shape))
        return tf.constant(arr)
    idx = [int(i) for i in np.ravel(arr)]
    bad = [i for i in idx if not 0 <= i < num_ws]
    if bad:
        raise ValueError("style indices %s out of range: this network has styles 0-%d" % (bad, num_ws - 1))
    mask = np.zeros([num_ws], bool)
    mask[idx] = True
    return tf.constant(mask)


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class Generator(keras.Model):
    """`call(z [N, z_dim], c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const", noise=None,
    precision="fp32") -> img [N, R, R, C]` float32 NHWC, about [-1, 1].

    Attributes: `z_dim, w_dim, c_dim, num_ws, img_resolution, img_channels`, sub-networks
    `mapping` (`MappingNetwork`, holds `w_avg`) and `synthesis` (`SynthesisNetwork`), and
    `execution` (that of `synthesis`): called eagerly, mapping + synthesis run as one cached
    compiled graph per batch shape and static options; a tensor `truncation_psi` or a new psi
    value does not retrace.
    """

    def __init__(self, mapping, synthesis, **kwargs):
        super().__init__(**kwargs)
        if mapping.num_ws != synthesis.num_ws or mapping.w_dim != synthesis.w_dim:
            raise ValueError("mapping (num_ws=%d, w_dim=%d) does not fit synthesis (num_ws=%d, w_dim=%d)"
                             % (mapping.num_ws, mapping.w_dim, synthesis.num_ws, synthesis.w_dim))
        self.mapping = mapping
        self.synthesis = synthesis
        self.z_dim, self.c_dim, self.w_dim = mapping.z_dim, mapping.c_dim, mapping.w_dim
        self.num_ws = synthesis.num_ws
        self.img_resolution, self.img_channels = synthesis.img_resolution, synthesis.img_channels
        self.built = True
        self._compiled = CompiledCalls(super().__call__)

    @property
    def execution(self):
        """"auto", "eager", "function" or "xla" for eager calls of G and G.synthesis."""
        return self.synthesis.execution

    @execution.setter
    def execution(self, value):
        resolve_execution(value)
        self.synthesis.execution = value

    @classmethod
    def from_config(cls, config):
        return cls(MappingNetwork(**config["mapping"]), SynthesisNetwork(**config["synthesis"]),
                   name=config.get("name"))

    def get_config(self):
        return dict(mapping=self.mapping.get_config(), synthesis=self.synthesis.get_config(), name=self.name)

    def __call__(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const", noise=None,
                 precision="fp32"):
        execution = resolve_execution(self.execution)
        kwargs = dict(truncation_cutoff=truncation_cutoff, noise_mode=noise_mode, precision=precision)
        if execution == "eager" or not tf.executing_eagerly():
            return super().__call__(z, c, truncation_psi=truncation_psi, noise=noise, **kwargs)
        if not (isinstance(truncation_psi, (int, float)) and truncation_psi == 1):
            truncation_psi = tf.convert_to_tensor(truncation_psi, tf.float32)
        c = None if c is None else tf.convert_to_tensor(c, tf.float32)
        return self._compiled(execution == "xla", self.synthesis.trace_key(), tf.convert_to_tensor(z, tf.float32), c,
                              truncation_psi=truncation_psi, noise=as_float_tensors(noise), **kwargs)

    def call(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const", noise=None,
             precision="fp32"):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, noise=noise, precision=precision)

    def style_mix(self, w_row, w_col, col_styles, noise_mode="const", noise=None, precision="fp32"):
        """Render `w_row` with the `col_styles` layers taken from `w_col`: `-> [N, R, R, C]`."""
        return self.synthesis(mix_styles(w_row, w_col, col_styles), noise_mode=noise_mode, noise=noise,
                              precision=precision)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """Keras `Model.export`: endpoint `serve(z [N, z_dim]` (, `c [N, c_dim]` when conditional)`)`
        -> images float32 NHWC (truncation_psi 1, stored noise), unless `input_signature` says otherwise.

        Traced with the reference ops only (`ops.dispatch.reference_only`): the SavedModel holds core
        TF ops and loads without this package. For TF Serving signatures (uint8 images, psi, mapping,
        synthesis, style mixing) use `tf_stylegan2.export.export_saved_model`.
        """
        if input_signature is None:
            input_signature = [keras.InputSpec(shape=(None, self.z_dim), dtype="float32")]
            if self.c_dim > 0:
                input_signature.append(keras.InputSpec(shape=(None, self.c_dim), dtype="float32"))
        with reference_only():
            return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)

    def official_weights(self):
        """`{component/name: (variable, layout)}` with components `""` (G-level), `mapping`, `synthesis`."""
        out = {"dlatent_avg": (self.mapping.w_avg, common.LAYOUT_SAME)}
        out.update({"mapping/" + k: v for k, v in self.mapping.official_weights().items()})
        out.update({"synthesis/" + k: v for k, v in self.synthesis.official_weights().items()})
        return out
