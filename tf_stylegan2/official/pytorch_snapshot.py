"""StyleGAN2-ADA PyTorch snapshots (`network-snapshot-*.pkl`, NVIDIA's ADA `*.pkl`) -> Keras networks.

The snapshot's modules (see `torch_pickle`) are turned into this package's configs from their
constructor kwargs (`_init_kwargs`, defaults of NVlabs/stylegan2-ada-pytorch `training/networks.py`,
and of the StyleGAN3 repository's `training/networks_stylegan2.py`), and their tensors into the
official TF names and layouts by the inverse of NVIDIA's `legacy.py` conversion:
conv weights OIHW -> HWIO (G's up-sampling convs and resnet skips also flipped spatially), dense
`[out, in]` -> `[in, out]`, `affine.bias - 1` -> `mod_bias`, `noise_const [r, r]` -> `noise{i}`,
`mapping.w_avg` -> `dlatent_avg`, `mapping.embed` -> `LabelEmbed`, D `mapping.fc{i}` -> `Mapping{i}`.
Only float32 is computed: `num_fp16_res` is accepted and ignored (as for TF pickles).
"""

import collections
import re

import numpy as np

from tf_stylegan2.networks.common import channels_rule
from tf_stylegan2.official.torch_pickle import PersistentModule
from tf_stylegan2.official.unpickler import NetworkPickleError

Snapshot = collections.namedtuple("Snapshot", ["G", "D", "G_ema", "augment_p", "training_set_kwargs"])
Snapshot.__doc__ = """A snapshot's PersistentModules `G, D, G_ema`, the augmentation probability `augment_p`
(float, 0 without an augment pipe) and `training_set_kwargs` (dict or None)."""

# Module classes of the two StyleGAN2 PyTorch implementations, per network.
G_CLASSES = {"Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer", "ToRGBLayer",
             "Conv2dLayer", "FullyConnectedLayer"}
D_CLASSES = {"Discriminator", "DiscriminatorBlock", "DiscriminatorEpilogue", "MappingNetwork", "MinibatchStdLayer",
             "Conv2dLayer", "FullyConnectedLayer"}

G_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
G_DEFAULTS = dict(mapping_kwargs={}, synthesis_kwargs={})
MAPPING_DEFAULTS = dict(num_layers=8, embed_features=None, layer_features=None, activation="lrelu",
                        lr_multiplier=0.01, w_avg_beta=0.995)
SYNTHESIS_DEFAULTS = dict(channel_base=32768, channel_max=512, num_fp16_res=0, architecture="skip",
                          resample_filter=[1, 3, 3, 1], conv_clamp=None, fp16_channels_last=False, use_noise=True,
                          activation="lrelu", fused_modconv_default=True)
D_ARGS = ("c_dim", "img_resolution", "img_channels")
D_DEFAULTS = dict(architecture="resnet", channel_base=32768, channel_max=512, num_fp16_res=0, conv_clamp=None,
                  cmap_dim=None, block_kwargs={}, mapping_kwargs={}, epilogue_kwargs={})
D_BLOCK_DEFAULTS = dict(activation="lrelu", resample_filter=[1, 3, 3, 1], fp16_channels_last=False, freeze_layers=0)
D_MAPPING_DEFAULTS = dict(MAPPING_DEFAULTS, w_avg_beta=None)
D_EPILOGUE_DEFAULTS = dict(mbstd_group_size=4, mbstd_num_channels=1, activation="lrelu")


def read_snapshot(obj):
    """The unpickled snapshot dict -> `Snapshot`.

    Raises:
      NetworkPickleError: not a snapshot, or a module of a class this port does not implement.
    """
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise NetworkPickleError("expected a StyleGAN2-ADA snapshot dict, got %s" % type(obj).__name__)
    missing = [k for k in ("G", "D", "G_ema") if not isinstance(obj.get(k), PersistentModule)]
    if missing:
        raise NetworkPickleError("snapshot lacks the networks %s (has %s)" % (", ".join(missing), _names(obj)))
    for key, top, classes in (("G", "Generator", G_CLASSES), ("D", "Discriminator", D_CLASSES),
                              ("G_ema", "Generator", G_CLASSES)):
        if obj[key].class_name != top:
            raise NetworkPickleError("snapshot %s is a %s, expected a %s" % (key, obj[key].class_name, top))
        _check_classes(obj[key], classes, key)
    kwargs = obj.get("training_set_kwargs")
    return Snapshot(obj["G"], obj["D"], obj["G_ema"], _augment_p(obj.get("augment_pipe")),
                    kwargs if isinstance(kwargs, dict) else None)


def _check_classes(module, classes, path, depth=0):
    if module.class_name not in classes:
        hint = " (a StyleGAN3 network?)" if module.class_name == "SynthesisInput" else ""
        raise NetworkPickleError("%s is a %s: not a StyleGAN2 module this port implements%s"
                                 % (path, module.class_name, hint))
    for name, sub in module.submodules(depth).items():
        if sub is not None:
            _check_classes(sub, classes, path + "." + name, depth + 1)


def _augment_p(pipe):
    if not isinstance(pipe, PersistentModule):
        return 0.0
    p = pipe.tensors().get("p")
    return float(np.asarray(p).reshape(-1)[0]) if p is not None and np.size(p) == 1 else 0.0


def _kwargs(module, positional, defaults, what, extra=()):
    """A module's constructor arguments (`_init_args` named by `positional`, then `_init_kwargs`), with
    `defaults`; keys in `extra` are returned apart. Unknown keys are refused."""
    args = module.state.get("_init_args", ())
    if not isinstance(args, tuple) or len(args) > len(positional):
        raise NetworkPickleError("%s: unexpected positional constructor arguments" % what)
    given = dict(zip(positional, args))
    given.update(module.init_kwargs)
    missing = [k for k in positional if k not in given]
    if missing:
        raise NetworkPickleError("%s: missing constructor arguments %s" % (what, ", ".join(missing)))
    apart = {k: given.pop(k) for k in extra if k in given}
    unknown = set(given) - set(positional) - set(defaults)
    if unknown:
        raise NetworkPickleError("%s: unsupported constructor arguments %s" % (what, _names(unknown)))
    out = dict(defaults)
    out.update(given)
    return out, apart


def _names(keys):
    return ", ".join(sorted(str(k) for k in keys))


def _sub_kwargs(value, defaults, what):
    if not isinstance(value, dict):
        raise NetworkPickleError("%s is not a dict" % what)
    unknown = set(value) - set(defaults)
    if unknown:
        raise NetworkPickleError("%s: unsupported arguments %s" % (what, _names(unknown)))
    return dict(defaults, **value)


def _fmap_base(channel_base):
    """ADA's `channel_base // res` as the official `fmap_base / 2**(log2(res) - 1)`."""
    return channel_base // 2 if channel_base % 2 == 0 else channel_base / 2


def generator_configs(module, what="G"):
    """A snapshot `Generator` -> (mapping config, synthesis config) for `MappingNetwork` / `SynthesisNetwork`."""
    synthesis_keys = tuple(SYNTHESIS_DEFAULTS)  # the StyleGAN3 repository passes them to Generator directly
    g, flat = _kwargs(module, G_ARGS, G_DEFAULTS, what, extra=synthesis_keys)
    m = _sub_kwargs(g["mapping_kwargs"], MAPPING_DEFAULTS, what + " mapping_kwargs")
    s = _sub_kwargs(dict(g["synthesis_kwargs"], **flat), SYNTHESIS_DEFAULTS, what + " synthesis_kwargs")
    if s["use_noise"] is not True:
        raise NetworkPickleError("%s: use_noise=%r is not supported" % (what, s["use_noise"]))
    w_dim, c_dim = int(g["w_dim"]), int(g["c_dim"])
    if c_dim and m["embed_features"] not in (None, w_dim):
        raise NetworkPickleError("%s: a label embedding of %r features other than w_dim=%d is not supported"
                                 % (what, m["embed_features"], w_dim))
    num_ws = 2 * (int(g["img_resolution"]).bit_length() - 1) - 2
    mapping = dict(z_dim=int(g["z_dim"]), c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, num_layers=int(m["num_layers"]),
                   layer_features=int(m["layer_features"] or w_dim), lr_multiplier=m["lr_multiplier"],
                   activation=m["activation"], normalize_latents=True, label_mode="embed",
                   w_avg_beta=1.0 if m["w_avg_beta"] is None else m["w_avg_beta"])
    synthesis = dict(w_dim=w_dim, img_resolution=int(g["img_resolution"]), img_channels=int(g["img_channels"]),
                     fmap_base=_fmap_base(s["channel_base"]), fmap_decay=1.0, fmap_min=1,
                     fmap_max=s["channel_max"], architecture=s["architecture"], activation=s["activation"],
                     resample_filter=list(s["resample_filter"]), conv_clamp=s["conv_clamp"])
    return mapping, synthesis


def discriminator_config(module, what="D"):
    """A snapshot `Discriminator` -> config for `Discriminator`."""
    d, _ = _kwargs(module, D_ARGS, D_DEFAULTS, what)
    block = _sub_kwargs(d["block_kwargs"], D_BLOCK_DEFAULTS, what + " block_kwargs")
    mapping = _sub_kwargs(d["mapping_kwargs"], D_MAPPING_DEFAULTS, what + " mapping_kwargs")
    epilogue = _sub_kwargs(d["epilogue_kwargs"], D_EPILOGUE_DEFAULTS, what + " epilogue_kwargs")
    c_dim = int(d["c_dim"])
    fmap_base = _fmap_base(d["channel_base"])
    nf = channels_rule(fmap_base, 1.0, 1, d["channel_max"])
    if nf(0) != nf(1):
        raise NetworkPickleError("%s: channel_base=%r, channel_max=%r give the 4x4 layers %d features and the "
                                 "official Dense0 %d: not supported" % (what, d["channel_base"], d["channel_max"],
                                                                        nf(1), nf(0)))
    cmap_dim = int(d["cmap_dim"] or nf(1))
    activation = block["activation"]
    if epilogue["activation"] != activation or (c_dim and mapping["activation"] != activation):
        raise NetworkPickleError("%s: different activations in blocks, epilogue and mapping are not supported" % what)
    if c_dim and {mapping["embed_features"], mapping["layer_features"]} - {None, cmap_dim}:
        raise NetworkPickleError("%s: label mapping features other than cmap_dim=%d are not supported"
                                 % (what, cmap_dim))
    if epilogue["mbstd_group_size"] == 1 and epilogue["mbstd_num_channels"] > 0:
        raise NetworkPickleError("%s: mbstd_group_size=1 with minibatch stddev channels is not supported" % what)
    return dict(c_dim=c_dim, img_resolution=int(d["img_resolution"]), img_channels=int(d["img_channels"]),
                architecture=d["architecture"], fmap_base=fmap_base, fmap_decay=1.0, fmap_min=1,
                fmap_max=d["channel_max"], mbstd_group_size=epilogue["mbstd_group_size"],
                mbstd_num_features=epilogue["mbstd_num_channels"], activation=activation,
                resample_filter=list(block["resample_filter"]), conv_clamp=d["conv_clamp"], label_mode="projection",
                cmap_dim=cmap_dim, mapping_layers=int(mapping["num_layers"]) if c_dim else 0,
                mapping_lr_multiplier=mapping["lr_multiplier"])


def network_spec(module, kind, what):
    """A snapshot network -> (config, `official_variables`); config: `(mapping config, synthesis config)`
    for kind "G", the `Discriminator` config for "D".

    Raises:
      NetworkPickleError: unsupported or malformed module state (never another exception).
    """
    try:
        config = generator_configs(module, what) if kind == "G" else discriminator_config(module, what)
        return config, official_variables(module, kind, what)
    except NetworkPickleError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as e:
        text = str(e).strip()
        raise NetworkPickleError("%s: malformed module state (%s: %s)"
                                 % (what, type(e).__name__, text.splitlines()[0] if text else "")) from None


# Torch layout -> official TF layout.
def _conv(w):
    return w.transpose(2, 3, 1, 0)


def _conv_flipped(w):
    return w.transpose(2, 3, 1, 0)[::-1, ::-1]


_TRANSFORMS = {
    "same": lambda x: x,
    "conv": _conv,
    "conv_flipped": _conv_flipped,
    "dense": lambda w: w.T,
    "mod_bias": lambda b: b - 1,
    "const": lambda x: x[np.newaxis],
    "noise": lambda x: x[np.newaxis, np.newaxis],
}
_PARAM_KINDS = {"weight": "conv", "bias": "same", "noise_strength": "same", "affine.weight": "dense",
                "affine.bias": "mod_bias"}


def _generator_name(name):
    """Torch G parameter/buffer name -> (official name, transform) or None (ignored)."""
    if name.endswith("resample_filter"):
        return None
    if name == "mapping.w_avg":
        return "dlatent_avg", "same"
    m = re.fullmatch(r"mapping\.(embed|fc(\d+))\.(weight|bias)", name)
    if m:
        layer = "LabelEmbed" if m.group(1) == "embed" else "Dense" + m.group(2)
        return "mapping/%s/%s" % (layer, m.group(3)), "dense" if m.group(3) == "weight" else "same"
    if name == "synthesis.b4.const":
        return "synthesis/4x4/Const/const", "const"
    m = re.fullmatch(r"synthesis\.b(\d+)\.(conv0|conv1|torgb|skip)\.(.+)", name)
    if not m:
        raise NetworkPickleError("unexpected tensor %s" % name)
    res, layer, param = int(m.group(1)), m.group(2), m.group(3)
    log2 = res.bit_length() - 1
    if param == "noise_const" and layer in ("conv0", "conv1"):
        index = 0 if res == 4 else 2 * log2 - (5 if layer == "conv0" else 4)
        return "synthesis/noise%d" % index, "noise"
    scope = {"conv0": "Conv0_up", "conv1": "Conv" if res == 4 else "Conv1", "torgb": "ToRGB", "skip": "Skip"}[layer]
    kind = _PARAM_KINDS.get(param)
    if kind is None or (layer == "skip" and param != "weight"):
        raise NetworkPickleError("unexpected tensor %s" % name)
    if kind == "conv" and layer in ("conv0", "skip"):
        kind = "conv_flipped"
    official = {"affine.weight": "mod_weight", "affine.bias": "mod_bias"}.get(param, param)
    return "synthesis/%dx%d/%s/%s" % (res, res, scope, official), kind


def _discriminator_name(name):
    """Torch D parameter/buffer name -> (official name, transform) or None (ignored)."""
    if name.endswith("resample_filter"):
        return None
    m = re.fullmatch(r"mapping\.(embed|fc(\d+))\.(weight|bias)", name)
    if m:
        layer = "LabelEmbed" if m.group(1) == "embed" else "Mapping" + m.group(2)
        return "%s/%s" % (layer, m.group(3)), "dense" if m.group(3) == "weight" else "same"
    m = re.fullmatch(r"b(\d+)\.(fromrgb|conv0|conv1|skip|conv|fc|out)\.(weight|bias)", name)
    if not m:
        raise NetworkPickleError("unexpected tensor %s" % name)
    res, layer, param = int(m.group(1)), m.group(2), m.group(3)
    scope = {"fromrgb": "%dx%d/FromRGB", "conv0": "%dx%d/Conv0", "conv1": "%dx%d/Conv1_down", "skip": "%dx%d/Skip",
             "conv": "%dx%d/Conv", "fc": "%dx%d/Dense0", "out": "Output"}[layer]
    if "%d" in scope:
        scope = scope % (res, res)
    kind = ("dense" if layer in ("fc", "out") else "conv") if param == "weight" else "same"
    return "%s/%s" % (scope, param), kind


def official_variables(module, kind, what):
    """A snapshot network's tensors as `{official TF name: array in the official layout}` (views where
    the layout allows). `kind`: "G" or "D"."""
    namer = _generator_name if kind == "G" else _discriminator_name
    out = {}
    for name, value in module.tensors().items():
        try:
            target = namer(name)
        except NetworkPickleError as e:
            raise NetworkPickleError("%s: %s" % (what, e)) from None
        if target is None:
            continue
        official, transform = target
        expected_ndim = {"conv": 4, "conv_flipped": 4, "dense": 2, "const": 3, "noise": 2}.get(transform)
        if expected_ndim is not None and value.ndim != expected_ndim:
            raise NetworkPickleError("%s: tensor %s has shape %s" % (what, name, value.shape))
        if value.dtype.kind != "f":
            raise NetworkPickleError("%s: tensor %s is of type %s, not floating point" % (what, name, value.dtype))
        out[official] = _TRANSFORMS[transform](value)
    return out
