"""Writing datasets from a source (`sources.py`): the official TF1 TFRecords and the StyleGAN2-ADA
zip/folder, streaming (one image in memory at a time), with conversion notes and progress."""

import collections
import json
import os

import numpy as np
from PIL import Image

from tf_stylegan2.datasets import ada_format, pil_images, sources, tfrecords
from tf_stylegan2.datasets.ada_format import AdaWriter
from tf_stylegan2.datasets.errors import DatasetError
from tf_stylegan2.progress import Progress


class ImagePreparer:
    """Turns each source image into uint8 `[R, R, C]`: Pillow mode conversion, then the size transform.

    The first image fixes the channel count (1 for greyscale modes, else 3) and the output size; it
    must be square and a power of two. Non-square inputs need a `transform`; `width`/`height` (both, for a
    transform) give the output size (ADA's --width/--height; --resolution sets both). Later images must
    match (the error names the file). `notes` counts the conversions done: {note: [count, first file]}.
    """

    def __init__(self, width=None, height=None, transform=None, resize_filter="lanczos"):
        if transform is not None and transform not in pil_images.TRANSFORMS:
            raise DatasetError("unknown --transform %r (known: %s)" % (transform, ", ".join(pil_images.TRANSFORMS)))
        if resize_filter not in pil_images.RESIZE_FILTERS:
            raise DatasetError("unknown --resize-filter %r (known: %s)"
                               % (resize_filter, ", ".join(pil_images.RESIZE_FILTERS)))
        if transform is not None and (width is None or height is None):
            raise DatasetError("--transform=%s requires --resolution (or --width and --height)" % transform)
        self.width = width
        self.height = height
        self.transform = transform
        self.resize_filter = resize_filter
        self.channels = None
        self.shape = None
        self.notes = collections.OrderedDict()

    def _note(self, note, name):
        entry = self.notes.setdefault(note, [0, name])
        entry[0] += 1

    def __call__(self, image, name):
        """-> uint8 `[R, R, C]`, or None when `center-crop-wide` drops the image."""
        if isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] not in (1, 3):
                raise DatasetError("%s: images must be stored as RGB or grayscale (shape %s)" % (name, image.shape))
            image = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
        channels = pil_images.natural_channels(image)
        if self.channels is None:
            self.channels = channels
        elif channels != self.channels:
            raise DatasetError("%s has %d channel(s), the first image %d: all images must have one channel count "
                               "(convert them first)" % (name, channels, self.channels))
        image, note = pil_images.to_mode(image, self.channels)
        if note:
            self._note(note, name)
        size = image.size
        if self.transform is None and size[0] != size[1]:
            raise DatasetError("%s: Input images must have the same width and height (got %dx%d; give --resolution "
                               "and --transform=center-crop, center-crop-wide or resize)" % (name, size[0], size[1]))
        image = pil_images.transform(image, self.transform, self.width, self.height, self.resize_filter)
        if image is None:
            self._note("dropped by center-crop-wide (too small)", name)
            return None
        if image.size != size:
            self._note("%s from %dx%d to %dx%d" % (self.transform or "resized", size[0], size[1], *image.size), name)
        array = pil_images.to_array(image)
        if self.shape is None:
            h, w, _ = array.shape
            if h != w:
                raise DatasetError("%s: Image dimensions after scale and crop are required to be square. Got %dx%d"
                                   % (name, w, h))
            if h < 4 or h & (h - 1):
                raise DatasetError("%s: Input image resolution must be a power-of-two (got %d; give --resolution "
                                   "and --transform)" % (name, h))
            self.shape = array.shape
        elif array.shape != self.shape:
            raise DatasetError("%s is %dx%d, the first image %dx%d: all images must have one size (give --resolution "
                               "and --transform)" % (name, array.shape[1], array.shape[0], self.shape[1],
                                                     self.shape[0]))
        return array

    def report(self, stream):
        for note, (count, name) in self.notes.items():
            print("note: %d image(s) %s (first: %s)" % (count, note, name), file=stream)


def _load_labels_file(path):
    """Labels for an image source: ADA `dataset.json` or a `.npy` float32 [N, dim] (or int [N] classes)."""
    if path.lower().endswith(".json"):
        try:
            with open(path, encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError) as e:
            raise DatasetError("%s: cannot read labels (%s)" % (path, e)) from None
        return meta
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DatasetError("%s: not a NumPy label file (%s)" % (path, e)) from None


def apply_labels_file(source, path):
    """Replace `source.labels` by a labels file (`.json` keyed by the source's relative names, or `.npy`)."""
    content = _load_labels_file(path)
    if isinstance(content, np.ndarray):
        labels = ada_format.labels_array(content.tolist() if content.ndim == 1 else content, path)
    else:
        if not isinstance(source, sources.ImageFilesSource):
            raise DatasetError("%s: dataset.json labels need an image folder or zip source" % path)
        labels = ada_format.parse_labels(content, source.names, path)
    if labels is not None and labels.shape[0] != source.num_images:
        raise DatasetError("%s holds %d labels for %d images" % (path, labels.shape[0], source.num_images))
    source.labels = labels


def write_tfrecords_from_source(source, tfrecord_dir, shuffle=True, preparer=None, progress=True, stream=None):
    """Write `source` as an official TFRecord dataset (records in `shuffled_order` when `shuffle`).
    Returns the number of images written."""
    preparer = preparer or ImagePreparer()
    order = tfrecords.shuffled_order(source.num_images) if shuffle else np.arange(source.num_images)
    if shuffle and not source.random_access:
        raise DatasetError("%s is read in order: give --shuffle=0" % source.name)
    kept = []
    bar = Progress(total=source.num_images, desc="write %s" % os.path.basename(os.path.abspath(tfrecord_dir)),
                   stream=stream) if progress else None
    with tfrecords.TFRecordExporter(tfrecord_dir, None) as exporter:
        for index, name, image in source.items(None if not shuffle else order):
            array = preparer(image, name)
            if array is not None:
                exporter.add_image(array.transpose(2, 0, 1))
                kept.append(index)
            if bar:
                bar.update(1)
        if not kept:
            raise DatasetError("no images left to write")
        if source.labels is not None:
            exporter.add_labels(source.labels[np.asarray(kept)])
    if bar:
        bar.close()
    preparer.report(stream)
    return len(kept)


def write_ada_from_source(source, dest, preparer=None, progress=True, stream=None):
    """Write `source` as a StyleGAN2-ADA zip (`dest` ends in .zip) or folder. Images keep their source
    index as file name (images dropped by center-crop-wide leave gaps, as ADA). Returns the count written."""
    preparer = preparer or ImagePreparer()
    bar = Progress(total=source.num_images, desc="write %s" % os.path.basename(dest), stream=stream) \
        if progress else None
    count = 0
    with AdaWriter(dest) as writer:
        for index, name, image in source.items():
            array = preparer(image, name)
            if array is not None:
                label = None if source.labels is None else source.labels[index]
                writer.add_image(index, array, label)
                count += 1
            if bar:
                bar.update(1)
        if not count:
            raise DatasetError("no images left to write")
    if bar:
        bar.close()
    preparer.report(stream)
    return count


def create_from_images(tfrecord_dir, image_dir, shuffle=True, resolution=None, transform=None, labels=None,
                       resize_filter="lanczos", progress=True, stream=None):
    """The official `create_from_images` (plus --resolution/--transform/labels). Returns the count written."""
    source = sources.ImageFilesSource(image_dir)
    if labels is not None:
        apply_labels_file(source, labels)
    preparer = ImagePreparer(resolution, resolution, transform, resize_filter)
    return write_tfrecords_from_source(source, tfrecord_dir, shuffle, preparer, progress, stream)


def write_tfrecords(tfrecord_dir, images, labels=None, shuffle=True, progress=False):
    """Write uint8 NHWC images `[N, R, R, C]` (C = 1 or 3, R a power of two) and optional float32 labels
    `[N, dim]` as an official TFRecord dataset (tests, small datasets). Returns the count written."""
    source = sources.ArraySource(np.asarray(images), labels)
    return write_tfrecords_from_source(source, tfrecord_dir, shuffle, ImagePreparer(), progress)


def convert(source_path, dest, max_images=None, width=None, height=None, transform=None, resize_filter="lanczos",
            labels=None, progress=True, stream=None):
    """ADA's `dataset_tool.py --source --dest`: any source (`sources.open_source`, official TFRecord
    directories included) -> ADA zip (`dest` ends in .zip) or folder. Returns the count written."""
    source = sources.open_source(source_path, max_images)
    if labels is not None:
        apply_labels_file(source, labels)
    preparer = ImagePreparer(width, height, transform, resize_filter)
    return write_ada_from_source(source, dest, preparer, progress, stream)
