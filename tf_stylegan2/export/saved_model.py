"""A generator as a TF Serving-ready SavedModel (core TF ops only).

Signatures (batch dimension N free; `c` only for conditional generators, c_dim > 0):
- `serving_default`: `z` f32 [N, z_dim], `truncation_psi` f32 [], (`c` f32 [N, c_dim])
  -> `images` uint8 [N, H, W, C]
- `mapping`: `z`, `truncation_psi`, (`c`) -> `w` f32 [N, num_ws, w_dim] (all layers truncated; a StyleGAN
  v1 network's first `default_truncation_cutoff` only, and its `default_truncation_psi` is kept as a variable)
- `synthesis`: `w` f32 [N, num_ws, w_dim], `random_noise` bool [] -> `images` uint8 [N, H, W, C]
- `synthesis_float`: `w`, `random_noise` -> `images` f32 [N, H, W, C], about [-1, 1]
- `style_mix`: `w_row`, `w_col` f32 [N, num_ws, w_dim], `col_styles` bool [num_ws], `random_noise`
  -> `images` uint8 [N, H, W, C] (layers where `col_styles` is true come from `w_col`)

Noise: the stored buffers (`noise_mode="const"`); `random_noise=true` draws fresh N(0, 1) noise
instead. uint8 images use the official saturate cast (`tf_stylegan2.to_uint8`), NHWC.
The functions are traced inside `ops.dispatch.reference_only()`, so no custom op is in the graph.
"""

import tensorflow as tf

from tf_stylegan2.images import to_uint8
from tf_stylegan2.networks.generator import mix_styles
from tf_stylegan2.ops.dispatch import reference_only

SIGNATURES = ("serving_default", "mapping", "synthesis", "synthesis_float", "style_mix")


def _noise(G, batch, random_noise):
    """Per-layer noise `[N or 1, r, r, 1]`: the stored buffers, or fresh N(0, 1) when `random_noise`."""
    out = []
    for i, buf in enumerate(G.synthesis.noise_buffers):
        r = G.synthesis.noise_resolution(i)
        out.append(tf.cond(random_noise, lambda r=r: tf.random.normal([batch, r, r, 1]),
                           lambda buf=buf: tf.tile(tf.convert_to_tensor(buf), [batch, 1, 1, 1])))
    return out


def serving_module(G):
    """A `tf.Module` holding `G`'s variables with the signature functions (see module docstring).

    Returns:
      (module, {signature name: concrete function}).
    """
    module = tf.Module()
    module.variables_list = [v.value for v in G.weights]  # Keras 3 variables nested in dicts are not auto-tracked
    default_psi = getattr(G, "default_truncation_psi", None)
    if default_psi is not None:  # StyleGAN v1: the psi apps use when given none (SavedModelGenerator reads it)
        module.default_truncation_psi = tf.Variable(default_psi, trainable=False, dtype=tf.float32)
    w_shape = [None, G.num_ws, G.w_dim]
    z_spec = tf.TensorSpec([None, G.z_dim], tf.float32, name="z")
    psi_spec = tf.TensorSpec([], tf.float32, name="truncation_psi")
    flag_spec = tf.TensorSpec([], tf.bool, name="random_noise")

    def images(ws, random_noise):
        return G.synthesis(ws, noise=_noise(G, tf.shape(ws)[0], random_noise))

    if G.c_dim > 0:
        c_spec = tf.TensorSpec([None, G.c_dim], tf.float32, name="c")

        def mapping(z, truncation_psi, c):
            return {"w": G.mapping(z, c, truncation_psi=truncation_psi)}

        def generate(z, truncation_psi, c):
            return {"images": to_uint8(images(mapping(z, truncation_psi, c)["w"], tf.constant(False)))}
        mapping_specs = [z_spec, psi_spec, c_spec]
    else:
        def mapping(z, truncation_psi):
            return {"w": G.mapping(z, None, truncation_psi=truncation_psi)}

        def generate(z, truncation_psi):
            return {"images": to_uint8(images(mapping(z, truncation_psi)["w"], tf.constant(False)))}
        mapping_specs = [z_spec, psi_spec]

    def synthesis(w, random_noise):
        return {"images": to_uint8(images(w, random_noise))}

    def synthesis_float(w, random_noise):
        return {"images": images(w, random_noise)}

    def style_mix(w_row, w_col, col_styles, random_noise):
        return {"images": to_uint8(images(mix_styles(w_row, w_col, col_styles), random_noise))}

    specs = {
        "serving_default": (generate, mapping_specs),
        "mapping": (mapping, mapping_specs),
        "synthesis": (synthesis, [tf.TensorSpec(w_shape, tf.float32, name="w"), flag_spec]),
        "synthesis_float": (synthesis_float, [tf.TensorSpec(w_shape, tf.float32, name="w"), flag_spec]),
        "style_mix": (style_mix, [tf.TensorSpec(w_shape, tf.float32, name="w_row"),
                                  tf.TensorSpec(w_shape, tf.float32, name="w_col"),
                                  tf.TensorSpec([G.num_ws], tf.bool, name="col_styles"), flag_spec]),
    }
    concrete = {}
    with reference_only():
        for name, (fn, input_signature) in specs.items():
            function = tf.function(fn, input_signature=input_signature)
            setattr(module, name, function)
            concrete[name] = function.get_concrete_function()
    return module, concrete


def export_saved_model(G, path):
    """Write `G` (a Keras `Generator`) as a SavedModel at `path` (which must not exist yet)."""
    module, concrete = serving_module(G)
    with reference_only():
        tf.saved_model.save(module, path, signatures=concrete)
