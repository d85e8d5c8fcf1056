"""StyleGAN (v1) `static_kwargs` -> the Keras networks' configs, with NVIDIA's defaults and refusals.

NVIDIA's `G_style` passes its static kwargs to both `G_mapping` and `G_synthesis` (each ignores
the other's), so every G-side network accepts the union of the three functions' arguments.
A pickle stores only what its training run passed (NVIDIA's FFHQ: num_channels, resolution,
label_size); everything else is the default of `training/networks_stylegan.py` (NVlabs/stylegan,
shipped unchanged in NVlabs/stylegan2). Structural options that this port does not implement
are refused when set to anything but their default.
"""

import numbers

from tf_stylegan2.official.unpickler import NetworkPickleError

G_STYLE_DEFAULTS = dict(truncation_psi=0.7, truncation_cutoff=8, truncation_psi_val=None, truncation_cutoff_val=None,
                        dlatent_avg_beta=0.995, style_mixing_prob=0.9, is_training=False, is_validation=False,
                        is_template_graph=False, components=None)
MAPPING_DEFAULTS = dict(latent_size=512, label_size=0, dlatent_size=512, dlatent_broadcast=None, mapping_layers=8,
                        mapping_fmaps=512, mapping_lrmul=0.01, mapping_nonlinearity="lrelu", use_wscale=True,
                        normalize_latents=True, dtype="float32")
SYNTHESIS_DEFAULTS = dict(dlatent_size=512, num_channels=3, resolution=1024, fmap_base=8192, fmap_decay=1.0,
                          fmap_max=512, use_styles=True, const_input_layer=True, use_noise=True, randomize_noise=True,
                          nonlinearity="lrelu", use_wscale=True, use_pixel_norm=False, use_instance_norm=True,
                          dtype="float32", fused_scale="auto", blur_filter=[1, 2, 1], structure="auto",
                          is_template_graph=False, force_clean_graph=False)
D_DEFAULTS = dict(num_channels=1, resolution=32, label_size=0, fmap_base=8192, fmap_decay=1.0, fmap_max=512,
                  nonlinearity="lrelu", use_wscale=True, mbstd_group_size=4, mbstd_num_features=1, dtype="float32",
                  fused_scale="auto", blur_filter=[1, 2, 1], structure="auto", is_template_graph=False)
G_KWARGS = {**G_STYLE_DEFAULTS, **MAPPING_DEFAULTS, **SYNTHESIS_DEFAULTS}

# Options implemented at NVIDIA's default value only (runtime-only options such as randomize_noise
# and the training-time ones are accepted: they do not change the network).
FIXED = dict(use_styles=True, const_input_layer=True, use_noise=True, nonlinearity="lrelu",
             mapping_nonlinearity="lrelu", use_wscale=True, use_pixel_norm=False, use_instance_norm=True,
             dtype="float32", is_training=False, is_validation=False)
STRUCTURES = ("auto", "fixed", "linear", "recursive")
MAX_BLUR_TAPS = 16

G_FUNCS = dict(G="G_style", mapping="G_mapping", synthesis="G_synthesis")
D_FUNC = "D_basic"


def resolve(kwargs, defaults, what):
    """`defaults` updated with `kwargs`; NetworkPickleError for an unknown key or an unimplemented option."""
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise NetworkPickleError("%s: unsupported static kwargs %s" % (what, ", ".join(unknown)))
    out = dict(defaults, **kwargs)
    refused = ["%s=%r" % (k, out[k]) for k, v in FIXED.items() if k in out and not _same(out[k], v)]
    if out.get("structure", "auto") not in STRUCTURES:
        refused.append("structure=%r" % (out["structure"],))
    if out.get("fused_scale", "auto") not in ("auto", True, False):
        refused.append("fused_scale=%r" % (out["fused_scale"],))
    blur = out.get("blur_filter")
    if blur is not None and not (isinstance(blur, (list, tuple)) and 0 < len(blur) <= MAX_BLUR_TAPS
                                 and all(_number(v) for v in blur) and sum(blur) > 0):
        refused.append("blur_filter=%r" % (blur,))
    if refused:
        raise NetworkPickleError("%s: StyleGAN option%s not supported: %s"
                                 % (what, "s" if len(refused) > 1 else "", ", ".join(refused)))
    return out


def _same(value, default):
    return type(value) is type(default) and value == default


def _number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _optional_number(value, what, name):
    if value is not None and not _number(value):
        raise NetworkPickleError("%s: %s=%r is not a number" % (what, name, value))
    return value


def generator_configs(g_kwargs, mapping_kwargs, synthesis_kwargs):
    """-> (mapping config, synthesis config) for `StyleGAN1Mapping` / `StyleGAN1Synthesis`."""
    g = resolve(g_kwargs, G_KWARGS, "G_style")
    m = resolve(mapping_kwargs, G_KWARGS, "G_mapping")
    s = resolve(synthesis_kwargs, G_KWARGS, "G_synthesis")
    psi = _optional_number(g["truncation_psi"], "G_style", "truncation_psi")
    cutoff = _optional_number(g["truncation_cutoff"], "G_style", "truncation_cutoff")
    if cutoff is not None and cutoff != int(cutoff):
        raise NetworkPickleError("G_style: truncation_cutoff=%r is not an integer" % (cutoff,))
    synthesis = dict(w_dim=s["dlatent_size"], img_resolution=s["resolution"], img_channels=s["num_channels"],
                     fmap_base=s["fmap_base"], fmap_decay=s["fmap_decay"], fmap_max=s["fmap_max"],
                     blur_filter=s["blur_filter"], fused_scale=s["fused_scale"])
    num_ws = 2 * (int(s["resolution"]).bit_length() - 1) - 2
    if m["dlatent_broadcast"] not in (None, num_ws):
        raise NetworkPickleError("G_mapping: dlatent_broadcast=%r does not match the synthesis' %d layers"
                                 % (m["dlatent_broadcast"], num_ws))
    mapping = dict(z_dim=m["latent_size"], c_dim=m["label_size"], w_dim=m["dlatent_size"], num_ws=num_ws,
                   num_layers=m["mapping_layers"], layer_features=m["mapping_fmaps"], lr_multiplier=m["mapping_lrmul"],
                   normalize_latents=m["normalize_latents"], default_truncation_psi=psi,
                   default_truncation_cutoff=None if cutoff is None else int(cutoff))
    return mapping, synthesis


def discriminator_config(d_kwargs):
    """-> config for `StyleGAN1Discriminator`."""
    d = resolve(d_kwargs, D_DEFAULTS, "D_basic")
    return dict(c_dim=d["label_size"], img_resolution=d["resolution"], img_channels=d["num_channels"],
                fmap_base=d["fmap_base"], fmap_decay=d["fmap_decay"], fmap_max=d["fmap_max"],
                mbstd_group_size=d["mbstd_group_size"], mbstd_num_features=d["mbstd_num_features"],
                blur_filter=d["blur_filter"])
