"""Inputs of dataset_tool: image folders and zips, HDF5 files, CIFAR-10, MNIST, NumPy arrays and
existing TFRecord datasets. A source has `num_images`, `labels` (float32 `[N, dim]` in source order,
or None) and `items(order)` yielding `(index, name, image)`: image a Pillow image or uint8 `[H, W, C]`."""

import gzip
import io
import os
import pickle
import struct
import tarfile

import numpy as np

from tf_stylegan2.datasets import ada_format
from tf_stylegan2.datasets.errors import DatasetError
from tf_stylegan2.datasets.image_files import ImageFiles
from tf_stylegan2.datasets.readers import TFRecordDataset


class Source:
    name = ""
    num_images = 0
    labels = None
    random_access = True

    def load(self, index):
        """(name, image) of image `index`."""
        raise NotImplementedError

    def items(self, order=None):
        """Yield (index, name, image) for `order` (default: source order)."""
        for index in (range(self.num_images) if order is None else order):
            name, image = self.load(int(index))
            yield int(index), name, image


class ImageFilesSource(Source):
    """Image files of a folder (recursive) or a zip, sorted; labels from its `dataset.json` if present."""

    def __init__(self, path, max_images=None):
        self.files = ImageFiles(path)
        self.names = self.files.names[:max_images]
        self.name = path
        if not self.names:
            raise DatasetError("No input images found in %s" % path)
        self.num_images = len(self.names)
        meta = self.files.metadata()
        if meta is not None:
            self.labels = ada_format.parse_labels(meta, self.names, os.path.join(path, "dataset.json"))

    def load(self, index):
        name = self.names[index]
        return os.path.join(self.files.path, name), self.files.open(name)


class ArraySource(Source):
    """uint8 images `[N, H, W, C]` (or `[N, H, W]`) in memory or in a lazily read array (HDF5 dataset)."""

    def __init__(self, images, labels=None, name="array", layout="NHWC"):
        self.images = images
        self.layout = layout
        self.name = name
        self.num_images = len(images)
        if labels is not None:
            labels = np.asarray(labels, np.float32)
            if labels.ndim != 2 or labels.shape[0] != self.num_images:
                raise DatasetError("%s: %d label rows for %d images" % (name, labels.shape[0] if labels.ndim else 0,
                                                                        self.num_images))
        self.labels = labels

    def load(self, index):
        image = np.asarray(self.images[index])
        if image.dtype != np.uint8:
            raise DatasetError("%s: images are %s, expected uint8" % (self.name, image.dtype))
        if self.layout == "NCHW":
            image = image.transpose(1, 2, 0)
        return "%s[%d]" % (self.name, index), image[:, :, np.newaxis] if image.ndim == 2 else image


class TFRecordSource(Source):
    """An official TFRecord dataset, read sequentially (full resolution, labels if present)."""
    random_access = False

    def __init__(self, path, max_images=None):
        self.dataset = TFRecordDataset(path, max_images=max_images)
        self.name = path
        self.num_images = self.dataset.num_images
        self.labels = self.dataset.labels

    def items(self, order=None):
        if order is not None and list(order) != list(range(self.num_images)):
            raise DatasetError("%s: a TFRecord source is read in order (no --shuffle)" % self.name)
        index = 0
        for images, _ in self.dataset.iterate_uint8(16):
            for image in images:
                yield index, "%s[%d]" % (self.name, index), image
                index += 1


def hdf5_source(path):
    """The official `create_from_hdf5` input: the dataset whose key starts with 'data' and has the largest
    `shape[3]`, CHW images; labels from `<stem>-labels.npy` when that file exists."""
    import h5py
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DatasetError("%s: not a readable HDF5 file (%s)" % (path, e)) from None
    keys = [k for k in f.keys() if k.startswith("data") and len(getattr(f[k], "shape", ())) == 4]
    if not keys:
        raise DatasetError("%s: no 4-D dataset whose name starts with 'data'" % path)
    data = f[max(keys, key=lambda k: f[k].shape[3])]
    labels_file = os.path.splitext(path)[0] + "-labels.npy"
    labels = np.load(labels_file, allow_pickle=False) if os.path.isfile(labels_file) else None
    return ArraySource(data, labels, name=path, layout="NCHW")


def one_hot(classes, num_classes):
    out = np.zeros([len(classes), num_classes], np.float32)
    out[np.arange(len(classes)), classes] = 1
    return out


def _unpickle_cifar_batch(data, name):
    """A CIFAR-10 python batch, read with the restricted unpickler (numpy arrays, lists, dicts only)."""
    from tf_stylegan2.official import unpickler
    try:
        batch = unpickler.RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
        batch = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in batch.items()}
        images = np.asarray(unpickler._array(batch["data"]))
        labels = np.asarray(batch["labels"])
    except (unpickler.NetworkPickleError, pickle.UnpicklingError, EOFError, KeyError, AttributeError, TypeError,
            ValueError, IndexError, struct.error) as e:
        raise DatasetError("%s: not a CIFAR-10 python batch (%s)" % (name, str(e).splitlines()[0] if str(e)
                                                                      else type(e).__name__)) from None
    return images, labels


def cifar10_source(path):
    """CIFAR-10 'python version': a directory holding `data_batch_1..5` (official TF1) or the
    `cifar-10-python.tar.gz` archive itself (ADA). One-hot labels [50000, 10] (any count is accepted)."""
    batches = ["data_batch_%d" % i for i in range(1, 6)]
    if os.path.isdir(path):
        blobs = []
        for b in batches:
            try:
                with open(os.path.join(path, b), "rb") as f:
                    blobs.append((b, f.read()))
            except OSError as e:
                raise DatasetError("%s: cannot read %s (%s)" % (path, b, e.strerror or e)) from None
    else:
        try:
            with tarfile.open(path, "r:gz") as tar:
                members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
                missing = [b for b in batches if b not in members]
                if missing:
                    raise DatasetError("%s: no %s inside" % (path, missing[0]))
                blobs = [(b, tar.extractfile(members[b]).read()) for b in batches]
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DatasetError("%s: not a readable .tar.gz archive (%s)" % (path, e)) from None
    parts = [_unpickle_cifar_batch(data, os.path.join(path, b)) for b, data in blobs]
    images = np.concatenate([p[0] for p in parts]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([p[1] for p in parts])
    if images.dtype != np.uint8 or labels.min() < 0 or labels.max() > 9 or len(labels) != len(images):
        raise DatasetError("%s: expected uint8 images and labels 0..9 of one count" % path)
    return ArraySource(images, one_hot(labels, 10), name=path, layout="NCHW")


def _read_idx(path, kind):
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DatasetError("%s: cannot read (%s)" % (path, e)) from None
    magic, count = struct.unpack(">II", data[:8]) if len(data) >= 8 else (0, 0)
    if kind == "images":
        if magic != 2051 or len(data) < 16:
            raise DatasetError("%s: not an MNIST idx3 image file" % path)
        rows, cols = struct.unpack(">II", data[8:16])
        array = np.frombuffer(data, np.uint8, offset=16)
        if array.size != count * rows * cols:
            raise DatasetError("%s: truncated (%d bytes for %d images)" % (path, array.size, count))
        return array.reshape(count, rows, cols)
    if magic != 2049:
        raise DatasetError("%s: not an MNIST idx1 label file" % path)
    array = np.frombuffer(data, np.uint8, offset=8)
    if array.size != count:
        raise DatasetError("%s: truncated (%d labels, header says %d)" % (path, array.size, count))
    return array


def mnist_source(path):
    """MNIST from `train-images-idx3-ubyte.gz` + `train-labels-idx1-ubyte.gz` (a directory holding them,
    or the image file's path): zero-padded 28 -> 32, one channel, one-hot labels [N, 10]."""
    image_file = os.path.join(path, "train-images-idx3-ubyte.gz") if os.path.isdir(path) else path
    label_file = os.path.join(os.path.dirname(image_file),
                              os.path.basename(image_file).replace("images-idx3", "labels-idx1"))
    images = _read_idx(image_file, "images")
    labels = _read_idx(label_file, "labels")
    if len(labels) != len(images) or (labels.size and labels.max() > 9):
        raise DatasetError("%s: %d labels (0..9 expected) for %d images" % (label_file, len(labels), len(images)))
    images = np.pad(images, [(0, 0), (2, 2), (2, 2)])
    return ArraySource(images, one_hot(labels, 10), name=image_file)


def open_source(path, max_images=None):
    """Detect the input type like ADA's dataset_tool: TFRecord directory, image folder, `.zip`,
    `cifar-10-python.tar.gz`, `train-images-idx3-ubyte.gz`, `.h5`/`.hdf5`."""
    if not os.path.exists(path):
        raise DatasetError("Missing input file or directory: %s" % path)
    base = os.path.basename(path.rstrip("/")).lower()
    if os.path.isdir(path) and any(n.endswith(".tfrecords") for n in os.listdir(path)):
        return TFRecordSource(path, max_images)
    if os.path.isdir(path) or base.endswith(".zip"):
        return ImageFilesSource(path, max_images)
    if base.endswith(".tar.gz") and "cifar-10" in base:
        return _limit(cifar10_source(path), max_images)
    if base.endswith("-idx3-ubyte.gz"):
        return _limit(mnist_source(path), max_images)
    if base.endswith((".h5", ".hdf5")):
        return _limit(hdf5_source(path), max_images)
    raise DatasetError("%s: unknown archive type (expected a folder, .zip, TFRecord directory, "
                       "cifar-10-python.tar.gz, train-images-idx3-ubyte.gz or .h5)" % path)


def _limit(source, max_images):
    if max_images is not None and max_images < source.num_images:
        source.num_images = max_images
        if source.labels is not None:
            source.labels = source.labels[:max_images]
    return source
