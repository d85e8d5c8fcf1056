"""Atomic file output and the official numbered run directories."""

import contextlib
import os
import re
import shutil
import tempfile

import numpy as np
from PIL import Image


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_directory(path):
    """Yield a temporary directory next to `path`; on success it replaces `path` (an existing
    `path` is kept until the new one is complete, then removed)."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=parent)
    try:
        yield tmp
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", suffix=".old", dir=parent)
            os.rmdir(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def save_png(path, image):
    """Write a uint8 `[H, W, C]` (C = 1, 3 or 4) or `[H, W]` image as PNG, atomically."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError("save_png expects uint8, got %s" % image.dtype)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def save_npy(path, array):
    """`np.save` atomically (the file is `path` exactly, no '.npy' appended)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def save_npz(path, **arrays):
    """`np.savez` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def create_run_dir(result_dir, desc):
    """Create `<result_dir>/<NNNNN>-<desc>/`, NNNNN = 1 + the largest leading number among the
    existing entries (0 if none), as the official `dnnlib.submit_run`. Returns its path."""
    os.makedirs(result_dir, exist_ok=True)
    ids = [int(m.group(1)) for m in (re.match(r"^(\d+)", name) for name in os.listdir(result_dir)) if m]
    run_id = max(ids) + 1 if ids else 0
    path = os.path.join(result_dir, "%05d-%s" % (run_id, desc))
    os.makedirs(path)
    return path
