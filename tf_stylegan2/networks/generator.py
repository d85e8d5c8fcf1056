"""Generator = mapping + synthesis, with truncation, noise modes and style mixing."""

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2.networks import common
from tf_stylegan2.networks.mapping import MappingNetwork
from tf_stylegan2.networks.synthesis import SynthesisNetwork


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


class Generator(keras.Model):
    """`call(z [N, z_dim], c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const", noise=None)
    -> img [N, R, R, C]` float32 NHWC, about [-1, 1].

    Attributes: `z_dim, w_dim, c_dim, num_ws, img_resolution, img_channels`, sub-networks
    `mapping` (`MappingNetwork`, holds `w_avg`) and `synthesis` (`SynthesisNetwork`).
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

    @classmethod
    def from_config(cls, config):
        return cls(MappingNetwork(**config["mapping"]), SynthesisNetwork(**config["synthesis"]),
                   name=config.get("name"))

    def get_config(self):
        return dict(mapping=self.mapping.get_config(), synthesis=self.synthesis.get_config(), name=self.name)

    def call(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const", noise=None):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, noise=noise)

    def style_mix(self, w_row, w_col, col_styles, noise_mode="const", noise=None):
        """Render `w_row` with the `col_styles` layers taken from `w_col`: `-> [N, R, R, C]`."""
        return self.synthesis(mix_styles(w_row, w_col, col_styles), noise_mode=noise_mode, noise=noise)

    def official_weights(self):
        """`{component/name: (variable, layout)}` with components `""` (G-level), `mapping`, `synthesis`."""
        out = {"dlatent_avg": (self.mapping.w_avg, common.LAYOUT_SAME)}
        out.update({"mapping/" + k: v for k, v in self.mapping.official_weights().items()})
        out.update({"synthesis/" + k: v for k, v in self.synthesis.official_weights().items()})
        return out
