"""StyleGAN2-ADA datasets: a folder or an uncompressed zip of `NNNNN/imgNNNNNNNN.png` files plus
`dataset.json` (`{"labels": [[name, label], ...]}` or `{"labels": null}`; a label is a class index
or a list of floats)."""

import io
import json
import os
import zipfile

import numpy as np
from PIL import Image

from tf_stylegan2.datasets.errors import DatasetError
from tf_stylegan2.files import atomic_directory, atomic_path


def archive_name(index):
    """ADA's file name for image `index`: `'%05d/img%08d.png'` with the folder = the first 5 digits."""
    name = "%08d" % index
    return "%s/img%s.png" % (name[:5], name)


def parse_labels(meta, names, source):
    """`dataset.json` content -> float32 `[N, label_dim]` for `names` (in order), or None.

    Class indices (one int per image) become one-hot rows of size max + 1, as ADA's loader.

    Raises:
      DatasetError: malformed file, or an image without a label.
    """
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if labels is None:
        if not isinstance(meta, dict) or "labels" not in meta:
            raise DatasetError("%s: expected {\"labels\": [[name, label], ...]} or {\"labels\": null}" % source)
        return None
    try:
        table = {str(k).replace("\\", "/"): v for k, v in dict(labels).items()}
    except (TypeError, ValueError):
        raise DatasetError("%s: 'labels' must be a list of [name, label] pairs" % source) from None
    missing = [n for n in names if n not in table]
    if missing:
        raise DatasetError("%s has no label for %s (%d images without one)" % (source, missing[0], len(missing)))
    return labels_array([table[n] for n in names], source)


def labels_array(values, source):
    """A list of class indices or of float vectors -> float32 `[N, dim]` (indices one-hot, size max + 1)."""
    try:
        array = np.array(values)
    except ValueError:
        raise DatasetError("%s: labels have different lengths" % source) from None
    if array.ndim == 1 and array.size and np.issubdtype(array.dtype, np.integer):
        if array.min() < 0:
            raise DatasetError("%s: negative class index %d" % (source, array.min()))
        onehot = np.zeros([array.size, int(array.max()) + 1], np.float32)
        onehot[np.arange(array.size), array] = 1
        return onehot
    if array.ndim == 2 and np.issubdtype(array.dtype, np.number):
        return array.astype(np.float32)
    raise DatasetError("%s: labels must be class indices or float vectors of one length" % source)


def json_labels(labels, names):
    """float32 `[N, dim]` -> the `dataset.json` labels list: class indices for one-hot rows, else float lists."""
    if labels is None:
        return None
    onehot = labels.shape[1] > 0 and np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(axis=1) == 1)
    values = [int(np.argmax(row)) for row in labels] if onehot else [[float(v) for v in row] for row in labels]
    return [[name, value] for name, value in zip(names, values)]


def png_bytes(hwc):
    """uint8 `[H, W, C]` (C = 1 or 3) -> uncompressed PNG bytes (`compress_level=0`, as ADA)."""
    img = Image.fromarray(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=0, optimize=False)
    return buf.getvalue()


class AdaWriter:
    """Writes an ADA dataset, atomically: `dest` ending in `.zip` -> ZIP_STORED archive, else a folder
    (which must not exist or be empty).

    with AdaWriter(dest) as w:
        w.add_image(index, hwc_uint8, label)   # label: None or a float32 [label_dim] row
    """

    def __init__(self, dest):
        self.dest = os.path.abspath(os.fspath(dest))
        self.is_zip = self.dest.lower().endswith(".zip")
        self.names = []
        self.labels = []
        self._ctx = None
        self._zip = None
        self._root = None

    def __enter__(self):
        if self.is_zip:
            if os.path.exists(self.dest):
                raise DatasetError("%s already exists: choose a new --dest" % self.dest)
            os.makedirs(os.path.dirname(self.dest), exist_ok=True)
            self._ctx = atomic_path(self.dest)
            self._zip = zipfile.ZipFile(self._ctx.__enter__(), "w", compression=zipfile.ZIP_STORED)
        else:
            if os.path.exists(self.dest) and (not os.path.isdir(self.dest) or os.listdir(self.dest)):
                raise DatasetError("--dest folder must be empty (%s)" % self.dest)
            self._ctx = atomic_directory(self.dest)
            self._root = self._ctx.__enter__()
        return self

    def _write(self, name, data):
        if self._zip is not None:
            self._zip.writestr(name, data)
        else:
            path = os.path.join(self._root, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)

    def add_image(self, index, hwc, label=None):
        """Image number `index` (its file name) as uint8 `[H, W, C]`; one-hot label rows are written as
        class indices in `dataset.json`."""
        name = archive_name(index)
        self._write(name, png_bytes(hwc))
        self.names.append(name)
        self.labels.append(label)

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                complete = self.labels and all(label is not None for label in self.labels)
                meta = {"labels": json_labels(np.stack(self.labels), self.names) if complete else None}
                self._write("dataset.json", json.dumps(meta).encode("utf-8"))
            if self._zip is not None:
                self._zip.close()
        except BaseException as e:
            self._ctx.__exit__(type(e), e, e.__traceback__)
            raise
        return self._ctx.__exit__(exc_type, exc, tb)
