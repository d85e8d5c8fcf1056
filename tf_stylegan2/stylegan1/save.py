"""StyleGAN (v1) networks -> the descriptions of NVIDIA's v1 pickle states (`official.save` writes them).

NVlabs/stylegan's format: `Network` states of version 3 named `G` / `D` / `Gs`, built by
`G_style` {`G_synthesis`, `G_mapping`} and `D_basic`, pickle protocol 4. `static_kwargs` hold
the dataset's sizes (`num_channels, resolution, label_size`) and every option that differs
from NVIDIA's defaults, like a training run's; the mapping's add `dlatent_broadcast` first.
Variables keep NVIDIA's names, creation order and layouts, with `lod` 0 (a finished run).
"""

import tensorflow as tf

from tf_stylegan2.networks import common
from tf_stylegan2.stylegan1 import kwargs as v1_kwargs
from tf_stylegan2.stylegan1.discriminator import StyleGAN1Discriminator
from tf_stylegan2.stylegan1.generator import StyleGAN1Generator

VERSION = 3
PROTOCOL = 4


def is_stylegan1(networks):
    """Whether `networks` (`Networks(G, D, G_ema)`) are v1 networks; ValueError when v1 and StyleGAN2 ones are mixed."""
    kinds = [isinstance(networks.G, StyleGAN1Generator), isinstance(networks.D, StyleGAN1Discriminator),
             isinstance(networks.G_ema, StyleGAN1Generator)]
    if any(kinds) and not all(kinds):
        raise ValueError("StyleGAN (v1) and StyleGAN2 networks cannot share one pickle")
    return all(kinds)


def _non_default(values, defaults):
    return {k: v for k, v in values.items() if v != defaults[k]}


def _lod():
    return tf.zeros([]), common.LAYOUT_SAME


def generator_kwargs(G):
    """`static_kwargs` of `G_style` (and `G_synthesis`; `G_mapping` adds `dlatent_broadcast` first)."""
    m, s = G.mapping, G.synthesis
    values = dict(latent_size=m.z_dim, dlatent_size=m.w_dim, mapping_layers=m.num_layers,
                  mapping_fmaps=m.layer_features, mapping_lrmul=m.lr_multiplier,
                  normalize_latents=m.normalize_latents, truncation_psi=m.default_truncation_psi,
                  truncation_cutoff=m.default_truncation_cutoff, fmap_base=s.fmap_base, fmap_decay=s.fmap_decay,
                  fmap_max=s.fmap_max, blur_filter=s.blur_filter, fused_scale=s.fused_scale)
    out = dict(num_channels=s.img_channels, resolution=s.img_resolution, label_size=m.c_dim)
    out.update(_non_default(values, v1_kwargs.G_KWARGS))
    return out


def discriminator_kwargs(D):
    """`static_kwargs` of `D_basic`."""
    values = dict(fmap_base=D.fmap_base, fmap_decay=D.fmap_decay, fmap_max=D.fmap_max,
                  mbstd_group_size=D.mbstd_group_size, mbstd_num_features=D.mbstd_num_features,
                  blur_filter=D.blur_filter)
    out = dict(num_channels=D.img_channels, resolution=D.img_resolution, label_size=D.c_dim)
    out.update(_non_default(values, v1_kwargs.D_DEFAULTS))
    return out


def _spec(name, func, static_kwargs, weights, components=None):
    return dict(name=name, build_func_name=func, static_kwargs=static_kwargs, components=components or {},
                weights=weights)


def generator_spec(G, name):
    """The description of a `G_style` state (`name` "G" or "Gs"): `{name, build_func_name, static_kwargs,
    components, weights}`, weights `{official name: (variable, layout)}` in creation order."""
    kwargs = generator_kwargs(G)
    weights = G.official_weights()
    part = lambda prefix: {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}  # noqa: E731
    synthesis = _spec("G_synthesis", v1_kwargs.G_FUNCS["synthesis"], dict(kwargs),
                      dict(lod=_lod(), **part("synthesis/")))
    mapping = _spec("G_mapping", v1_kwargs.G_FUNCS["mapping"], dict(dlatent_broadcast=G.num_ws, **kwargs),
                    part("mapping/"))
    return _spec(name, v1_kwargs.G_FUNCS["G"], kwargs, dict(lod=_lod(), dlatent_avg=weights["dlatent_avg"]),
                 dict(synthesis=synthesis, mapping=mapping))


def network_specs(networks):
    """`(G, D, Gs)` state descriptions of v1 `Networks`."""
    D = networks.D
    return (generator_spec(networks.G, "G"),
            _spec("D", v1_kwargs.D_FUNC, discriminator_kwargs(D), dict(lod=_lod(), **D.official_weights())),
            generator_spec(networks.G_ema, "Gs"))
