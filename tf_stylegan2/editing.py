"""Latent editing: SeFa directions found from the generator's weights (spec §9), edits
`w + degree * direction` on all or some layers, and direction files (SeFa `.npz`, PaddleGAN-style
name → vector `.npz`, plain `.npy`).

Latents are float32 `[N, num_ws, w_dim]` (the synthesis network's input). A direction is
`[w_dim]` (the same step on every edited layer) or `[num_ws, w_dim]` (a step per layer).
Layer selections name w indices: "all", a group of StyleGAN's paper ("coarse" 0-3, i.e. 4x4-8x8;
"middle" 4-7, 16x16-32x32; "fine" 8 and up, 64x64 and up) or a list of ints.
"""

import os

import numpy as np

from tf_stylegan2.files import save_npz

LAYER_GROUPS = {"all": (0, None), "coarse": (0, 4), "middle": (4, 8), "fine": (8, None)}


def layer_indices(layers, count):
    """A layer selection -> sorted unique ints in `0..count-1`.

    Args:
      layers: None (all), a `LAYER_GROUPS` name, or an iterable of ints.
      count: number of selectable layers.
    Raises:
      ValueError: an unknown group, a group with no layer in this network, an index out of range,
      or an empty selection.
    """
    if layers is None:
        layers = "all"
    if isinstance(layers, str):
        if layers not in LAYER_GROUPS:
            raise ValueError("unknown layer group %r: expected one of %s or indices like 0-3,7"
                             % (layers, ", ".join(LAYER_GROUPS)))
        lo, hi = LAYER_GROUPS[layers]
        indices = list(range(lo, count if hi is None else min(hi, count)))
        if not indices:
            raise ValueError("layer group %r is empty: this network has layers 0-%d" % (layers, count - 1))
        return indices
    indices = sorted(set(int(i) for i in layers))
    bad = [i for i in indices if not 0 <= i < count]
    if bad:
        raise ValueError("layer indices %s out of range: this network has layers 0-%d" % (bad, count - 1))
    if not indices:
        raise ValueError("no layers selected")
    return indices


def modulated_conv_layers(G):
    """The modulated 3x3 conv layers of `G.synthesis` (ToRGB excluded), ordered by the w index
    each reads: entry `i` reads `ws[:, i]`, so there are `num_ws - 1`. For a StyleGAN (v1) network
    the `num_ws` styled layers (the constant's first), whose `mod_weight` is the StyleMod weight
    (scale and bias columns, as genforce's SeFa uses it).

    Raises:
      ValueError: a generator without Keras layers (a SavedModel).
    """
    blocks = getattr(G.synthesis, "blocks", None)
    if blocks is None:
        raise ValueError("SeFa needs the network's weights: load a pickle or converted directory, not a SavedModel")
    return [block[key] for block in blocks for key in ("conv0", "conv1") if key in block]


def style_weight_matrix(G, layers=None):
    """The stacked affine (style) weights of the chosen conv layers -> float64 `[Σ in_channels, w_dim]`.

    Row block `l` is layer `l`'s `mod_weight` transposed (raw equalized-lr weights: the uniform
    `1/sqrt(w_dim)` gain changes no direction).
    """
    convs = modulated_conv_layers(G)
    return np.concatenate([np.asarray(convs[i].mod_weight, np.float64).T for i in layer_indices(layers, len(convs))])


def sign_normalize(vectors):
    """Flip each row of `[k, d]` so that its largest-magnitude entry is positive (SVD's sign is arbitrary)."""
    vectors = np.asarray(vectors)
    peak = vectors[np.arange(len(vectors)), np.argmax(np.abs(vectors), axis=1)]
    return vectors * np.where(peak < 0, -1, 1)[:, np.newaxis]


def sefa_directions(G, layers=None):
    """Closed-form factorisation (SeFa): the right-singular vectors of `style_weight_matrix(G, layers)`.

    Args:
      G: a Keras `Generator`.
      layers: conv layers to use (`layer_indices` over the `num_ws - 1` modulated convs; None = all).
    Returns:
      `(directions, singular_values)`: float32 `[k, w_dim]` unit rows, sign-normalised, in
      descending singular-value order, and float32 `[k]`, with `k = min(Σ in_channels, w_dim)`.
    """
    _, s, vt = np.linalg.svd(style_weight_matrix(G, layers), full_matrices=False)
    return sign_normalize(vt).astype(np.float32), s.astype(np.float32)


def check_direction(direction, num_ws, w_dim, name="direction"):
    """`direction` as float32 `[w_dim]` or `[num_ws, w_dim]` (leading axes of size 1 dropped).

    Raises:
      ValueError: any other shape, or values that are not finite floats.
    """
    d = np.asarray(direction)
    shape = list(d.shape)
    while d.ndim > 1 and d.shape[0] == 1 and d.shape != (num_ws, w_dim):
        d = d[0]
    if d.shape not in ((w_dim,), (num_ws, w_dim)):
        raise ValueError("%s has shape %s; this network needs [%d] or [%d, %d]" % (name, shape, w_dim, num_ws, w_dim))
    if not np.issubdtype(d.dtype, np.floating) or not np.all(np.isfinite(d)):
        raise ValueError("%s must hold finite floats" % name)
    return d.astype(np.float32)


def edit(ws, direction, degree, layers=None):
    """`ws + degree * direction` on the chosen layers (others unchanged).

    Args:
      ws: `[N, num_ws, w_dim]` latents.
      direction: `[w_dim]` or `[num_ws, w_dim]` (not normalised: PaddleGAN's directions carry their scale).
      degree: scalar step.
      layers: w indices to edit (`layer_indices`; None = all).
    Returns:
      float32 `[N, num_ws, w_dim]`; degree 0 returns `ws` exactly.
    """
    ws = np.asarray(ws, np.float32)
    if ws.ndim != 3:
        raise ValueError("latents must be [N, num_ws, w_dim], got shape %s" % (list(ws.shape),))
    num_ws, w_dim = ws.shape[1:]
    step = np.broadcast_to(check_direction(direction, num_ws, w_dim), (num_ws, w_dim)) * np.float32(degree)
    mask = np.zeros([num_ws, 1], np.float32)
    mask[layer_indices(layers, num_ws)] = 1
    return ws + mask * step


def load_directions(path):
    """Read a direction file -> `{key: array}` in file order.

    - `.npz` with `directions` `[k, w_dim]` (written by `save_sefa`): keys `0..k-1`;
    - any other `.npz`: name → vector (PaddleGAN's direction dict saved with `np.savez(path, **dirs)`);
    - `.npy`: `[w_dim]` gives key 0, `[k, w_dim]` keys `0..k-1` (so a per-layer `[num_ws, w_dim]`
      direction goes in a named `.npz`).

    Raises:
      OSError: unreadable file. ValueError: not a NumPy file, Python objects (pickles are not
      loaded), or no arrays.
    """
    path = os.fspath(path)
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise ValueError("%s holds Python objects, which are not loaded: save the name -> vector dict "
                             "with np.savez(path, **directions)" % path) from None
        raise ValueError("%s is not a .npy/.npz direction file (%s)" % (path, str(e).splitlines()[0])) from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if "directions" in data.files:
                return _rows(data["directions"], path)
            if not data.files:
                raise ValueError("%s holds no arrays" % path)
            return {name: data[name] for name in data.files}
    return _rows(data[np.newaxis] if data.ndim == 1 else data, path)


def _rows(array, path):
    if array.ndim != 2 or not len(array):
        raise ValueError("%s holds directions of shape %s, expected [k, w_dim]" % (path, list(array.shape)))
    return dict(enumerate(array))


def select_direction(directions, key):
    """The direction named `key` (a name, or an index given as int or digits) from `load_directions`.

    Raises:
      ValueError: no such name or index (the message lists what there is).
    """
    if key in directions:
        return directions[key]
    text = str(key).strip()
    if text in directions:
        return directions[text]
    if text.lstrip("-").isdigit() and int(text) in directions:
        return directions[int(text)]
    keys = list(directions)
    if all(isinstance(k, int) for k in keys):
        raise ValueError("direction %s out of range: the file has directions 0-%d" % (text, len(keys) - 1))
    shown = ", ".join(str(k) for k in keys[:20]) + (", ..." if len(keys) > 20 else "")
    raise ValueError("no direction %r: the file has %s" % (text, shown))


def save_sefa(path, directions, singular_values):
    """Write SeFa's result atomically as `.npz` (`directions` `[k, w_dim]`, `singular_values` `[k]`)."""
    save_npz(path, directions=np.asarray(directions, np.float32),
             singular_values=np.asarray(singular_values, np.float32))
