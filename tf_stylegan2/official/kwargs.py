"""Official `static_kwargs` -> this package's network configs, refusing anything unknown.

Two flavours of official TF pickles, told apart by the build functions they name:
- StyleGAN2 (NVlabs/stylegan2 `training/networks_stylegan2.py`): `G_main`, `G_mapping`,
  `G_synthesis_stylegan2`, `D_stylegan2`; labels enter through `LabelConcat`.
- StyleGAN2-ADA TF (NVlabs/stylegan2-ada `training/networks.py`): `G_main`, `G_mapping`,
  `G_synthesis`, `D_main`; labels through `LabelEmbed` (normalised separately), plus
  `conv_clamp`, `num_fp16_res`, `fmap_const`, `label_fmaps` and D's training-only options.

Defaults are those of the official functions (spec §2-4). A pickle only stores the kwargs its
training run set explicitly. `num_fp16_res` is accepted and ignored: this port computes in float32
(the fp16 layers of the original round their activations; expect differences at that level).
"""

from tf_stylegan2.networks.common import channels_rule
from tf_stylegan2.official.unpickler import NetworkPickleError

STYLEGAN2, ADA = "stylegan2", "stylegan2-ada"

G_MAIN_DEFAULTS = dict(truncation_psi=0.5, truncation_cutoff=None, truncation_psi_val=None,
                       truncation_cutoff_val=None, dlatent_avg_beta=0.995, style_mixing_prob=0.9, is_training=False,
                       is_validation=False, return_dlatents=False, is_template_graph=False, components=None,
                       mapping_func="G_mapping", synthesis_func="G_synthesis_stylegan2")
MAPPING_DEFAULTS = {
    STYLEGAN2: dict(latent_size=512, label_size=0, dlatent_size=512, dlatent_broadcast=None, mapping_layers=8,
                    mapping_fmaps=512, mapping_lrmul=0.01, mapping_nonlinearity="lrelu", normalize_latents=True,
                    dtype="float32"),
    ADA: dict(latent_size=512, label_size=0, dlatent_size=512, dlatent_broadcast=None, mapping_layers=8,
              mapping_fmaps=None, mapping_lrmul=0.01, mapping_nonlinearity="lrelu", normalize_latents=True,
              label_fmaps=None, dtype="float32"),
}
SYNTHESIS_DEFAULTS = {
    STYLEGAN2: dict(dlatent_size=512, num_channels=3, resolution=1024, fmap_base=16 << 10, fmap_decay=1.0,
                    fmap_min=1, fmap_max=512, randomize_noise=True, architecture="skip", nonlinearity="lrelu",
                    dtype="float32", resample_kernel=[1, 3, 3, 1], fused_modconv=True),
    ADA: dict(dlatent_size=512, num_channels=3, resolution=1024, fmap_base=16 << 10, fmap_decay=1.0, fmap_min=1,
              fmap_max=512, fmap_const=None, use_noise=True, randomize_noise=True, architecture="skip",
              nonlinearity="lrelu", dtype="float32", num_fp16_res=0, conv_clamp=None, resample_kernel=[1, 3, 3, 1],
              fused_modconv=False),
}
D_DEFAULTS = {
    STYLEGAN2: dict(num_channels=3, resolution=1024, label_size=0, fmap_base=16 << 10, fmap_decay=1.0, fmap_min=1,
                    fmap_max=512, architecture="resnet", nonlinearity="lrelu", mbstd_group_size=4,
                    mbstd_num_features=1, dtype="float32", resample_kernel=[1, 3, 3, 1]),
    ADA: dict(num_channels=3, resolution=1024, label_size=0, fmap_base=16 << 10, fmap_decay=1.0, fmap_min=1,
              fmap_max=512, mapping_layers=0, mapping_fmaps=None, mapping_lrmul=0.1, architecture="resnet",
              nonlinearity="lrelu", mbstd_group_size=None, mbstd_num_features=1, dtype="float32", num_fp16_res=0,
              conv_clamp=None, resample_kernel=[1, 3, 3, 1], augment_strength=0, use_pagan=False, pagan_num=16,
              pagan_fade=0.5, score_size=1, score_max=1, use_spectral_norm=False, adaptive_dropout=0,
              freeze_layers=0),
}

# build_func_name -> flavour, per network kind.
SYNTHESIS_FUNCS = {"G_synthesis_stylegan2": STYLEGAN2, "G_synthesis": ADA}
D_FUNCS = {"D_stylegan2": STYLEGAN2, "D_main": ADA}
MAIN_FUNCS = dict(G="G_main", mapping="G_mapping")


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
    """Refuse a `G_main` / `G_mapping` state built by another function."""
    expected = MAIN_FUNCS[kind]
    if state["build_func_name"] != expected:
        raise NetworkPickleError("%s: network function %r is not supported (expected %r)"
                                 % (what, state["build_func_name"], expected))


def flavour(state, funcs, what):
    """The flavour (STYLEGAN2 or ADA) of a synthesis or D state, from its build function."""
    try:
        return funcs[state["build_func_name"]]
    except KeyError:
        raise NetworkPickleError("%s: network function %r is not supported (expected one of %s)"
                                 % (what, state["build_func_name"], ", ".join(sorted(funcs)))) from None


def _require(value, allowed, name, what):
    if value not in allowed:
        raise NetworkPickleError("%s: %s=%r is not supported" % (what, name, value))


def generator_configs(g_kwargs, mapping_kwargs, synthesis_kwargs, flavour_name=STYLEGAN2):
    """-> (mapping config, synthesis config) for `MappingNetwork` / `SynthesisNetwork`."""
    forwarded = dict(MAPPING_DEFAULTS[flavour_name], **SYNTHESIS_DEFAULTS[flavour_name])
    _resolve(g_kwargs, dict(G_MAIN_DEFAULTS, **forwarded), "G")
    m = _resolve(mapping_kwargs, forwarded, "G_mapping")
    s = _resolve(synthesis_kwargs, forwarded, "G_synthesis")
    if flavour_name == ADA:
        nf = channels_rule(s["fmap_base"], s["fmap_decay"], s["fmap_min"], s["fmap_max"])
        _require(s["use_noise"], (True,), "use_noise", "G_synthesis")
        _require(s["fmap_const"], (None, nf(1)), "fmap_const", "G_synthesis")
        embed = m["label_fmaps"] if m["label_fmaps"] is not None else m["latent_size"]
        if m["label_size"] and embed != m["dlatent_size"]:
            raise NetworkPickleError("G_mapping: a label embedding of %d features (label_fmaps or latent_size) "
                                     "other than dlatent_size=%d is not supported" % (embed, m["dlatent_size"]))
    synthesis = dict(w_dim=s["dlatent_size"], img_resolution=s["resolution"], img_channels=s["num_channels"],
                     fmap_base=s["fmap_base"], fmap_decay=s["fmap_decay"], fmap_min=s["fmap_min"],
                     fmap_max=s["fmap_max"], architecture=s["architecture"], activation=s["nonlinearity"],
                     resample_filter=list(s["resample_kernel"]), conv_clamp=s.get("conv_clamp"))
    num_ws = 2 * (int(s["resolution"]).bit_length() - 1) - 2
    if m["dlatent_broadcast"] not in (None, num_ws):
        raise NetworkPickleError("G_mapping: dlatent_broadcast=%r does not match the synthesis' %d layers"
                                 % (m["dlatent_broadcast"], num_ws))
    mapping = dict(z_dim=m["latent_size"], c_dim=m["label_size"], w_dim=m["dlatent_size"], num_ws=num_ws,
                   num_layers=m["mapping_layers"],
                   layer_features=m["mapping_fmaps"] if m["mapping_fmaps"] is not None else m["dlatent_size"],
                   lr_multiplier=m["mapping_lrmul"], activation=m["mapping_nonlinearity"],
                   normalize_latents=m["normalize_latents"], label_mode="embed" if flavour_name == ADA else "concat")
    return mapping, synthesis


def discriminator_config(d_kwargs, flavour_name=STYLEGAN2):
    """-> config for `Discriminator`."""
    d = _resolve(d_kwargs, D_DEFAULTS[flavour_name], "D")
    labels = {}
    if flavour_name == ADA:
        for name, allowed in (("use_pagan", (False,)), ("score_size", (1,)), ("score_max", (1,)),
                              ("use_spectral_norm", (False,))):
            _require(d[name], allowed, name, "D_main")
        if d["mbstd_group_size"] == 1 and d["mbstd_num_features"] > 0:
            raise NetworkPickleError("D_main: mbstd_group_size=1 with minibatch stddev features is not supported")
        labels = dict(label_mode="projection", cmap_dim=d["mapping_fmaps"], mapping_layers=d["mapping_layers"],
                      mapping_lr_multiplier=d["mapping_lrmul"])
    return dict(c_dim=d["label_size"], img_resolution=d["resolution"], img_channels=d["num_channels"],
                architecture=d["architecture"], fmap_base=d["fmap_base"], fmap_decay=d["fmap_decay"],
                fmap_min=d["fmap_min"], fmap_max=d["fmap_max"], mbstd_group_size=d["mbstd_group_size"],
                mbstd_num_features=d["mbstd_num_features"], activation=d["nonlinearity"],
                resample_filter=list(d["resample_kernel"]), conv_clamp=d.get("conv_clamp"), **labels)
