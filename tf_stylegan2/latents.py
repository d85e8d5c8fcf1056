"""Latent (w) files: PaddleGAN / JP `.npy` `[num_ws, w_dim]` and StyleGAN2-ADA `projected_w.npz`;
noise files: the projector's `noise.npz` (`noise0..`, NHWC `[1, r, r, 1]`).

In memory latents are float32 `[n, num_ws, w_dim]` (the synthesis network's input) and noise is
a list with one float32 `[1, r, r, 1]` array per conv layer (`G.synthesis(ws, noise=...)`).
"""

import os

import numpy as np

from tf_stylegan2.files import save_npy, save_npz

NPZ_KEY = "w"
NOISE_KEY = "noise%d"


def load_latents(path, num_ws, w_dim):
    """Read `.npy` (`[num_ws, w_dim]` or `[n, num_ws, w_dim]`) or `.npz` (key `w`, `[n, num_ws, w_dim]`).

    Returns:
      float32 `[n, num_ws, w_dim]`.
    Raises:
      OSError: unreadable file. ValueError: not a latent file, or a shape that does not fit
      a network with `num_ws` layers of `w_dim`.
    """
    path = os.fspath(path)
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise ValueError("%s is not a .npy/.npz latent file (%s)" % (path, str(e).splitlines()[0])) from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if NPZ_KEY not in data.files:
                raise ValueError("%s has no array %r (arrays: %s)" % (path, NPZ_KEY, ", ".join(data.files) or "none"))
            w = data[NPZ_KEY]
    else:
        w = data
    shape = list(w.shape)
    if w.ndim == 2:
        w = w[np.newaxis]
    if w.ndim != 3 or w.shape[1:] != (num_ws, w_dim) or w.shape[0] == 0:
        raise ValueError("%s holds latents of shape %s; this network needs [%d, %d] or [n, %d, %d]"
                         % (path, shape, num_ws, w_dim, num_ws, w_dim))
    if not np.issubdtype(w.dtype, np.floating):
        raise ValueError("%s holds %s values, expected floats" % (path, w.dtype))
    return w.astype(np.float32)


def save_latents(path, w):
    """Write latents atomically; returns the path written.

    A path ending in `.npz` gets key `w` `[n, num_ws, w_dim]` (StyleGAN2-ADA `projected_w.npz`).
    Otherwise `.npy` is appended unless present, and the file holds `[num_ws, w_dim]` for one
    latent (PaddleGAN / JP) or `[n, num_ws, w_dim]` for several.

    Args:
      w: `[num_ws, w_dim]` or `[n, num_ws, w_dim]` floats.
    """
    path = os.fspath(path)
    w = np.asarray(w, np.float32)
    if w.ndim == 2:
        w = w[np.newaxis]
    if w.ndim != 3:
        raise ValueError("latents must be [num_ws, w_dim] or [n, num_ws, w_dim], got shape %s" % (list(w.shape),))
    if path.endswith(".npz"):
        save_npz(path, **{NPZ_KEY: w})
        return path
    if not path.endswith(".npy"):
        path += ".npy"
    save_npy(path, w[0] if w.shape[0] == 1 else w)
    return path


def save_noise(path, noise):
    """Write per-layer noise arrays atomically as `.npz` with keys `noise0..`."""
    save_npz(path, **{NOISE_KEY % i: np.asarray(n, np.float32) for i, n in enumerate(noise)})


def load_noise(path, resolutions):
    """Read a `save_noise` file for a network whose conv layer `i` adds noise of size `resolutions[i]`.

    Returns:
      list of float32 `[1, r, r, 1]`.
    Raises:
      OSError: unreadable file. ValueError: missing, extra or misshapen arrays.
    """
    path = os.fspath(path)
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise ValueError("%s is not a .npz noise file (%s)" % (path, str(e).splitlines()[0])) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError("%s is not a .npz noise file" % path)
    with data:
        expected = [NOISE_KEY % i for i in range(len(resolutions))]
        if sorted(data.files) != sorted(expected):
            raise ValueError("%s holds %s; this network needs %s"
                             % (path, ", ".join(sorted(data.files)) or "nothing", ", ".join(expected)))
        noise = []
        for key, r in zip(expected, resolutions):
            n = data[key]
            if n.size != r * r or n.shape not in ((r, r), (1, r, r, 1), (1, r, r), (1, 1, r, r)):
                raise ValueError("%s: %s has shape %s, expected [1, %d, %d, 1]" % (path, key, list(n.shape), r, r))
            noise.append(n.astype(np.float32).reshape(1, r, r, 1))
    return noise
