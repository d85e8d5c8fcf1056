"""rosinality/stylegan2-pytorch checkpoints (`.pt`) -> Keras networks, without PyTorch.

Two forms are read (any `torch.save` serialization, see `official.torch_pickle.load_torch_file`):
- converted (`convert_weight.py`): `{"g_ema", "latent_avg"[, "g", "d"]}`;
- training (`train.py`): `{"g", "d", "g_ema", "g_optim", "d_optim", "args", "ada_aug_p"}`, without
  `latent_avg`: the truncation centre is then estimated as rosinality's `mean_latent` does, the
  mean of `g_ema.style(z)` over `MEAN_LATENT_SAMPLES` z drawn by
  `np.random.RandomState(MEAN_LATENT_SEED).randn` (a note says so). Optimizer states are ignored.

The architecture comes from the tensors: `size` (the number of `to_rgbs`), `style_dim`, `n_mlp`
(the `style.{i}` layers) and the channel count of every resolution (the weight shapes), as an
official `fmap_base`/`fmap_max` rule when one reproduces it, else as an explicit per-resolution
`channels` table (such networks cannot be saved as official pickles). Fixed by rosinality's code:
the mapping's lr_mul 0.01 (`lr_mlp`), the blur kernel [1, 3, 3, 1] (checked against the kernel
buffers), a 'skip' generator and 'resnet' discriminator, minibatch-stddev groups of 4 with 1
feature. `G` (from `g`, its own weights and noise buffers) shares `G_ema`'s truncation centre.
"""

import sys

import numpy as np

from tf_stylegan2.networks import Discriminator
from tf_stylegan2.networks.common import channels_rule
from tf_stylegan2.official.load import Networks, build_network, generator_from_configs
from tf_stylegan2.official.torch_pickle import load_torch_file
from tf_stylegan2.official.unpickler import NetworkPickleError
from tf_stylegan2.rosinality import names

MEAN_LATENT_SAMPLES = 4096  # rosinality's generate.py: --truncation_mean 4096
MEAN_LATENT_SEED = 5
LR_MLP = 0.01
CONVERTED_KEYS = {"g_ema", "latent_avg", "g", "d"}
TRAIN_KEYS = {"g", "d", "g_ema", "g_optim", "d_optim", "args", "ada_aug_p"}
SUPPORTED_ARCH = "stylegan2"


def generator_from_state_dict(tensors, latent_avg=None, name="G_ema", release=False):
    """A `Generator` from a rosinality `Generator.state_dict()`.

    Args:
      tensors: `{name: np.ndarray}` with rosinality's names WITHOUT a prefix (`style.1.weight`,
        `input.input`, `conv1.conv.weight`, `convs.0.conv.weight`, `to_rgbs.0.bias`,
        `noises.noise_0`, ...; e.g. pSp's `decoder.*` with `decoder.` stripped), in torch's layouts.
        The blur-kernel buffers may be present or absent; every other tensor is required.
      latent_avg: `[style_dim]` (or any shape of style_dim elements) truncation centre -> the
        generator's `w_avg`; None: zeros (see `mean_latent` to estimate one).
      name: the Keras name of the generator.
      release: empty `tensors` as it is read (so each array can be freed once its variable exists).
    Returns:
      `tf_stylegan2.Generator` (mapping z [N, style_dim] -> W+ [N, 2*log2(size)-2, style_dim],
      images NHWC float32 about [-1, 1]); the stored noise buffers are its "const" noise.
    Raises:
      NetworkPickleError (a ValueError): missing, unexpected or misshapen tensors, or a variant
        this port does not implement (one line naming it).
    """
    tensors = _float_tensors(tensors, name)
    style_dim, n_mlp = _mapping_shape(tensors, name)
    log2_res = _count(tensors, "to_rgbs.%d.bias", 0) + 2
    kernels = _check_kernels(tensors, names.generator_blur_kernels(log2_res), name)
    channels = [_shape(tensors, "input.input", 4, name)[1]]
    channels += [_shape(tensors, "convs.%d.conv.weight" % (2 * i), 5, name)[1] for i in range(log2_res - 2)]
    variables = _official(tensors, names.generator_table(log2_res, n_mlp), kernels, name, release)
    variables["dlatent_avg"] = _latent_avg(latent_avg, style_dim, name)
    mapping = dict(z_dim=style_dim, c_dim=0, w_dim=style_dim, num_ws=2 * log2_res - 2, num_layers=n_mlp,
                   layer_features=style_dim, lr_multiplier=LR_MLP, activation="lrelu", normalize_latents=True)
    synthesis = dict(w_dim=style_dim, img_resolution=2 ** log2_res, img_channels=3, architecture="skip",
                     resample_filter=list(names.MAKE_KERNEL), **channel_config(channels, name))
    return _build(lambda: generator_from_configs(mapping, synthesis, name), variables,
                  names.generator_table(log2_res, n_mlp), name)


def discriminator_from_state_dict(tensors, name="D", release=False):
    """A `Discriminator` (resnet, minibatch stddev group 4) from a rosinality `Discriminator.state_dict()`
    (`tensors`: `{name: np.ndarray}` without a prefix; `release` as for `generator_from_state_dict`).
    Raises NetworkPickleError as `generator_from_state_dict`."""
    tensors = _float_tensors(tensors, name)
    log2_res = _count(tensors, "convs.%d.conv1.0.weight", 1) + 2
    kernels = _check_kernels(tensors, names.discriminator_blur_kernels(log2_res), name)
    by_res = [_shape(tensors, "final_conv.0.weight", 4, name)[0]]
    by_res += [_shape(tensors, "convs.%d.conv1.0.weight" % (log2_res - 2 - i), 4, name)[0]
               for i in range(log2_res - 2)]
    if _shape(tensors, "final_linear.0.weight", 2, name)[0] != by_res[0]:
        raise NetworkPickleError("%s: final_linear.0 has %d features, final_conv %d: not a rosinality "
                                 "discriminator" % (name, tensors["final_linear.0.weight"].shape[0], by_res[0]))
    variables = _official(tensors, names.discriminator_table(log2_res), kernels, name, release)
    config = dict(img_resolution=2 ** log2_res, img_channels=3, architecture="resnet", mbstd_group_size=4,
                  mbstd_num_features=1, resample_filter=list(names.MAKE_KERNEL), **channel_config(by_res, name))
    return _build(lambda: Discriminator(name=name, **config), variables, names.discriminator_table(log2_res), name)


def _build(build, variables, table, what):
    """`official.load.build_network`, its errors naming rosinality's tensors."""
    try:
        return build_network(build, variables, what)
    except NetworkPickleError as e:
        text = str(e)
        for ros, official, _ in table:
            text = text.replace("variable %s has" % official, "tensor %s (official %s) has" % (ros, official))
        raise NetworkPickleError(text) from None


def channel_config(channels, what):
    """Channel counts of resolutions 4, 8, ..., R -> `dict(fmap_base=, fmap_max=)` when the official
    rule `min(fmap_base / 2**(log2(res) - 1), fmap_max)` gives exactly these (and `nf(0)` =
    the 4x4 count, a discriminator's Dense0), else `dict(channels=channels)` (an explicit table,
    which official pickles cannot hold)."""
    channels = [int(c) for c in channels]
    if min(channels) < 1:
        raise NetworkPickleError("%s: a resolution with no channels" % what)
    fmap_max = channels[0]
    fmap_base = channels[-1] * 2 ** (len(channels) - 1) * 2
    nf = channels_rule(fmap_base, 1.0, 1, fmap_max)
    if all(nf(stage + 1) == c for stage, c in enumerate(channels)) and nf(0) == fmap_max:
        return dict(fmap_base=fmap_base, fmap_max=fmap_max)
    return dict(channels=channels)


def mean_latent(G, samples=MEAN_LATENT_SAMPLES, seed=MEAN_LATENT_SEED):
    """rosinality's `Generator.mean_latent(samples)` with NumPy's generator: the mean of
    `G.mapping(z)` over `z = np.random.RandomState(seed).randn(samples, z_dim)` -> `[w_dim]` float32."""
    z = np.random.RandomState(seed).randn(samples, G.z_dim).astype(np.float32)
    return np.asarray(G.mapping(z)[:, 0]).mean(axis=0, dtype=np.float64).astype(np.float32)


def load_checkpoint(path):
    """Read a rosinality `.pt` -> `Networks(G, D, G_ema)` (`G`, `D` None when the file has no `g` / `d`).

    Raises:
      NetworkPickleError (a ValueError): unreadable, unsafe, not a rosinality checkpoint, or a
        variant this port does not implement; one line.
    """
    return networks_from_checkpoint(load_torch_file(path), path)


def networks_from_checkpoint(obj, what="checkpoint"):
    """A loaded rosinality checkpoint dict (`load_torch_file`) -> `Networks(G, D, G_ema)`; the state
    dicts are popped from `obj` and emptied as their networks are built (each array freed once its
    variable exists: peak memory about the file's size)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("g_ema"), dict):
        keys = ", ".join(sorted(map(str, obj))) if isinstance(obj, dict) else type(obj).__name__
        raise NetworkPickleError("%s: a PyTorch file, but not a rosinality/stylegan2-pytorch checkpoint (no g_ema; "
                                 "has %s)" % (what, keys))
    unknown = set(obj) - CONVERTED_KEYS - TRAIN_KEYS
    if unknown:
        raise NetworkPickleError("%s: unexpected entries %s in a rosinality checkpoint"
                                 % (what, ", ".join(sorted(map(str, unknown)))))
    args = obj.get("args")
    arch = args.get("arch", SUPPORTED_ARCH) if isinstance(args, dict) else SUPPORTED_ARCH
    if arch != SUPPORTED_ARCH:
        raise NetworkPickleError("%s: args.arch=%r (e.g. SWAGAN) is not supported, only %r"
                                 % (what, arch, SUPPORTED_ARCH))
    for key in ("g", "d"):
        if key in obj and not isinstance(obj[key], dict):
            raise NetworkPickleError("%s: %s is a %s, not a state dict" % (what, key, type(obj[key]).__name__))
    latent_avg = obj.get("latent_avg")
    G_ema = generator_from_state_dict(obj.pop("g_ema"), latent_avg, "G_ema", release=True)
    if latent_avg is None:
        G_ema.mapping.w_avg.assign(mean_latent(G_ema))
        _note("%s has no latent_avg: truncation centre estimated as rosinality's mean_latent (mean of g_ema's W "
              "over %d z from np.random.RandomState(%d))" % (what, MEAN_LATENT_SAMPLES, MEAN_LATENT_SEED))
    G = D = None
    if "g" in obj:
        G = generator_from_state_dict(obj.pop("g"), None, "G", release=True)
        G.mapping.w_avg.assign(G_ema.mapping.w_avg)
    if "d" in obj:
        D = discriminator_from_state_dict(obj.pop("d"), "D", release=True)
    return Networks(G, D, G_ema)


def _note(text):
    sys.stderr.write("note: %s\n" % text)


def _float_tensors(tensors, what):
    if not isinstance(tensors, dict):
        raise NetworkPickleError("%s: expected a state dict, got %s" % (what, type(tensors).__name__))
    for key, value in tensors.items():
        if not isinstance(key, str) or not isinstance(value, np.ndarray):
            raise NetworkPickleError("%s: state dict entry %r is not a named tensor" % (what, key))
        if value.dtype.kind != "f":
            raise NetworkPickleError("%s: tensor %s is of type %s, not floating point" % (what, key, value.dtype))
    return tensors


def _shape(tensors, key, ndim, what):
    value = tensors.get(key)
    if value is None:
        raise NetworkPickleError("%s: missing tensor %s" % (what, key))
    if value.ndim != ndim:
        raise NetworkPickleError("%s: tensor %s has shape %s, expected %d dimensions" % (what, key, value.shape, ndim))
    return value.shape


def _mapping_shape(tensors, what):
    """(style_dim, n_mlp) from `style.{1..n}.weight`."""
    n_mlp = _count(tensors, "style.%d.weight", 1)
    if not n_mlp:
        raise NetworkPickleError("%s: no mapping layers (style.1.weight): not a rosinality generator" % what)
    return _shape(tensors, "style.1.weight", 2, what)[1], n_mlp


def _count(tensors, pattern, first):
    """How many of `pattern % first`, `pattern % (first + 1)`, ... are consecutive keys of `tensors`."""
    n = 0
    while pattern % (first + n) in tensors:
        n += 1
    return n


def _check_kernels(tensors, expected, what):
    """Refuse blur-kernel buffers other than `expected` ({name: value}); -> their names."""
    for key, kernel in expected.items():
        value = tensors.get(key)
        if value is not None and (value.shape != kernel.shape or not np.allclose(value, kernel, rtol=0, atol=1e-6)):
            raise NetworkPickleError("%s: blur kernel %s is not make_kernel([1, 3, 3, 1]): other blur kernels are not "
                                     "supported" % (what, key))
    return set(expected)


def _official(tensors, table, kernels, what, release=False):
    """The state dict as `{official name: array}` (views; `release`: `tensors` is emptied); every
    table entry required, nothing else allowed but the blur kernels named in `kernels` (checked by
    `_check_kernels`)."""
    known = {ros for ros, _, _ in table}
    unexpected = sorted(k for k in tensors if k not in known and k not in kernels)
    if unexpected:
        raise NetworkPickleError("%s: unexpected tensors %s (a SWAGAN or other variant?)"
                                 % (what, ", ".join(unexpected[:5]) + (" ..." if len(unexpected) > 5 else "")))
    missing = sorted(known - set(tensors))
    if missing:
        raise NetworkPickleError("%s: missing tensors %s" % (what, ", ".join(missing[:5])
                                                              + (" ..." if len(missing) > 5 else "")))
    out = {}
    for ros, official, kind in table:
        value = tensors[ros]
        expected_ndim = {"modconv": 5, "modconv_up": 5, "conv": 4, "dense": 2, "rgb_bias": 4}.get(kind)
        if expected_ndim is not None and value.ndim != expected_ndim:
            raise NetworkPickleError("%s: tensor %s has shape %s" % (what, ros, value.shape))
        if kind == "scalar" and value.size != 1:
            raise NetworkPickleError("%s: tensor %s has shape %s, expected [1]" % (what, ros, value.shape))
        out[official] = names.to_official(value.astype(np.float32, copy=False), kind)
    if release:
        tensors.clear()
    return out


def _latent_avg(latent_avg, style_dim, what):
    if latent_avg is None:
        return np.zeros([style_dim], np.float32)
    value = np.asarray(latent_avg)
    if value.dtype.kind != "f" or value.size != style_dim:
        raise NetworkPickleError("%s: latent_avg has shape %s, expected [%d]" % (what, value.shape, style_dim))
    return value.reshape(style_dim).astype(np.float32)
