"""Keras networks -> a rosinality/stylegan2-pytorch checkpoint (`.pt`), without PyTorch.

`save_rosinality(networks, path)` writes the converted form `{"g_ema", "latent_avg"[, "g", "d"]}`
(`convert_weight.py`'s) in torch's zip format: state dicts with rosinality's names, layouts and
buffers (noise buffers from the stored const noise, blur kernels), for
`Generator(size, style_dim, n_mlp, channel_multiplier).load_state_dict(ckpt["g_ema"], strict=True)`.
Networks rosinality cannot express (labels, 'orig'/'resnet' generators, other blur kernels,
activations or mapping widths, minibatch stddev other than 4 x 1) are refused.
"""

import collections

import numpy as np

from tf_stylegan2.networks.common import to_official
from tf_stylegan2.official.torch_save import save_torch_file
from tf_stylegan2.rosinality import names
from tf_stylegan2.rosinality.load import LR_MLP

ROSINALITY_MAX_CHANNELS = 512
ROSINALITY_CHANNEL_BASE = 16384  # channels[res] = min(16384 * channel_multiplier // res, 512)


class UnsupportedNetworkError(ValueError):
    """A network that rosinality's model cannot hold."""


def _require(ok, what, text):
    if not ok:
        raise UnsupportedNetworkError("%s: %s: rosinality/stylegan2-pytorch cannot hold it" % (what, text))


def _official_values(net):
    return {name: to_official(var.numpy(), layout) for name, (var, layout) in net.official_weights().items()}


def _state_dict(values, table, kernels):
    out = collections.OrderedDict((ros, np.ascontiguousarray(names.from_official(values[official], kind), np.float32))
                                  for ros, official, kind in table)
    out.update(kernels)
    return out


def generator_state_dict(G, what="G_ema"):
    """A Keras `Generator` -> rosinality's `Generator.state_dict()` as `OrderedDict{name: float32 array}`."""
    m, s = getattr(G, "mapping", None), getattr(G, "synthesis", None)
    _require(m is not None and s is not None, what, "not a Keras generator (a SavedModel?)")
    _require(G.c_dim == 0, what, "a conditional generator (%d labels)" % G.c_dim)
    _require(s.img_channels == 3, what, "%d image channels" % s.img_channels)
    _require(s.architecture == "skip", what, "architecture %r (rosinality's is 'skip')" % s.architecture)
    _require(list(s.resample_filter) == list(names.MAKE_KERNEL), what, "blur kernel %s" % list(s.resample_filter))
    _require(m.z_dim == m.w_dim == m.layer_features, what,
             "z_dim %d, w_dim %d, mapping width %d differ" % (m.z_dim, m.w_dim, m.layer_features))
    _require(m.lr_multiplier == LR_MLP and m.normalize_latents, what,
             "mapping lr multiplier %g / normalize_latents %s" % (m.lr_multiplier, m.normalize_latents))
    _require(m.activation == s.activation == "lrelu", what, "activation %s" % s.activation)
    log2_res = s.log2_res
    values = _official_values(G)
    return _state_dict(values, names.generator_table(log2_res, m.num_layers), names.generator_blur_kernels(log2_res))


def discriminator_state_dict(D, what="D"):
    """A Keras `Discriminator` -> rosinality's `Discriminator.state_dict()`."""
    _require(D.c_dim == 0, what, "a conditional discriminator (%d labels)" % D.c_dim)
    _require(D.img_channels == 3, what, "%d image channels" % D.img_channels)
    _require(D.architecture == "resnet", what, "architecture %r (rosinality's is 'resnet')" % D.architecture)
    _require(list(D.resample_filter) == list(names.MAKE_KERNEL), what, "blur kernel %s" % list(D.resample_filter))
    _require(D.activation == "lrelu", what, "activation %s" % D.activation)
    _require(D.mbstd_group_size == 4 and D.mbstd_num_features == 1, what,
             "minibatch stddev group %s x %d features (rosinality's: 4 x 1)" % (D.mbstd_group_size,
                                                                                 D.mbstd_num_features))
    values = _official_values(D)
    conv, dense = values["4x4/Conv/weight"], values["4x4/Dense0/weight"]
    _require(conv.shape[3] == dense.shape[1], what, "4x4 layers of %d features but Dense0 of %d"
             % (conv.shape[3], dense.shape[1]))
    log2_res = D.log2_res
    return _state_dict(values, names.discriminator_table(log2_res), names.discriminator_blur_kernels(log2_res))


def checkpoint(networks):
    """`Networks(G, D, G_ema)` -> the converted-form dict (`g`, `d` only when the networks have them)."""
    out = {"g_ema": generator_state_dict(networks.G_ema, "G_ema"),
           "latent_avg": np.asarray(networks.G_ema.mapping.w_avg.numpy(), np.float32)}
    if networks.G is not None:
        out["g"] = generator_state_dict(networks.G, "G")
    if networks.D is not None:
        out["d"] = discriminator_state_dict(networks.D, "D")
    return out


def constructor_call(G):
    """How to build rosinality's matching `Generator` (a Python call as text), or a sentence saying
    that no `channel_multiplier` gives this network's channel table."""
    s, weights = G.synthesis, G.official_weights()
    channels = [int(weights["synthesis/4x4/Const/const"][0].shape[-1])]
    channels += [int(weights["synthesis/%dx%d/Conv1/weight" % (2 ** r, 2 ** r)][0].shape[-1])
                 for r in range(3, s.log2_res + 1)]
    for multiplier in (1, 2, 4):
        table = [min(ROSINALITY_CHANNEL_BASE * multiplier // 2 ** r, ROSINALITY_MAX_CHANNELS)
                 for r in range(2, s.log2_res + 1)]
        if table == channels:
            return "Generator(%d, %d, %d, channel_multiplier=%d)" % (s.img_resolution, G.w_dim, G.mapping.num_layers,
                                                                     multiplier)
    return ("channels %s at resolutions 4..%d are not rosinality's table for any channel_multiplier: set "
            "Generator.channels to them before load_state_dict" % (channels, s.img_resolution))


def save_rosinality(networks, path):
    """Write `networks` (`Networks(G, D, G_ema)`; G and D may be None) as a rosinality converted
    checkpoint at `path`, atomically. Returns `constructor_call(networks.G_ema)`.

    Raises:
      UnsupportedNetworkError (a ValueError): a network rosinality's model cannot hold (one line).
      OSError: the file cannot be written.
    """
    save_torch_file(checkpoint(networks), path)
    return constructor_call(networks.G_ema)
