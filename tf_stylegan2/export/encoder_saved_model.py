"""A pSp encoder (with its decoder) as a TF Serving-ready SavedModel (core TF ops only).

Signatures (batch N, height H and width W free):
- `encode`: `images` uint8 [N, H, W, 3] -> `w` f32 [N, n_styles, w_dim] (W+, latent_avg added)
- `encode_decode` (also `serving_default`): `images` uint8 [N, H, W, 3] -> `images` uint8
  [N, R, R, 3], the decoder's output with its stored noise, saturate-cast as the generator's export.

Images of the encoder's input size S go through pSp's preprocessing exactly (`(x / 255 - 0.5) / 0.5`).
Other sizes are first resized to S x S with `tf.image.resize(bilinear, antialias=True)` and rounded:
close to the PIL bilinear filter pSp (and `PSPEncoder.encode`) use, not bit-exact; clients that
need pSp's exact numbers send S x S images resized with PIL.
"""

import os

import tensorflow as tf

from tf_stylegan2.export.convert import SAVED_MODEL_DIR
from tf_stylegan2.files import atomic_directory
from tf_stylegan2.images import to_uint8
from tf_stylegan2.ops.dispatch import reference_only

SIGNATURES = ("encode", "encode_decode", "serving_default")


def _encoder_input(images, size):
    """uint8 `[N, H, W, 3]` -> float32 `[N, S, S, 3]` in [-1, 1]."""
    x = tf.cast(images, tf.float32)
    x = tf.cond(tf.reduce_all(tf.shape(x)[1:3] == size), lambda: x,
                lambda: tf.clip_by_value(tf.round(tf.image.resize(x, [size, size], "bilinear", antialias=True)),
                                         0.0, 255.0))
    x = tf.ensure_shape(x, [None, size, size, 3]) / 255.0
    return (x - 0.5) / 0.5


def serving_module(psp):
    """A `tf.Module` holding `psp`'s encoder and decoder variables with the signature functions.

    Returns:
      (module, {signature name: concrete function}).
    """
    if psp.encoder.input_nc != 3:
        raise ValueError("only RGB encoders are exported; this one takes %d channels" % psp.encoder.input_nc)
    module = tf.Module()
    module.variables_list = [v.value for v in psp.encoder.weights + psp.decoder.weights]
    spec = tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")

    @tf.function(input_signature=[spec])
    def encode(images):
        return {"w": psp.codes(_encoder_input(images, psp.input_size))}

    @tf.function(input_signature=[spec])
    def encode_decode(images):
        return {"images": to_uint8(psp.decode(encode(images)["w"]))}  # the encoder's graph is traced once

    module.encode, module.encode_decode = encode, encode_decode
    with reference_only():
        concrete = {name: getattr(module, name).get_concrete_function() for name in ("encode", "encode_decode")}
    concrete["serving_default"] = concrete["encode_decode"]
    return module, concrete


def export_encoder_saved_model(psp, path):
    """Write `psp` (a `PSPEncoder` with a Keras decoder) as a SavedModel at `path` (must not exist yet)."""
    module, concrete = serving_module(psp)
    with reference_only():
        tf.saved_model.save(module, path, signatures=concrete)


def convert_encoder(psp, output_dir):
    """Write `output_dir/saved_model` for `psp`, atomically (the directory appears only when complete)."""
    with atomic_directory(output_dir) as tmp:
        export_encoder_saved_model(psp, os.path.join(tmp, SAVED_MODEL_DIR))
