"""Rendering for the generation apps: seeds in batches with the four noise conventions, latents,
official style-mixing tiles and grid, PaddleGAN-style per-layer latent mixing.

Works with any generator exposing `mapping`, `synthesis` and the dims (`z_dim, c_dim, num_ws,
img_resolution, img_channels`); seeded noise also needs `synthesis.num_noise` and noise overrides
(a Keras `Generator`, not a SavedModel). Images are uint8 numpy NHWC
`[N, H, W, C]` (official saturate cast, `sg.to_uint8`).
"""

import numpy as np

from tf_stylegan2.images import to_uint8
from tf_stylegan2.networks.generator import mix_styles
from tf_stylegan2.seeds import seeded_noise, z_from_seeds

# "seeded": the TF1 generate-images convention, noise drawn from the seed's RandomState after z.
NOISE_MODES = ("const", "random", "none", "seeded")
DEFAULT_TRUNCATION_PSI = 0.5  # NVIDIA's StyleGAN2 run_generator.py


def default_truncation_psi(G):
    """The truncation psi the apps use when given none: the network's own (`G.default_truncation_psi`,
    NVIDIA's 0.7 for StyleGAN v1 networks, which also truncate only their first 8 layers by default),
    else 0.5 as NVIDIA's StyleGAN2 apps."""
    return getattr(G, "default_truncation_psi", DEFAULT_TRUNCATION_PSI)


def batches(items, batch_size):
    """Consecutive slices of `items` with at most `batch_size` elements."""
    if batch_size < 1:
        raise ValueError("batch size must be at least 1, got %d" % batch_size)
    return [items[i:i + batch_size] for i in range(0, len(items), batch_size)]


def class_labels(G, class_idx, n):
    """One-hot labels `[n, c_dim]` for a conditional generator, None for an unconditional one.

    Raises:
      ValueError: a conditional network without `class_idx`, an index out of range, or a class
      given to an unconditional network.
    """
    if G.c_dim == 0:
        if class_idx is not None:
            raise ValueError("--class given, but this network is unconditional")
        return None
    if class_idx is None:
        raise ValueError("this network is conditional: pass --class (0-%d)" % (G.c_dim - 1))
    if not 0 <= class_idx < G.c_dim:
        raise ValueError("--class %d out of range: this network has classes 0-%d" % (class_idx, G.c_dim - 1))
    c = np.zeros([n, G.c_dim], np.float32)
    c[:, class_idx] = 1
    return c


def render_ws(G, ws, noise_mode="const", noise=None):
    """`ws [N, num_ws, w_dim]` -> uint8 `[N, H, W, C]`; `noise_mode` const/random/none, `noise` as `G.synthesis`."""
    if noise is None:  # a SavedModel generator's synthesis takes no noise override
        return to_uint8(G.synthesis(ws, noise_mode=noise_mode)).numpy()
    return to_uint8(G.synthesis(ws, noise_mode=noise_mode, noise=noise)).numpy()


def seed_ws(G, seeds, truncation_psi=1.0, class_idx=None):
    """Official latents of `seeds`: `mapping(RandomState(seed).randn(1, z_dim))`, truncated -> `[N, num_ws, w_dim]`."""
    z = z_from_seeds(seeds, G.z_dim)
    return G.mapping(z, class_labels(G, class_idx, len(seeds)), truncation_psi=truncation_psi).numpy()


def render_seeds(G, seeds, truncation_psi=1.0, noise_mode="const", class_idx=None, batch_size=4):
    """Render seeds as the generate-images apps do, in batches.

    `noise_mode` "seeded" uses `sg.seeded_noise` (TF1), the others are ADA's `const|random|none`.
    Arguments are checked at once (ValueError); rendering happens as the result is iterated.
    Returns:
      an iterator of `(seeds of the batch, uint8 [n, H, W, C])`.
    """
    if noise_mode not in NOISE_MODES:
        raise ValueError("noise mode must be one of %s, got %r" % (", ".join(NOISE_MODES), noise_mode))
    if noise_mode == "seeded" and not hasattr(G.synthesis, "num_noise"):
        raise ValueError("seeded noise needs a Keras network (pickle or converted directory): "
                         "use --noise-mode const or random with a SavedModel")
    class_labels(G, class_idx, 1)
    return _render_seed_batches(G, batches(list(seeds), batch_size), truncation_psi, noise_mode, class_idx)


def _render_seed_batches(G, seed_batches, truncation_psi, noise_mode, class_idx):
    for batch in seed_batches:
        ws = seed_ws(G, batch, truncation_psi, class_idx)
        if noise_mode == "seeded":
            drawn = [seeded_noise(s, G.z_dim, G.synthesis.num_noise, G.synthesis.noise_resolution)[1] for s in batch]
            yield batch, render_ws(G, ws, "const", [np.concatenate(layer) for layer in zip(*drawn)])
        else:
            yield batch, render_ws(G, ws, noise_mode)


def style_mixing_ws(G, row_seeds, col_seeds, col_styles, truncation_psi=1.0, class_idx=None):
    """The official style-mixing latents (spec §5.1).

    Returns:
      `{(row, col): w [num_ws, w_dim]}`: every seed's own latent under `(s, s)`, and for each
      pair `w_row` with the `col_styles` layers taken from `w_col`.
    Raises:
      ValueError: a style index outside `0..num_ws-1`.
    """
    seeds = list(dict.fromkeys(list(row_seeds) + list(col_seeds)))
    w = dict(zip(seeds, seed_ws(G, seeds, truncation_psi, class_idx)))
    out = {(s, s): w[s] for s in seeds}
    for row in row_seeds:
        mixed = mix_styles(np.stack([w[row]] * len(col_seeds)), np.stack([w[c] for c in col_seeds]), col_styles)
        out.update({(row, col): m for col, m in zip(col_seeds, mixed.numpy())})
    return out


def image_grid(cells, rows, cols):
    """Black canvas of `rows x cols` tiles with `cells {(i, j): uint8 [H, W, C]}` placed; missing cells stay black.

    Returns:
      uint8 `[rows*H, cols*W, C]`.
    """
    h, w, c = next(iter(cells.values())).shape
    canvas = np.zeros([rows * h, cols * w, c], np.uint8)
    for (i, j), img in cells.items():
        canvas[i * h:(i + 1) * h, j * w:(j + 1) * w] = img
    return canvas


def style_mixing_grid(tiles, row_seeds, col_seeds):
    """The official `grid.png`: cell (0, 0) black, row 0 the column seeds' images, column 0 the
    row seeds' images, cell (i, j) the mix `(row_seeds[i-1], col_seeds[j-1])`.

    Args:
      tiles: `{(row, col): uint8 [H, W, C]}` as rendered from `style_mixing_ws`.
    Returns:
      uint8 `[H*(len(row_seeds)+1), W*(len(col_seeds)+1), C]`.
    """
    cells = {(0, j + 1): tiles[(c, c)] for j, c in enumerate(col_seeds)}
    for i, r in enumerate(row_seeds):
        cells[(i + 1, 0)] = tiles[(r, r)]
        cells.update({(i + 1, j + 1): tiles[(r, c)] for j, c in enumerate(col_seeds)})
    return image_grid(cells, len(row_seeds) + 1, len(col_seeds) + 1)


def layer_weights(weights, num_ws):
    """Per-layer weights: `weights` padded with its last value to `num_ws` entries -> float32 `[num_ws]`.

    Raises:
      ValueError: no weights, or more than `num_ws`.
    """
    weights = [float(v) for v in weights]
    if not weights or len(weights) > num_ws:
        raise ValueError("expected 1 to %d layer weights, got %d" % (num_ws, len(weights)))
    return np.asarray(weights + weights[-1:] * (num_ws - len(weights)), np.float32)


def mix_latents(w1, w2, weights):
    """PaddleGAN mixing: `mix[:, i] = w1[:, i] * weights[i] + w2[:, i] * (1 - weights[i])`
    (a weight is `w1`'s share; 1 gives `w1` exactly, 0 gives `w2` exactly).

    Args:
      w1, w2: `[n, num_ws, w_dim]` (n may differ if one of them is 1).
      weights: one or more per-layer weights, padded with the last (`layer_weights`).
    Returns:
      float32 `[n, num_ws, w_dim]`.
    """
    w1, w2 = np.asarray(w1, np.float32), np.asarray(w2, np.float32)
    if w1.shape[1:] != w2.shape[1:]:
        raise ValueError("latent shapes differ: %s vs %s" % (list(w1.shape[1:]), list(w2.shape[1:])))
    t = layer_weights(weights, w1.shape[1])[np.newaxis, :, np.newaxis]
    return w1 * t + w2 * (1 - t)
