"""Real images as projection targets: image files (any Pillow format) and the official TFRecord datasets.

Every target comes out as float32 `[1, R, R, C]` in [-1, 1] (uint8 `x / 127.5 - 1`), C = the
network's channels; images that are not R x R are centre-cropped to a square and resized.
"""

import glob
import os

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps, UnidentifiedImageError


def image_paths(specs):
    """Expand files, directories (their Pillow-readable files, sorted) and glob patterns, in order.

    Raises:
      ValueError: a spec that matches nothing.
    """
    readable = set(Image.registered_extensions())
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


def _to_mode(img, channels):
    """Any Pillow mode -> "RGB" (channels 3) or "L" (channels 1); transparency over white."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):  # 16-bit greyscale: keep the top 8 bits.
        img = Image.fromarray((np.asarray(img, np.uint32) >> 8).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return img.convert("RGB" if channels == 3 else "L")


def fit_square(img, resolution):
    """Centre-crop a PIL image to a square and LANCZOS-resize it to `resolution`.
    Returns (image, note): the note describes what was done, or is None if nothing was."""
    w, h = img.size
    note = []
    if w != h:
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        img = img.crop((left, top, left + s, top + s))
        note.append("%dx%d centre-cropped to %dx%d" % (w, h, s, s))
    if img.size[0] != resolution:
        note.append("resized from %dx%d to %dx%d" % (img.size[0], img.size[1], resolution, resolution))
        img = img.resize((resolution, resolution), Image.LANCZOS)
    return img, (", ".join(note) if note else None)


def _to_target(array):
    """uint8 `[R, R]` or `[R, R, C]` -> float32 `[1, R, R, C]` in [-1, 1]."""
    array = np.asarray(array, np.float32)
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    return (array / 127.5 - 1.0)[np.newaxis]


def load_image(path, resolution, channels=3):
    """Read an image file as a target. Returns (float32 `[1, R, R, channels]` in [-1, 1], note or None).

    Raises:
      ValueError: the file is not a readable image.
    """
    try:
        with Image.open(path) as img:
            img.load()
            img = _to_mode(img, channels)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError("%s: not a readable image (%s)" % (path, str(e).strip().splitlines()[0] if str(e).strip()
                                                            else type(e).__name__))
    img, note = fit_square(img, resolution)
    return _to_target(np.asarray(img)), note


def tfrecord_path(data_dir, dataset):
    """The highest-resolution `*.tfrecords` file of an official dataset directory `<data_dir>/<dataset>`
    (TF1 `dataset_tool.py` writes one file per level of detail)."""
    directory = os.path.join(data_dir, dataset)
    files = sorted(glob.glob(os.path.join(directory, "*.tfrecords")))
    if not files:
        raise ValueError("no *.tfrecords files in %r" % directory)
    return max(files, key=lambda f: int(np.prod(_first_record(f)["shape"])))


def _parse(record):
    ex = tf.io.parse_single_example(record, {"shape": tf.io.FixedLenFeature([3], tf.int64),
                                             "data": tf.io.FixedLenFeature([], tf.string)})
    return {"shape": ex["shape"], "data": ex["data"]}


def _first_record(path):
    try:
        for record in tf.data.TFRecordDataset(path).take(1):
            return _parse(record)
    except (tf.errors.OpError, ValueError) as e:
        raise ValueError("%s: not an official-format TFRecord file (%s)" % (path, str(e).strip().splitlines()[0]))
    raise ValueError("%s: no records" % path)


def tfrecord_images(path, resolution, channels=3, num_images=None):
    """Yield (target float32 `[1, R, R, channels]` in [-1, 1], note or None) for the first
    `num_images` records (all if None) of an official TFRecord file: tf.train.Example with
    `shape` = int64 [C, H, W] and `data` = the uint8 CHW bytes."""
    dataset = tf.data.TFRecordDataset(path)
    if num_images is not None:
        dataset = dataset.take(num_images)
    try:
        for record in dataset:
            ex = _parse(record)
            c, h, w = (int(v) for v in ex["shape"].numpy())
            chw = np.frombuffer(ex["data"].numpy(), np.uint8)
            if chw.size != c * h * w:
                raise ValueError("%s: record data has %d bytes, shape says %dx%dx%d" % (path, chw.size, c, h, w))
            hwc = chw.reshape(c, h, w).transpose(1, 2, 0)
            img = Image.fromarray(hwc[:, :, 0] if c == 1 else hwc)
            img, note = fit_square(img.convert("RGB" if channels == 3 else "L"), resolution)
            yield _to_target(np.asarray(img)), note
    except tf.errors.OpError as e:
        raise ValueError("%s: not an official-format TFRecord file (%s)" % (path, str(e).strip().splitlines()[0]))
