"""NVIDIA's StyleGAN2 (TF1) multi-resolution TFRecord datasets: the on-disk format and its writer.

A dataset directory `D` with basename `B` holds `D/B-rRR.tfrecords` for every level from the full
resolution (RR = log2 R) down to 4x4 (RR = 02), uncompressed. Each record is a `tf.train.Example`
with `shape` (int64 `[C, H, W]`) and `data` (one bytes value: the uint8 image, CHW, C order).
Level 0 is the image as given (`rint`, clip, uint8); level k >= 1 is the float 2x2 box average of
level k-1 before quantisation. Labels, when given, are `np.save`d to `D/B-rxx.labels` (float32
`[N, label_size]`, row i belongs to record i).
"""

import glob
import os
import struct

import numpy as np
import tensorflow as tf

from tf_stylegan2.datasets.errors import DatasetError
from tf_stylegan2.files import atomic_directory, save_npy

SHUFFLE_SEED = 123  # official `choose_shuffled_order`


def shuffled_order(num_images):
    """The official record order: `np.arange(N)` permuted by `RandomState(123).shuffle`.
    Record i holds source image `order[i]`."""
    order = np.arange(num_images)
    np.random.RandomState(SHUFFLE_SEED).shuffle(order)
    return order


def level_path(directory, log2_resolution):
    """`<directory>/<basename>-rRR.tfrecords`."""
    directory = os.path.abspath(directory)
    return os.path.join(directory, "%s-r%02d.tfrecords" % (os.path.basename(directory), log2_resolution))


def labels_path(directory):
    """`<directory>/<basename>-rxx.labels` (NumPy .npy content)."""
    directory = os.path.abspath(directory)
    return os.path.join(directory, "%s-rxx.labels" % os.path.basename(directory))


def encode_example(chw):
    """uint8 `[C, H, W]` -> serialized `tf.train.Example` (`shape`, `data`)."""
    feature = {"shape": tf.train.Feature(int64_list=tf.train.Int64List(value=chw.shape)),
               "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[chw.tobytes()]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse_example(record):
    """Serialized Example (tf string scalar) -> uint8 tensor `[C, H, W]` (graph-mode friendly)."""
    ex = tf.io.parse_single_example(record, {"shape": tf.io.FixedLenFeature([3], tf.int64),
                                             "data": tf.io.FixedLenFeature([], tf.string)})
    return tf.reshape(tf.io.decode_raw(ex["data"], tf.uint8), ex["shape"])


def quantize(image):
    """float -> uint8 the official way: `rint` (half to even), clip to [0, 255]."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def box_downsample(chw):
    """float32 `[C, H, W]` -> `[C, H/2, W/2]`: 0.25 * the sum of each 2x2 quad (official summation order)."""
    chw = np.asarray(chw, np.float32)
    return (chw[:, 0::2, 0::2] + chw[:, 0::2, 1::2] + chw[:, 1::2, 0::2] + chw[:, 1::2, 1::2]) * np.float32(0.25)


def check_shape(chw):
    """The official writer's checks on an image `[C, H, W]`. Raises DatasetError."""
    if chw.ndim != 3 or chw.shape[0] not in (1, 3):
        raise DatasetError("Input images must be stored as RGB or grayscale (got shape %s)" % (chw.shape,))
    if chw.shape[1] != chw.shape[2]:
        raise DatasetError("Input images must have the same width and height (got %dx%d)"
                           % (chw.shape[2], chw.shape[1]))
    r = chw.shape[1]
    if r < 4 or r & (r - 1):
        raise DatasetError("Input image resolution must be a power-of-two of at least 4 (got %d)" % r)


def existing_dataset_error(directory):
    """DatasetError if `directory` exists and is not empty (never overwrite a dataset), else None."""
    if os.path.isdir(directory) and os.listdir(directory):
        return DatasetError("%s already exists and is not empty: choose a new output directory" % directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        return DatasetError("%s exists and is not a directory" % directory)
    return None


class TFRecordExporter:
    """Streams images into an official dataset directory (the official `TFRecordExporter`), atomically.

    with TFRecordExporter(directory, num_images) as ex:
        for img in images: ex.add_image(img)      # uint8 (or float) [C, H, W], C = 1 or 3, H = W = 2^k
        ex.add_labels(labels)                      # optional float32 [num_images, label_size]

    Files go into a temporary directory next to `directory`, renamed onto it only when the block ends
    without an exception and exactly `num_images` images were added (any number when None; labels must
    then match the count added). One image per level is in memory.
    """

    def __init__(self, directory, num_images):
        self.directory = os.path.abspath(os.fspath(directory))
        self.num_images = num_images
        self.count = 0
        self.shape = None
        self._writers = []
        self._labels = None
        self._atomic = None
        self._tmp = None

    def __enter__(self):
        error = existing_dataset_error(self.directory)
        if error:
            raise error
        self._atomic = atomic_directory(self.directory)
        self._tmp = self._atomic.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            for writer in self._writers:
                writer.close()
            if exc_type is None:
                if self.num_images is not None and self.count != self.num_images:
                    raise DatasetError("expected %d images, got %d" % (self.num_images, self.count))
                if self._labels is not None:
                    if self._labels.shape[0] != self.count:
                        raise DatasetError("%d label rows for %d images" % (self._labels.shape[0], self.count))
                    name = os.path.basename(labels_path(self.directory))
                    save_npy(os.path.join(self._tmp, name), self._labels)
        except BaseException as e:
            self._atomic.__exit__(type(e), e, e.__traceback__)
            raise
        return self._atomic.__exit__(exc_type, exc, tb)

    def add_image(self, chw):
        """Append one image (`[C, H, W]`, values 0..255) to every level."""
        chw = np.asarray(chw)
        if self.shape is None:
            check_shape(chw)
            self.shape = chw.shape
            name = os.path.basename(self.directory)
            log2 = int(np.log2(chw.shape[1]))
            self._writers = [tf.io.TFRecordWriter(os.path.join(self._tmp, "%s-r%02d.tfrecords" % (name, log2 - lod)))
                             for lod in range(log2 - 1)]
        if chw.shape != self.shape:
            raise DatasetError("image %d has shape %s, the first had %s: all images must have one size and "
                               "channel count" % (self.count, chw.shape, self.shape))
        if self.num_images is not None and self.count >= self.num_images:
            raise DatasetError("more than the expected %d images" % self.num_images)
        level = chw.astype(np.float32)
        for lod, writer in enumerate(self._writers):
            if lod:
                level = box_downsample(level)
            writer.write(encode_example(quantize(level)))
        self.count += 1

    def add_labels(self, labels):
        """float32 `[num_images, label_size]` in record order."""
        labels = np.asarray(labels, np.float32)
        if labels.ndim != 2:
            raise DatasetError("labels have shape %s, expected [num_images, label_size]" % (labels.shape,))
        self._labels = labels


def count_records(path):
    """Number of records in an uncompressed TFRecord file, read from the length headers only (seeks).

    Raises:
      DatasetError: truncated or not a TFRecord file.
    """
    count = 0
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        pos = 0
        while pos < size:
            header = f.read(8)
            if len(header) < 8:
                raise DatasetError("%s: truncated TFRecord file" % path)
            (length,) = struct.unpack("<Q", header)
            pos += 8 + 4 + length + 4
            if pos > size:
                raise DatasetError("%s: truncated TFRecord file (record %d)" % (path, count))
            f.seek(pos)
            count += 1
    return count


def first_record_shape(path):
    """`[C, H, W]` of the first record of a file. Raises DatasetError."""
    try:
        for record in tf.data.TFRecordDataset(path).take(1):
            ex = tf.io.parse_single_example(record, {"shape": tf.io.FixedLenFeature([3], tf.int64)})
            return tuple(int(v) for v in ex["shape"].numpy())
    except (tf.errors.OpError, ValueError) as e:
        raise DatasetError("%s: not an official-format TFRecord file (%s)"
                           % (path, str(e).strip().splitlines()[0])) from None
    raise DatasetError("%s: no records" % path)


def find_levels(directory):
    """Inspect an official dataset directory -> (highest-resolution file, its `[C, H, W]`, labels file or None).

    Like the official reader: every `*.tfrecords` file is inspected, all must share the channel count
    and be square with size R / 2^k; missing lower levels are allowed (only the full resolution is read).
    """
    files = sorted(glob.glob(os.path.join(glob.escape(directory), "*.tfrecords")))
    if not files:
        raise DatasetError("no *.tfrecords files in %s" % directory)
    shapes = {f: first_record_shape(f) for f in files}
    best = max(files, key=lambda f: shapes[f][1])
    c, r, _ = shapes[best]
    for f, (fc, fh, fw) in shapes.items():
        if fc != c or fh != fw or r % fh or (r // fh) & (r // fh - 1):
            raise DatasetError("%s holds %dx%dx%d images, inconsistent with %s (%dx%dx%d)"
                               % (f, fc, fh, fw, best, c, r, r))
    if c not in (1, 3):
        raise DatasetError("%s: %d channels, expected 1 or 3" % (best, c))
    label_files = sorted(glob.glob(os.path.join(glob.escape(directory), "*.labels")))
    return best, shapes[best], (label_files[0] if label_files else None)
