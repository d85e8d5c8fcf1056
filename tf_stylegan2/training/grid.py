"""The snapshot image grids of StyleGAN2-ADA's training loop (spec §12.3): `reals.png`,
`fakes_init.png`, `fakes<kimg:06d>.png`."""

import numpy as np

from tf_stylegan2.files import save_png

_POOL_FACTOR = 2  # images read in file order to pick the grid from (the datasets have no random access)


def grid_size(resolution):
    """`(gw, gh)` = `(clip(7680 // R, 7, 32), clip(4320 // R, 4, 32))`."""
    return int(np.clip(7680 // resolution, 7, 32)), int(np.clip(4320 // resolution, 4, 32))


def select_reals(dataset, mirror=False, use_labels=False):
    """ADA's `setup_snapshot_image_grid` (random_seed 0) over the first images of the dataset.

    Returns:
      (gw, gh), uint8 reals `[gw*gh, R, R, C]`, float32 labels `[gw*gh, label_dim]` (each row one
      class when labelled).
    """
    gw, gh = grid_size(dataset.resolution)
    images, labels = [], []
    for x, c in dataset.iterate_uint8(256, max_images=gw * gh * _POOL_FACTOR):
        images.append(x)
        labels.append(c)
    images, labels = np.concatenate(images), np.concatenate(labels)
    items = [(i, flip) for i in range(len(images)) for flip in ((False, True) if mirror else (False,))]
    rnd = np.random.RandomState(0)
    if not use_labels or labels.shape[1] == 0:
        order = list(range(len(items)))
        rnd.shuffle(order)
        chosen = [items[order[i % len(order)]] for i in range(gw * gh)]
    else:
        groups = {}
        for item in items:
            groups.setdefault(tuple(labels[item[0]][::-1]), []).append(item)
        keys = sorted(groups)
        for key in keys:
            rnd.shuffle(groups[key])
        chosen = []
        for y in range(gh):
            group = groups[keys[y % len(keys)]]
            chosen += [group[x % len(group)] for x in range(gw)]
            groups[keys[y % len(keys)]] = group[gw % len(group):] + group[:gw % len(group)]
    reals = np.stack([images[i][:, ::-1] if flip else images[i] for i, flip in chosen])
    return (gw, gh), reals, np.stack([labels[i] for i, _ in chosen]).astype(np.float32)


def tile(images, grid, drange):
    """`[gw*gh, H, W, C]` in `drange` -> uint8 `[gh*H, gw*W, C]` (row-major), `rint((x - lo) * 255 / (hi - lo))`."""
    lo, hi = drange
    x = np.rint((np.asarray(images, np.float32) - lo) * (255.0 / (hi - lo)))
    x = np.clip(x, 0, 255).astype(np.uint8)
    gw, gh = grid
    n, h, w, c = x.shape
    return x.reshape(gh, gw, h, w, c).transpose(0, 2, 1, 3, 4).reshape(gh * h, gw * w, c)


def save_grid(path, images, grid, drange):
    """Tile and write a PNG atomically; returns the uint8 grid."""
    image = tile(images, grid, drange)
    save_png(path, image)
    return image


def render_fakes(G_ema, z, c, batch_size=64):
    """G_ema(z, c, psi 1, const noise) in chunks of `batch_size` -> float32 `[N, R, R, C]`."""
    out = []
    for i in range(0, len(z), batch_size):
        zi = z[i:i + batch_size]
        ci = None if c is None or c.shape[1] == 0 else c[i:i + batch_size]
        out.append(np.asarray(G_ema(zi, ci, noise_mode="const")))
    return np.concatenate(out)
