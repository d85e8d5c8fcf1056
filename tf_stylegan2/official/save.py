"""Write networks as NVIDIA's official TF network pickle `(G, D, Gs)`: `save_pickle(networks, path)`.

StyleGAN (v1) networks (`tf_stylegan2.stylegan1`) are written in NVlabs/stylegan's format, described
by `stylegan1.save`. Otherwise two formats, as `official.kwargs` reads them:
- StyleGAN2 TF1 (NVlabs/stylegan2): `G_main` {`G_synthesis_stylegan2`, `G_mapping`} and
  `D_stylegan2`; `dnnlib.tflib.network.Network` states of version 4; pickle protocol 4.
- StyleGAN2-ADA TF (NVlabs/stylegan2-ada), used when the networks need one of its features
  (`conv_clamp`, label embedding/projection, whole-minibatch stddev groups): `G_main`
  {`G_synthesis`, `G_mapping`} and `D_main`; states of version 5 (adding input/output shapes and
  names); pickle protocol 3.
Variables carry their official names, order, shapes and layouts (NCHW, HWIO, NCHW-flattened
Dense0) as float32 arrays pickled the way numpy 1.x did (`numpy.core.multiarray._reconstruct`,
scalars through `numpy.core.multiarray.scalar`). `static_kwargs` hold the sizes taken from the
dataset and every setting that differs from the official defaults, like a real training run's.
`build_module_src` is a short module that raises if executed: nothing here is NVIDIA's code.
Arithmetic precision is not stored (`num_fp16_res` 0): this port computes in float32.
"""

import os
import pickle

import numpy as np
from numpy.core.multiarray import _reconstruct, scalar  # numpy 2 keeps these two for old pickles

from tf_stylegan2.files import atomic_path
from tf_stylegan2.networks.common import channels_rule, to_official
from tf_stylegan2.official import kwargs as official_kwargs
from tf_stylegan2.official.kwargs import ADA, STYLEGAN2
from tf_stylegan2.stylegan1 import save as stylegan1_save

BUILD_MODULE_SRC = '''"""Stand-in for the network code that NVIDIA's TF1 pickles embed, written by tf-stylegan2.

These networks come from tf-stylegan2 (TensorFlow 2); the pickle follows NVIDIA's official format
but carries no network-building code. Load it with tf_stylegan2.load_network() or
stylegan2-ada-pytorch's legacy.py.
"""

raise ImportError("network pickle written by tf-stylegan2: it has no TF1 network code to run; load it "
                  "with tf_stylegan2.load_network() or stylegan2-ada-pytorch's legacy.py")
'''

FORMATS = {STYLEGAN2: dict(version=4, protocol=4, synthesis="G_synthesis_stylegan2", D="D_stylegan2"),
           ADA: dict(version=5, protocol=3, synthesis="G_synthesis", D="D_main")}


class _Network:
    """Pickles as `dnnlib.tflib.network.Network` with the given state dict."""

    def __init__(self, state):
        self.state = state

    def __getstate__(self):
        return self.state


_FLOAT32 = np.dtype("<f4")
_EMPTY_SHAPE, _BYTE_CODE = (0,), b"b"  # `_reconstruct`'s fixed arguments, shared like numpy's
_GLOBALS = {_Network: ("dnnlib.tflib.network", "Network"), np.ndarray: ("numpy", "ndarray"),
            np.dtype: ("numpy", "dtype"), _reconstruct: ("numpy.core.multiarray", "_reconstruct"),
            scalar: ("numpy.core.multiarray", "scalar")}


class _OfficialPickler(pickle._Pickler):
    """Writes the globals above under their official names, and float32 arrays, scalars and the
    dtype in numpy 1.x's reduce format, whatever the installed numpy does."""

    def reducer_override(self, obj):
        if isinstance(obj, np.ndarray):
            return _reconstruct, (np.ndarray, _EMPTY_SHAPE, _BYTE_CODE), (1, obj.shape, _FLOAT32, False, obj.tobytes())
        if isinstance(obj, np.float32):
            return scalar, (_FLOAT32, obj.tobytes())
        if obj is _FLOAT32:
            return np.dtype, ("f4", 0, 1), (3, "<", None, None, None, -1, -1, 0)
        return NotImplemented

    def save_global(self, obj, name=None):
        module, name = _GLOBALS[obj]
        if self.proto >= 4:
            self.save(module)
            self.save(name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + module.encode() + b"\n" + name.encode() + b"\n")
        self.memoize(obj)


def network_flavour(networks):
    """STYLEGAN2, or ADA when the networks use a feature only StyleGAN2-ADA's TF networks have."""
    Gs, D = (networks.G, networks.G_ema), networks.D
    ada = (D.conv_clamp is not None or D.mbstd_group_size is None or (D.c_dim > 0 and D.label_mode == "projection")
           or any(G.synthesis.conv_clamp is not None or (G.c_dim > 0 and G.mapping.label_mode == "embed") for G in Gs))
    if ada and ((D.c_dim > 0 and D.label_mode != "projection")
                or any(G.c_dim > 0 and G.mapping.label_mode != "embed" for G in Gs)):
        raise ValueError("these networks mix StyleGAN2 labels (LabelConcat / one-hot D) with StyleGAN2-ADA "
                         "features: no official format holds both")
    return ADA if ada else STYLEGAN2


def _plain(value):
    """A config value as the official kwargs hold it: integral floats as ints, lists of those."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


def _non_default(values, defaults):
    return {k: _plain(v) for k, v in values.items() if _plain(v) != defaults[k]}


def _check_channel_rule(net, what):
    if getattr(net, "channels", None) is not None:
        raise ValueError("%s has an explicit channel table %s (from a rosinality checkpoint?): no official format "
                         "holds it" % (what, net.channels))


def generator_kwargs(G, flavour):
    """`static_kwargs` of `G_main` (the synthesis gets the same, the mapping adds `dlatent_broadcast`)."""
    m, s = G.mapping, G.synthesis
    _check_channel_rule(s, G.name)
    defaults = dict(official_kwargs.MAPPING_DEFAULTS[flavour], **official_kwargs.SYNTHESIS_DEFAULTS[flavour])
    values = dict(fmap_base=s.fmap_base, fmap_decay=s.fmap_decay, fmap_min=s.fmap_min, fmap_max=s.fmap_max,
                  architecture=s.architecture, nonlinearity=s.activation, resample_kernel=s.resample_filter,
                  latent_size=m.z_dim, dlatent_size=m.w_dim, mapping_layers=m.num_layers, mapping_lrmul=m.lr_multiplier,
                  mapping_nonlinearity=m.activation, normalize_latents=m.normalize_latents)
    if flavour == ADA:
        values["conv_clamp"] = s.conv_clamp
        if m.c_dim and m.z_dim != m.w_dim:  # ADA embeds labels to label_fmaps (default latent_size) features
            values["label_fmaps"] = m.w_dim
    out = dict(num_channels=s.img_channels, resolution=s.img_resolution, label_size=m.c_dim)
    out.update(_non_default(values, defaults))
    # StyleGAN2 defaults mapping_fmaps to 512, ADA (and legacy.py, for both) to dlatent_size: state it
    # unless both readings agree.
    if m.layer_features != (512 if flavour == STYLEGAN2 else m.w_dim) or m.layer_features != m.w_dim:
        out["mapping_fmaps"] = m.layer_features
    return out


def discriminator_kwargs(D, flavour):
    """`static_kwargs` of `D_stylegan2` / `D_main`."""
    _check_channel_rule(D, D.name)
    values = dict(fmap_base=D.fmap_base, fmap_decay=D.fmap_decay, fmap_min=D.fmap_min, fmap_max=D.fmap_max,
                  architecture=D.architecture, nonlinearity=D.activation, resample_kernel=D.resample_filter,
                  mbstd_group_size=D.mbstd_group_size, mbstd_num_features=D.mbstd_num_features)
    if flavour == ADA:
        values.update(conv_clamp=D.conv_clamp, mapping_layers=D.mapping_layers, mapping_lrmul=D.mapping_lr_multiplier)
    out = dict(num_channels=D.img_channels, resolution=D.img_resolution, label_size=D.c_dim)
    out.update(_non_default(values, official_kwargs.D_DEFAULTS[flavour]))
    nf0 = channels_rule(D.fmap_base, D.fmap_decay, D.fmap_min, D.fmap_max)(0)
    if D.label_mode == "projection" and D.c_dim and D.cmap_dim != nf0:
        out["mapping_fmaps"] = D.cmap_dim
    return out


def _variables(weights, names=None):
    """`(official name, float32 array or scalar)` pairs in the official creation order."""
    out = []
    for name in names or weights:
        var, layout = weights[name]
        value = np.array(to_official(var.numpy(), layout), dtype=_FLOAT32, order="C")
        out.append((name, value[()] if value.ndim == 0 else value))  # 0-d: a numpy scalar, as tflib.run gives
    return out


def _state(flavour, name, static_kwargs, components, func, variables, io=None):
    state = dict(version=FORMATS[flavour]["version"], name=name, static_kwargs=static_kwargs, components=components,
                 build_module_src=BUILD_MODULE_SRC, build_func_name=func, variables=variables)
    if flavour == ADA:
        state.update(io)
    return _Network(state)


def _io(inputs, outputs, input_names, output_names):
    """Version 5's input/output description (shapes NCHW, batch None); fresh lists per network."""
    return dict(input_shapes=[list(shape) for shape in inputs], output_shapes=[list(shape) for shape in outputs],
                input_names=input_names, output_names=output_names)


def generator_state(G, name, flavour):
    """The `Network` of an official `G_main` (`name` "G" or "Gs") with components synthesis, mapping."""
    kwargs = generator_kwargs(G, flavour)
    weights = G.official_weights()
    img = [None, G.img_channels, G.img_resolution, G.img_resolution]
    ws = [None, G.num_ws, G.w_dim]
    latents, labels = [None, G.z_dim], [None, G.c_dim]
    synthesis = _state(flavour, "G_synthesis", dict(kwargs), {}, FORMATS[flavour]["synthesis"],
                       _variables({k[len("synthesis/"):]: v for k, v in weights.items() if k.startswith("synthesis/")}),
                       _io([ws], [img], ["dlatents_in"], ["images_out"]))
    mapping = _state(flavour, "G_mapping", dict(dlatent_broadcast=G.num_ws, **kwargs), {}, "G_mapping",
                     _variables({k[len("mapping/"):]: v for k, v in weights.items() if k.startswith("mapping/")}),
                     _io([latents, labels], [ws], ["latents_in", "labels_in"], ["dlatents_out"]))
    top = _variables(weights, ["dlatent_avg"])
    if flavour == STYLEGAN2:  # TF1's progressive-growing level of detail, always 0 for StyleGAN2
        top.insert(0, ("lod", np.float32(0.0)))
    return _state(flavour, name, dict(kwargs), dict(synthesis=synthesis, mapping=mapping), "G_main", top,
                  _io([latents, labels], [img], ["latents_in", "labels_in"], ["images_out"]))


def discriminator_state(D, flavour):
    """The `Network` of an official `D_stylegan2` / `D_main`; ADA creates the label layers first."""
    weights = D.official_weights()
    labels_first = sorted(weights, key=lambda n: not n.startswith(("LabelEmbed/", "Mapping")))
    img = [None, D.img_channels, D.img_resolution, D.img_resolution]
    return _state(flavour, "D", discriminator_kwargs(D, flavour), {}, FORMATS[flavour]["D"],
                  _variables(weights, labels_first),
                  _io([img, [None, D.c_dim]], [[None, 1]], ["images_in", "labels_in"], ["scores_out"]))


def _stylegan1_network(spec):
    """A `stylegan1.save` state description as the `Network` of NVIDIA's v1 format."""
    return _Network(dict(version=stylegan1_save.VERSION, name=spec["name"], static_kwargs=spec["static_kwargs"],
                         components={k: _stylegan1_network(c) for k, c in spec["components"].items()},
                         build_module_src=BUILD_MODULE_SRC, build_func_name=spec["build_func_name"],
                         variables=_variables(spec["weights"])))


def save_pickle(networks, path):
    """Write `networks` (`Networks(G, D, G_ema)`) to `path` as the official `(G, D, Gs)` pickle,
    atomically (a temporary file renamed into place once complete and synced).

    Raises:
      ValueError: networks no official format can hold, or G or D absent (NVIDIA's pickle is always
        the triple: stylegan2-ada-pytorch's legacy.py and this project's reader require all three).
      OSError: the file cannot be written (nothing is left behind).
    """
    absent = [key for key in ("G", "D") if getattr(networks, key) is None]
    if absent:
        raise ValueError("an official pickle holds G, D and Gs (NVIDIA's readers need all three) but these networks "
                         "have no %s (a g_ema-only file?): save them with save_rosinality or the converter instead"
                         % " or ".join(absent))
    if stylegan1_save.is_stylegan1(networks):
        states = tuple(_stylegan1_network(spec) for spec in stylegan1_save.network_specs(networks))
        protocol = stylegan1_save.PROTOCOL
    else:
        flavour = network_flavour(networks)
        states = (generator_state(networks.G, "G", flavour), discriminator_state(networks.D, flavour),
                  generator_state(networks.G_ema, "Gs", flavour))
        protocol = FORMATS[flavour]["protocol"]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            _OfficialPickler(f, protocol=protocol).dump(states)
            f.flush()
            os.fsync(f.fileno())
