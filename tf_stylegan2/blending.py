"""Network blending (spec §8, JP `blend_models.py`, "toonify"): the synthesis layers of two generators
of the same architecture are interpolated per resolution, coarse layers from one, fine from the other.

Layer positions, as in JP: at resolution `r`, `pos = 2*log2(r/4) + level` with level 0 for
`Const` / `Conv0_up` and level 1 for `Conv1` / `ToRGB`. Only these layers are matched; the
mapping network, `w_avg`, the noise buffers, the 4x4 `Conv` layer (scope `Conv`, neither
`Conv0_up` nor `Conv1`) and resnet `Skip` layers stay as in the low-resolution network.

StyleGAN (v1) networks blend with each other by the same rule: their synthesis layers carry the
same scopes (`4x4/Const`, `4x4/Conv`, `<r>x<r>/Conv0_up`, `<r>x<r>/Conv1`), and the ToRGB of
progressive level `ToRGB_lod<k>` belongs to resolution `R / 2**k` (level 1; only `ToRGB_lod0`, at
the output resolution `R`, draws the image). A v1 network and a StyleGAN2 one cannot be blended.
rosinality checkpoints are StyleGAN2 networks: they blend with official networks of the same
architecture (channel counts are compared through the weight shapes, whether a network states
them as an fmap rule or as rosinality's explicit table).
"""

import math
import re

import numpy as np

from tf_stylegan2.networks.common import resolution_log2
from tf_stylegan2.stylegan1 import StyleGAN1Synthesis

_MATCHED_LAYER = re.compile(r"^(\d+)x\d+/(Const|Conv0_up|Conv1|ToRGB)/")
_V1_TORGB = re.compile(r"^ToRGB_lod(\d+)/")
_LEVELS = {"Const": 0, "Conv0_up": 0, "Conv1": 1, "ToRGB": 1}
# Config entries that do not change the weights (the name, the execution path) or whose effect, the
# channel counts, is compared through the variable shapes.
_CONFIG_KEYS_IGNORED = ("name", "fused_modconv", "fmap_base", "fmap_decay", "fmap_min", "fmap_max", "channels")


def layer_position(name, img_resolution=None):
    """Blend position of an official synthesis variable name (e.g. `"32x32/Conv1/weight"` -> 7), or
    None for the variables that are not blended. A StyleGAN (v1) `ToRGB_lod<k>/...` name needs the
    network's `img_resolution` R: it is the ToRGB of resolution `R / 2**k`."""
    m = _MATCHED_LAYER.match(name)
    if m:
        return 2 * (resolution_log2(int(m.group(1))) - 2) + _LEVELS[m.group(2)]
    m = _V1_TORGB.match(name)
    if not m:
        return None
    if img_resolution is None:
        raise ValueError("the position of %s needs the network's img_resolution" % name)
    return 2 * (resolution_log2(img_resolution) - int(m.group(1)) - 2) + _LEVELS["ToRGB"]


def blend_factor(position, mid, blend_width=None):
    """Share of the high-resolution network at `position`, the switch being at position `mid`.

    Hard switch (`blend_width` None): 0 up to `mid + 1`, 1 from `mid + 2` on (JP's `x > 1`).
    Soft: `sigmoid((position - mid) / blend_width)`, 0.5 at `mid`.
    """
    x = position - mid
    if blend_width is None:
        return 1.0 if x > 1 else 0.0
    return 1.0 / (1.0 + math.exp(-x / blend_width))


def check_compatible(low, high):
    """Raise ValueError unless both generators are Keras `Generator`s of the same kind (StyleGAN2 or
    StyleGAN v1) with the same synthesis network and the same inputs (z_dim, c_dim)."""
    for G in (low, high):
        if not hasattr(G, "official_weights"):
            raise ValueError("blending needs Keras networks (a pickle or a converted directory), not %s"
                             % type(G).__name__)
    kinds = ["StyleGAN (v1)" if isinstance(G.synthesis, StyleGAN1Synthesis) else "StyleGAN2" for G in (low, high)]
    if kinds[0] != kinds[1]:
        raise ValueError("cannot blend a %s network with a %s one: their synthesis layers differ" % tuple(kinds))
    configs = [dict({k: v for k, v in G.synthesis.get_config().items() if k not in _CONFIG_KEYS_IGNORED},
                    z_dim=G.z_dim, c_dim=G.c_dim) for G in (low, high)]
    differ = ["%s %r vs %r" % (k, configs[0][k], configs[1].get(k))
              for k in configs[0] if configs[0][k] != configs[1].get(k)]
    if differ:
        raise ValueError("networks are not compatible for blending: %s" % "; ".join(differ))
    w_low, w_high = low.synthesis.official_weights(), high.synthesis.official_weights()
    shapes = [k for k in w_low if k not in w_high or tuple(w_low[k][0].shape) != tuple(w_high[k][0].shape)]
    if shapes or set(w_high) - set(w_low):
        raise ValueError("networks are not compatible for blending: variables differ (%s)"
                         % ", ".join(shapes or sorted(set(w_high) - set(w_low))))


def blend_networks(low, high, resolution, level=0, blend_width=None):
    """A new generator of `low`'s class: `low` with its matched synthesis variables replaced by
    `y * high + (1 - y) * low`, `y = blend_factor(pos, pos(resolution, level), blend_width)`.

    Args:
      low, high: generators of the same architecture (e.g. a fine-tune and its base model), both
        StyleGAN2 (`Generator`, from any source) or both StyleGAN v1 (`StyleGAN1Generator`).
      resolution: switch resolution, a power of two from 4 to `img_resolution`.
      level: 0 (switch at the resolution's `Conv0_up`) or 1 (at its `Conv1`).
      blend_width: None for a hard switch, else the width (> 0, in layer positions) of a sigmoid.
    Raises:
      ValueError: incompatible networks or bad switch arguments.
    """
    check_compatible(low, high)
    if level not in (0, 1):
        raise ValueError("blend level must be 0 or 1, got %r" % (level,))
    if blend_width is not None and not blend_width > 0:
        raise ValueError("blend width must be positive, got %r" % (blend_width,))
    log2_res = resolution_log2(resolution)
    if resolution > low.img_resolution:
        raise ValueError("switch resolution %d above the networks' resolution %d" % (resolution, low.img_resolution))
    mid = 2 * (log2_res - 2) + level

    blended = type(low).from_config(low.get_config())
    targets = blended.official_weights()
    for name, (var, _) in low.official_weights().items():
        targets[name][0].assign(var)
    high_weights = high.synthesis.official_weights()
    for name, (var, _) in blended.synthesis.official_weights().items():
        position = layer_position(name, low.img_resolution)
        if position is not None:
            y = np.float32(blend_factor(position, mid, blend_width))
            var.assign(y * high_weights[name][0].numpy() + (1 - y) * var.numpy())
    return blended

