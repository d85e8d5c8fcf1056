"""Real images as projection targets: image files (any Pillow format) and the official TFRecord datasets.

Every target comes out as float32 `[1, R, R, C]` in [-1, 1] (uint8 `x / 127.5 - 1`), C = the
network's channels; images that are not R x R are centre-cropped to a square and resized.
"""

import glob
import os

import numpy as np
from PIL import Image

from tf_stylegan2 import datasets
from tf_stylegan2.datasets import pil_images, tfrecords


def image_paths(specs):
    """Expand files, directories (their Pillow-readable files, sorted) and glob patterns, in order.

    Raises:
      ValueError: a spec that matches nothing.
    """
    readable = pil_images.image_extensions()
    paths = []
    for spec in specs:
        if os.path.isdir(spec):
            found = sorted(os.path.join(spec, n) for n in os.listdir(spec)
                           if os.path.splitext(n)[1].lower() in readable and os.path.isfile(os.path.join(spec, n)))
        elif glob.has_magic(spec):
            found = sorted(p for p in glob.glob(spec) if os.path.isfile(p))
        else:
            found = [spec] if os.path.isfile(spec) else []
        if not found:
            raise ValueError("no image files found at %r" % spec)
        paths.extend(found)
    return paths


def fit_square(img, resolution):
    """Centre-crop a PIL image to a square and LANCZOS-resize it to `resolution`.
    Returns (image, note): the note describes what was done, or is None if nothing was."""
    w, h = img.size
    s = min(w, h)
    note = ["%dx%d centre-cropped to %dx%d" % (w, h, s, s)] if w != h else []
    if s != resolution:
        note.append("resized from %dx%d to %dx%d" % (s, s, resolution, resolution))
    img = pil_images.transform(img, "center-crop", resolution, resolution)
    return img, (", ".join(note) if note else None)


def _to_target(array):
    """uint8 `[R, R]` or `[R, R, C]` -> float32 `[1, R, R, C]` in [-1, 1]."""
    array = np.asarray(array, np.float32)
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    return (array / 127.5 - 1.0)[np.newaxis]


def load_image(path, resolution, channels=3):
    """Read an image file as a target. Returns (float32 `[1, R, R, channels]` in [-1, 1], note or None).
    Any Pillow mode: transparency over white, 16-bit greyscale to its top 8 bits (`datasets.pil_images`).

    Raises:
      ValueError: the file is not a readable image.
    """
    img, _ = pil_images.to_mode(pil_images.open_image(path, path), channels)
    img, note = fit_square(img, resolution)
    return _to_target(np.asarray(img)), note


def tfrecord_path(data_dir, dataset):
    """The highest-resolution `*.tfrecords` file of an official dataset directory `<data_dir>/<dataset>`
    (TF1 `dataset_tool.py` writes one file per level of detail), as `datasets` finds it.

    Raises:
      ValueError (`datasets.DatasetError`): no readable `*.tfrecords` files there.
    """
    return tfrecords.find_levels(os.path.join(data_dir, dataset))[0]


def tfrecord_images(path, resolution, channels=3, num_images=None):
    """Yield (target float32 `[1, R, R, channels]` in [-1, 1], note or None) for the first `num_images`
    images (all if None) of an official dataset directory or `.tfrecords` file, read at full resolution
    with `datasets.open_dataset`."""
    dataset = datasets.open_dataset(path, use_labels=False, max_images=num_images)
    for images, _ in dataset.iterate_uint8(1):
        hwc = images[0]
        img = Image.fromarray(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc)
        img, note = fit_square(pil_images.to_mode(img, channels)[0], resolution)
        yield _to_target(np.asarray(img)), note
