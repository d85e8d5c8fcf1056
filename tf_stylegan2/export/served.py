"""A generator backed by an exported SavedModel (no Keras network, no pickle needed)."""

import os

import tensorflow as tf

from tf_stylegan2.export.saved_model import SIGNATURES
from tf_stylegan2.networks.generator import mix_styles
from tf_stylegan2.official.unpickler import NetworkPickleError


def is_saved_model_dir(path):
    return os.path.isfile(os.path.join(path, "saved_model.pb"))


class SavedModelGenerator:
    """The `Generator` interface over the signatures of `export_saved_model`.

    Attributes `z_dim, w_dim, c_dim, num_ws, img_resolution, img_channels` are read from the
    signatures. Noise modes: "const" (stored buffers) and "random"; `truncation_cutoff` must be None
    (the export truncates all layers; a StyleGAN v1 network's first 8, or its pickle's cutoff, and
    then `default_truncation_psi` is its default psi).
    """

    def __init__(self, path):
        try:
            self._loaded = tf.saved_model.load(path)
        except (OSError, ValueError, tf.errors.OpError) as e:
            raise NetworkPickleError("cannot load SavedModel %s: %s" % (path, str(e).strip().splitlines()[0])) from None
        signatures = self._loaded.signatures
        missing = [name for name in SIGNATURES if name not in signatures]
        if missing:
            raise NetworkPickleError("SavedModel %s lacks the generator signatures %s" % (path, ", ".join(missing)))
        self._mapping, self._synthesis = signatures["mapping"], signatures["synthesis_float"]
        mapping_inputs = self._mapping.structured_input_signature[1]
        self.z_dim = int(mapping_inputs["z"].shape[1])
        self.c_dim = int(mapping_inputs["c"].shape[1]) if "c" in mapping_inputs else 0
        _, self.num_ws, self.w_dim = (int(d) if d is not None else None
                                      for d in self._synthesis.structured_input_signature[1]["w"].shape)
        _, self.img_resolution, _, self.img_channels = self._synthesis.structured_outputs["images"].shape
        default_psi = getattr(self._loaded, "default_truncation_psi", None)  # exported StyleGAN v1 networks
        if default_psi is not None:
            self.default_truncation_psi = float(default_psi.numpy())
        self.path = path

    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        """`z [N, z_dim]`, `c [N, c_dim]` -> `w [N, num_ws, w_dim]` float32 tensor."""
        if truncation_cutoff is not None:
            raise ValueError("a SavedModel generator truncates all layers: truncation_cutoff must be None")
        inputs = dict(z=tf.convert_to_tensor(z, tf.float32),
                      truncation_psi=tf.convert_to_tensor(truncation_psi, tf.float32))
        if self.c_dim > 0:
            if c is None:
                raise ValueError("this network is conditional: pass c [N, %d]" % self.c_dim)
            inputs["c"] = tf.convert_to_tensor(c, tf.float32)
        return self._mapping(**inputs)["w"]

    def synthesis(self, ws, noise_mode="const"):
        """`ws [N, num_ws, w_dim]` -> float32 NHWC images `[N, H, W, C]`, about [-1, 1]."""
        if noise_mode not in ("const", "random"):
            raise ValueError("a SavedModel generator supports noise_mode 'const' or 'random', got %r" % (noise_mode,))
        return self._synthesis(w=tf.convert_to_tensor(ws, tf.float32),
                               random_noise=tf.constant(noise_mode == "random"))["images"]

    def __call__(self, z, c=None, truncation_psi=1.0, noise_mode="const"):
        return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode=noise_mode)

    def style_mix(self, w_row, w_col, col_styles, noise_mode="const"):
        """Render `w_row` with the `col_styles` layers (indices or mask) taken from `w_col`."""
        return self.synthesis(mix_styles(w_row, w_col, col_styles), noise_mode=noise_mode)
