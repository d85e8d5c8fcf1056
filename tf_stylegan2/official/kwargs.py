"""Official `static_kwargs` -> this package's network configs, refusing anything unknown.

Defaults are those of the official TF1 functions (`G_main`, `G_mapping`, `G_synthesis_stylegan2`,
`D_stylegan2`; spec §2-4). A pickle only stores the kwargs its training run set explicitly.
"""

from tf_stylegan2.official.unpickler import NetworkPickleError

G_MAIN_DEFAULTS = dict(truncation_psi=0.5, truncation_cutoff=None, truncation_psi_val=None,
                       truncation_cutoff_val=None, dlatent_avg_beta=0.995, style_mixing_prob=0.9, is_training=False,
                       is_validation=False, return_dlatents=False, is_template_graph=False, components=None,
                       mapping_func="G_mapping", synthesis_func="G_synthesis_stylegan2")
MAPPING_DEFAULTS = dict(latent_size=512, label_size=0, dlatent_size=512, dlatent_broadcast=None, mapping_layers=8,
                        mapping_fmaps=512, mapping_lrmul=0.01, mapping_nonlinearity="lrelu", normalize_latents=True,
                        dtype="float32")
SYNTHESIS_DEFAULTS = dict(dlatent_size=512, num_channels=3, resolution=1024, fmap_base=16 << 10, fmap_decay=1.0,
                          fmap_min=1, fmap_max=512, randomize_noise=True, architecture="skip", nonlinearity="lrelu",
                          dtype="float32", resample_kernel=[1, 3, 3, 1], fused_modconv=True)
D_DEFAULTS = dict(num_channels=3, resolution=1024, label_size=0, fmap_base=16 << 10, fmap_decay=1.0, fmap_min=1,
                  fmap_max=512, architecture="resnet", nonlinearity="lrelu", mbstd_group_size=4, mbstd_num_features=1,
                  dtype="float32", resample_kernel=[1, 3, 3, 1])

# build_func_name of each network kind that this package can rebuild.
SUPPORTED_FUNCS = dict(G="G_main", mapping="G_mapping", synthesis="G_synthesis_stylegan2", D="D_stylegan2")


def _resolve(kwargs, defaults, what):
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise NetworkPickleError("%s: unsupported static kwargs %s" % (what, ", ".join(unknown)))
    out = dict(defaults)
    out.update(kwargs)
    if out.get("dtype", "float32") != "float32":
        raise NetworkPickleError("%s: dtype %r is not supported (float32 only)" % (what, out["dtype"]))
    return out


def check_func(state, kind, what):
    expected = SUPPORTED_FUNCS[kind]
    if state["build_func_name"] != expected:
        raise NetworkPickleError("%s: network function %r is not supported (expected %r)"
                                 % (what, state["build_func_name"], expected))


def generator_configs(g_kwargs, mapping_kwargs, synthesis_kwargs):
    """-> (mapping config, synthesis config) for `MappingNetwork` / `SynthesisNetwork`."""
    g_all = dict(G_MAIN_DEFAULTS, **MAPPING_DEFAULTS)
    g_all.update(SYNTHESIS_DEFAULTS)
    _resolve(g_kwargs, g_all, "G")
    forwarded = dict(MAPPING_DEFAULTS, **SYNTHESIS_DEFAULTS)
    m = _resolve(mapping_kwargs, forwarded, "G_mapping")
    s = _resolve(synthesis_kwargs, forwarded, "G_synthesis")
    synthesis = dict(w_dim=s["dlatent_size"], img_resolution=s["resolution"], img_channels=s["num_channels"],
                     fmap_base=s["fmap_base"], fmap_decay=s["fmap_decay"], fmap_min=s["fmap_min"],
                     fmap_max=s["fmap_max"], architecture=s["architecture"], activation=s["nonlinearity"],
                     resample_filter=list(s["resample_kernel"]))
    num_ws = 2 * (int(s["resolution"]).bit_length() - 1) - 2
    if m["dlatent_broadcast"] not in (None, num_ws):
        raise NetworkPickleError("G_mapping: dlatent_broadcast=%r does not match the synthesis' %d layers"
                                 % (m["dlatent_broadcast"], num_ws))
    mapping = dict(z_dim=m["latent_size"], c_dim=m["label_size"], w_dim=m["dlatent_size"], num_ws=num_ws,
                   num_layers=m["mapping_layers"], layer_features=m["mapping_fmaps"], lr_multiplier=m["mapping_lrmul"],
                   activation=m["mapping_nonlinearity"], normalize_latents=m["normalize_latents"], label_mode="concat")
    return mapping, synthesis


def discriminator_config(d_kwargs):
    """-> config for `Discriminator`."""
    d = _resolve(d_kwargs, D_DEFAULTS, "D")
    return dict(c_dim=d["label_size"], img_resolution=d["resolution"], img_channels=d["num_channels"],
                architecture=d["architecture"], fmap_base=d["fmap_base"], fmap_decay=d["fmap_decay"],
                fmap_min=d["fmap_min"], fmap_max=d["fmap_max"], mbstd_group_size=d["mbstd_group_size"],
                mbstd_num_features=d["mbstd_num_features"], activation=d["nonlinearity"],
                resample_filter=list(d["resample_kernel"]))
