"""tf.data readers for official TFRecord datasets, StyleGAN2-ADA zips and image folders.

Every reader yields NHWC images: `tf_dataset` float32 in [-1, 1] (`x / 127.5 - 1`, the official
`process_reals` and ADA mapping) for training, `iterate_uint8` uint8 in file order for metrics and tools.
"""

import math
import os

import numpy as np
import tensorflow as tf

from tf_stylegan2.datasets import ada_format, pil_images, tfrecords
from tf_stylegan2.datasets.errors import DatasetError
from tf_stylegan2.datasets.image_files import ImageFiles

SHUFFLE_MB = 4096  # official `shuffle_mb`: the shuffle buffer of a (sequentially read) TFRecord file
AUTOTUNE = tf.data.AUTOTUNE


class Dataset:
    """Common reader API. Attributes: `name` (str), `path`, `num_images`, `resolution`, `num_channels`,
    `labels` (float32 `[num_images, label_dim]` or None), `label_dim` (0 when unconditional)."""

    name = path = None
    num_images = resolution = num_channels = 0
    labels = None

    @property
    def label_dim(self):
        return 0 if self.labels is None else int(self.labels.shape[1])

    @property
    def shape(self):
        """`[R, R, C]` of one image (NHWC)."""
        return (self.resolution, self.resolution, self.num_channels)

    def _label_rows(self):
        labels = self.labels if self.labels is not None else np.zeros([self.num_images, 0], np.float32)
        return tf.data.Dataset.from_tensor_slices(labels)

    def _elements(self, shuffle, seed, repeat):
        """tf.data.Dataset of (uint8 `[R, R, C]`, float32 `[label_dim]`), one per image."""
        raise NotImplementedError

    def tf_dataset(self, batch_size, shuffle=True, seed=0, repeat=True, mirror=False, drop_remainder=True):
        """Training input: (float32 `[B, R, R, C]` in [-1, 1], float32 `[B, label_dim]`) batches.

        The order is a function of `seed` only (a resumed run can `skip` the batches it has seen);
        `mirror` flips each image along W with probability 0.5 (stateless, also seeded).
        """
        ds = self._elements(shuffle, seed, repeat)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)

        def to_float(index, batch):
            images, labels = batch
            images = tf.cast(images, tf.float32) / 127.5 - 1.0
            if mirror:
                flip = tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, 1], seed=[seed, index]) < 0.5
                images = tf.where(flip, tf.reverse(images, axis=[2]), images)
            return images, labels

        return ds.enumerate().map(to_float, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)

    def iterate_uint8(self, batch_size, max_images=None):
        """Python iterator of (uint8 `[B, R, R, C]`, float32 `[B, label_dim]`) numpy batches in file order.

        Raises:
          DatasetError: a corrupt record or image met on the way (tf_dataset raises tf.errors.OpError).
        """
        ds = self._elements(shuffle=False, seed=0, repeat=False)
        if max_images is not None:
            ds = ds.take(max_images)
        try:
            for images, labels in ds.batch(batch_size).prefetch(AUTOTUNE):
                yield images.numpy(), labels.numpy()
        except tf.errors.OpError as e:
            raise DatasetError(_one_line(e, self.path)) from None

    def __repr__(self):
        return "%s(%r: %d images, %dx%dx%d, label_dim %d)" % (type(self).__name__, self.path, self.num_images,
                                                             self.resolution, self.resolution, self.num_channels,
                                                             self.label_dim)


def _one_line(error, path):
    """The useful line of a tf.data error: our own DatasetError raised in a decoder, else the first line."""
    lines = [line.strip() for line in str(error.message).splitlines() if line.strip()]
    for line in lines:
        if "DatasetError: " in line:
            return line.split("DatasetError: ", 1)[1]
    return "%s: %s" % (path, lines[0] if lines else type(error).__name__)


class TFRecordDataset(Dataset):
    """An official TF1 dataset directory (reads only the highest-resolution `*.tfrecords` file and the
    first `*.labels` file), or one `.tfrecords` file. `max_images` keeps the first N records."""

    def __init__(self, path, use_labels=True, max_images=None, shuffle_mb=SHUFFLE_MB):
        self.path = os.fspath(path)
        if os.path.isdir(self.path):
            self.record_file, shape, label_file = tfrecords.find_levels(self.path)
            self.name = os.path.basename(os.path.abspath(self.path))
        else:
            self.record_file, shape, label_file = self.path, tfrecords.first_record_shape(self.path), None
            self.name = os.path.splitext(os.path.basename(self.path))[0]
        self.num_channels, self.resolution, width = shape
        if width != self.resolution:
            raise DatasetError("%s: images are %dx%d, expected square" % (self.record_file, width, self.resolution))
        self.num_images = tfrecords.count_records(self.record_file)
        if max_images is not None:
            self.num_images = min(self.num_images, max_images)
        if use_labels and label_file:
            self.labels = _load_label_file(label_file, self.num_images, max_images)
        self.shuffle_mb = shuffle_mb

    def _elements(self, shuffle, seed, repeat):
        ds = tf.data.TFRecordDataset(self.record_file, buffer_size=64 << 20).take(self.num_images)
        ds = tf.data.Dataset.zip((ds, self._label_rows()))
        if shuffle:
            item_bytes = self.num_channels * self.resolution ** 2
            buffer = max(1, min(self.num_images, math.ceil((self.shuffle_mb << 20) / item_bytes)))
            ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        shape = self.shape

        def parse(record, label):
            return tf.ensure_shape(tf.transpose(tfrecords.parse_example(record), [1, 2, 0]), shape), label

        return ds.map(parse, num_parallel_calls=AUTOTUNE)


def _load_label_file(path, num_records, max_images):
    try:
        labels = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DatasetError("%s: not a NumPy label file (%s)" % (path, e)) from None
    if max_images is not None:
        labels = labels[:max_images]
    if labels.ndim != 2 or labels.shape[0] != num_records:
        raise DatasetError("%s: labels of shape %s for %d images" % (path, labels.shape, num_records))
    return labels.astype(np.float32)


class ImageFolderDataset(Dataset):
    """A StyleGAN2-ADA zip or image folder (any Pillow format, recursive), labels from `dataset.json`.
    `max_images` keeps the first N images. Images must share one square size and channel count."""

    def __init__(self, path, use_labels=True, max_images=None):
        self.path = os.fspath(path)
        self.files = ImageFiles(self.path)
        self.names = self.files.names[:max_images]
        if not self.names:
            raise DatasetError("%s: no image files found" % self.path)
        self.name = os.path.splitext(os.path.basename(os.path.abspath(self.path)))[0]
        self.num_images = len(self.names)
        first = self.files.open(self.names[0])
        self.num_channels = pil_images.natural_channels(first)
        w, h = first.size
        if w != h:
            raise DatasetError("%s: %dx%d image is not square (make a dataset with dataset_tool.py "
                               "--resolution and --transform)" % (os.path.join(self.path, self.names[0]), w, h))
        self.resolution = w
        if use_labels:
            meta = self.files.metadata()
            if meta is not None:
                self.labels = ada_format.parse_labels(meta, self.names, os.path.join(self.path, "dataset.json"))

    def load_uint8(self, index):
        """Image `index` as uint8 `[R, R, C]`. Raises DatasetError naming a file of another size or channels."""
        name = self.names[index]
        img = self.files.open(name)
        if pil_images.natural_channels(img) != self.num_channels or img.size != (self.resolution, self.resolution):
            raise DatasetError("%s: %dx%d with %d channels, the dataset is %dx%d with %d"
                               % (os.path.join(self.path, name), img.size[0], img.size[1],
                                  pil_images.natural_channels(img), self.resolution, self.resolution,
                                  self.num_channels))
        return pil_images.to_array(pil_images.to_mode(img, self.num_channels)[0])

    def _elements(self, shuffle, seed, repeat):
        ds = tf.data.Dataset.zip((tf.data.Dataset.range(self.num_images), self._label_rows()))
        if shuffle:
            ds = ds.shuffle(self.num_images, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        shape = self.shape

        def load(index, label):
            image = tf.numpy_function(lambda i: self.load_uint8(int(i)), [index], tf.uint8, stateful=False)
            return tf.ensure_shape(image, shape), label

        return ds.map(load, num_parallel_calls=AUTOTUNE)


def open_dataset(path, use_labels=True, max_images=None):
    """Open a dataset by its path: an official TF1 TFRecord directory (or one `.tfrecords` file),
    a StyleGAN2-ADA `.zip`, or an image folder. `use_labels=False` ignores any labels (official
    TF1 training is unconditional); `max_images` keeps the first N images.

    Raises:
      DatasetError: a missing, empty, unreadable or inconsistent dataset (one-line message).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DatasetError("Missing input file or directory: %s" % path)
    if path.lower().endswith(".tfrecords") or (os.path.isdir(path) and any(
            n.endswith(".tfrecords") for n in os.listdir(path))):
        return TFRecordDataset(path, use_labels=use_labels, max_images=max_images)
    return ImageFolderDataset(path, use_labels=use_labels, max_images=max_images)
