"""Small official-format network pickles for tests, of every kind the converter supports.

Writes the tuple `(G, D, Gs)` of `dnnlib.tflib.network.Network` states with the variable names,
shapes and creation order of the official TF code:
- flavour "stylegan2": NVlabs/stylegan2 `networks_stylegan2.py` (`G_synthesis_stylegan2`,
  `D_stylegan2`, labels via `LabelConcat/weight [label_size, latent_size]`), state version 4;
- flavour "ada": NVlabs/stylegan2-ada `training/networks.py` (`G_synthesis`, `D_main`, labels via
  `LabelEmbed/{weight,bias}`, no `lod` variable), state version 5 (adds input/output shapes and
  names, as `tests/data/ada/network.pkl` made by NVIDIA's code).
These are for structure tests (kinds, mutations, hostile input); numerics are checked against
NVIDIA's outputs with the fixtures in tests/data.
Values are random (seeded); numpy objects are pickled by numpy itself (numpy 2 spells its
globals `numpy._core.multiarray`, which the loader accepts like the 2019 `numpy.core` spelling).
"""

import io
import pickle
import sys
import types

import numpy as np

SRC = 'raise RuntimeError("build_module_src was executed")\n'
MAIN_PARAMS = {"truncation_psi", "truncation_cutoff", "truncation_psi_val", "truncation_cutoff_val",
               "dlatent_avg_beta", "style_mixing_prob", "is_training", "is_validation", "return_dlatents",
               "is_template_graph", "components", "mapping_func", "synthesis_func"}
FUNCS = {"stylegan2": dict(synthesis="G_synthesis_stylegan2", D="D_stylegan2"),
         "ada": dict(synthesis="G_synthesis", D="D_main")}


class Network:
    """Pickles like `dnnlib.tflib.network.Network`: its state is the official state dict."""

    def __init__(self, state):
        self._state = state

    def __getstate__(self):
        return self._state


Network.__module__ = "dnnlib.tflib.network"


def dumps(obj):
    """Pickle `obj` (protocol 4) with a stand-in `dnnlib.tflib.network` module registered."""
    names = ["dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"]
    saved = {n: sys.modules.get(n) for n in names}
    try:
        for n in names:
            sys.modules[n] = types.ModuleType(n)
        sys.modules["dnnlib.tflib.network"].Network = Network
        buf = io.BytesIO()
        pickle.Pickler(buf, protocol=4).dump(obj)
        return buf.getvalue()
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def _nf(kw):
    base, decay = kw.get("fmap_base", 16 << 10), kw.get("fmap_decay", 1.0)
    lo, hi = kw.get("fmap_min", 1), kw.get("fmap_max", 512)
    return lambda stage: int(np.clip(int(base / 2.0 ** (stage * decay)), lo, hi))


def mapping_layout(kw, flavour):
    z, c, w = kw.get("latent_size", 512), kw.get("label_size", 0), kw.get("dlatent_size", 512)
    fmaps = kw.get("mapping_fmaps", 512 if flavour == "stylegan2" else None) or w
    out, fin = [], z
    if c and flavour == "stylegan2":
        out.append(("LabelConcat/weight", (c, z)))
        fin = 2 * z
    elif c:
        embed = kw.get("label_fmaps") or z
        out += [("LabelEmbed/weight", (c, embed)), ("LabelEmbed/bias", (embed,))]
        fin = z + embed
    layers = kw.get("mapping_layers", 8)
    for i in range(layers):
        fout = w if i == layers - 1 else fmaps
        out += [("Dense%d/weight" % i, (fin, fout)), ("Dense%d/bias" % i, (fout,))]
        fin = fout
    return out


def synthesis_layout(kw):
    res, ch, w = kw.get("resolution", 1024), kw.get("num_channels", 3), kw.get("dlatent_size", 512)
    arch, nf = kw.get("architecture", "skip"), _nf(kw)
    rl2 = int(np.log2(res))
    out = [("noise%d" % i, (1, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2))) for i in range(2 * rl2 - 3)]

    def layer(scope, cin, cout, k):
        return [(scope + "/weight", (k, k, cin, cout)), (scope + "/mod_weight", (w, cin)),
                (scope + "/mod_bias", (cin,)), (scope + "/noise_strength", ()), (scope + "/bias", (cout,))]

    def torgb(scope, cin):
        return [(scope + "/ToRGB/weight", (1, 1, cin, ch)), (scope + "/ToRGB/mod_weight", (w, cin)),
                (scope + "/ToRGB/mod_bias", (cin,)), (scope + "/ToRGB/bias", (ch,))]
    out += [("4x4/Const/const", (1, nf(1), 4, 4))] + layer("4x4/Conv", nf(1), nf(1), 3)
    out += torgb("4x4", nf(1)) if arch == "skip" else []
    for r in range(3, rl2 + 1):
        s = "%dx%d" % (2 ** r, 2 ** r)
        out += layer(s + "/Conv0_up", nf(r - 2), nf(r - 1), 3) + layer(s + "/Conv1", nf(r - 1), nf(r - 1), 3)
        out += [(s + "/Skip/weight", (1, 1, nf(r - 2), nf(r - 1)))] if arch == "resnet" else []
        out += torgb(s, nf(r - 1)) if arch == "skip" or r == rl2 else []
    return out


def discriminator_layout(kw, flavour="stylegan2"):
    res, ch, c = kw.get("resolution", 1024), kw.get("num_channels", 3), kw.get("label_size", 0)
    arch, nf = kw.get("architecture", "resnet"), _nf(kw)
    group = kw.get("mbstd_group_size", 4 if flavour == "stylegan2" else None)
    mbstd = kw.get("mbstd_num_features", 1) if group is None or group > 1 else 0
    rl2 = int(np.log2(res))
    out = []
    outputs = max(c, 1)
    if flavour == "ada" and c:
        # D_main's label projection (LabelEmbed, Mapping{i}) is created first; Output gives cmap.
        outputs = kw.get("mapping_fmaps") or nf(0)
        out += [("LabelEmbed/weight", (c, outputs)), ("LabelEmbed/bias", (outputs,))]
        for i in range(kw.get("mapping_layers", 0)):
            out += [("Mapping%d/weight" % i, (outputs, outputs)), ("Mapping%d/bias" % i, (outputs,))]

    def fromrgb(s, r):
        return [(s + "/FromRGB/weight", (1, 1, ch, nf(r - 1))), (s + "/FromRGB/bias", (nf(r - 1),))]
    for r in range(rl2, 2, -1):
        s = "%dx%d" % (2 ** r, 2 ** r)
        out += fromrgb(s, r) if arch == "skip" or r == rl2 else []
        out += [(s + "/Conv0/weight", (3, 3, nf(r - 1), nf(r - 1))), (s + "/Conv0/bias", (nf(r - 1),)),
                (s + "/Conv1_down/weight", (3, 3, nf(r - 1), nf(r - 2))), (s + "/Conv1_down/bias", (nf(r - 2),))]
        out += [(s + "/Skip/weight", (1, 1, nf(r - 1), nf(r - 2)))] if arch == "resnet" else []
    out += fromrgb("4x4", 2) if arch == "skip" else []
    return out + [("4x4/Conv/weight", (3, 3, nf(1) + mbstd, nf(1))), ("4x4/Conv/bias", (nf(1),)),
                  ("4x4/Dense0/weight", (nf(1) * 16, nf(0))), ("4x4/Dense0/bias", (nf(0),)),
                  ("Output/weight", (nf(0), outputs)), ("Output/bias", (outputs,))]


def _values(rng, layout, lrmul=1.0):
    out = []
    for name, shape in layout:
        if shape == ():
            out.append((name, np.float32(rng.uniform(0.05, 0.3))))
            continue
        std = 1.0 / lrmul if name.startswith("Dense") else 0.5 if "ToRGB/weight" in name else 1.0
        if name.endswith("bias"):
            std = 0.1 / lrmul if name.startswith("Dense") else 0.1
        out.append((name, (rng.standard_normal(shape) * std).astype(np.float32)))
    return out


def _state(name, kwargs, components, func, variables, io=None):
    """A Network state; `io` (version 5, StyleGAN2-ADA): (input_shapes, output_shapes, input_names, output_names)."""
    state = dict(version=4, name=name, static_kwargs=dict(kwargs), components=dict(components), build_module_src=SRC,
                 build_func_name=func, variables=list(variables))
    if io is not None:
        state.update(version=5, input_shapes=io[0], output_shapes=io[1], input_names=io[2], output_names=io[3])
    return state


def build(resolution=8, flavour="stylegan2", label_size=0, G_args=None, D_args=None, seed=0):
    """-> (G, D, Gs) `Network` stand-ins, the static kwargs exactly as the official training loop stores them."""
    rng = np.random.default_rng(seed)
    G_kwargs = dict(num_channels=3, resolution=resolution, label_size=label_size, **(G_args or {}))
    D_kwargs = dict(num_channels=3, resolution=resolution, label_size=label_size, **(D_args or {}))
    fwd = {k: v for k, v in G_kwargs.items() if k not in MAIN_PARAMS}
    num_ws = 2 * int(np.log2(resolution)) - 2
    lrmul = fwd.get("mapping_lrmul", 0.01)
    ada = flavour == "ada"
    z, w = [None, fwd.get("latent_size", 512)], [None, num_ws, fwd.get("dlatent_size", 512)]
    c, img = [None, label_size], [None, 3, resolution, resolution]
    io = dict(G=([z, c], [img], ["latents_in", "labels_in"], ["images_out"]),
              mapping=([z, c], [w], ["latents_in", "labels_in"], ["dlatents_out"]),
              synthesis=([w], [img], ["dlatents_in"], ["images_out"]),
              D=([img, c], [[None, 1]], ["images_in", "labels_in"], ["scores_out"]))
    io = {k: v if ada else None for k, v in io.items()}

    def generator(name):
        syn = Network(_state("G_synthesis", fwd, {}, FUNCS[flavour]["synthesis"], _values(rng, synthesis_layout(fwd)),
                             io["synthesis"]))
        mapping = Network(_state("G_mapping", dict(fwd, dlatent_broadcast=num_ws), {}, "G_mapping",
                                 _values(rng, mapping_layout(fwd, flavour), lrmul), io["mapping"]))
        top = [("dlatent_avg", (rng.standard_normal(fwd.get("dlatent_size", 512)) * 0.1).astype(np.float32))]
        top = ([] if ada else [("lod", np.float32(0.0))]) + top
        return Network(_state(name, G_kwargs, dict(synthesis=syn, mapping=mapping), "G_main", top, io["G"]))

    D = Network(_state("D", D_kwargs, {}, FUNCS[flavour]["D"], _values(rng, discriminator_layout(D_kwargs, flavour)),
                       io["D"]))
    return generator("G"), D, generator("Gs")


def write(path, **kwargs):
    """Write `build(**kwargs)` as an official-format pickle at `path`; returns `path`."""
    with open(path, "wb") as f:
        f.write(dumps(build(**kwargs)))
    return path
