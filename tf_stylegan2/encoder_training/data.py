"""Encoder training data: the paired dataset `run_generator.py generate-pairs` writes (a directory
or a zip of it: `source/`, `target/`, `pairs.json`), or one image folder (or zip) where each
image is both the input and the target (plain encoding, pSp's `ffhq_encode`).

Images are read as pSp's `EncodeTransforms` without the flip: RGB, PIL bilinear resize (inputs to
the encoder's input size, targets to 256), `(x / 255 - 0.5) / 0.5` -> float32 in [-1, 1].
The pairs are split in file order: the last `val_count(n, fraction)` are held out for validation
(pSp's test set), the others are trained on in an order shuffled per epoch from the seed
(`np.random.RandomState([seed, epoch]).permutation`), in full batches (pSp's `drop_last=True`).
"""

import concurrent.futures
import io
import json
import os
import threading
import zipfile

import numpy as np

from tf_stylegan2.datasets import pil_images
from tf_stylegan2.encoders import preprocess

PAIRS_FILE = "pairs.json"
TARGET_SIZE = 256  # pSp's face_pool size: the losses compare 256x256 images
_READ_THREADS = 4


class DataError(ValueError):
    """A dataset that cannot be used for encoder training (one-line message)."""


class _Files:
    """Read-only access to the members of a directory or a zip file by relative '/' path."""

    def __init__(self, path):
        self.path = path
        self.is_zip = os.path.isfile(path)
        if self.is_zip:
            try:
                with zipfile.ZipFile(path) as z:
                    self.names = sorted(n for n in z.namelist() if not n.endswith("/"))
            except (zipfile.BadZipFile, OSError) as e:
                raise DataError("dataset %s is neither a directory nor a readable zip (%s)" % (path, e)) from None
            self._local = threading.local()
        elif os.path.isdir(path):
            self.names = sorted(os.path.relpath(os.path.join(root, n), path).replace(os.sep, "/")
                                for root, _, names in os.walk(path) for n in names)
        else:
            raise DataError("dataset %s does not exist" % path)

    def open(self, name):
        if not self.is_zip:
            return open(os.path.join(self.path, name), "rb")
        if getattr(self._local, "zip", None) is None:  # one handle per reading thread
            self._local.zip = zipfile.ZipFile(self.path)
        return io.BytesIO(self._local.zip.read(name))


def _pairs_from_record(files, name):
    """`pairs.json` member `name` -> [(source member, target member)] in its order."""
    prefix = name[:-len(PAIRS_FILE)]
    try:
        with files.open(name) as f:
            record = json.loads(f.read().decode("utf-8"))
        pairs = [(prefix + p["source"], prefix + p["target"]) for p in record["pairs"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError("%s: %s is not a generate-pairs record (%s)" % (files.path, name, str(e) or type(e).__name__)) \
            from None
    known = set(files.names)
    missing = [m for pair in pairs for m in pair if m not in known]
    if missing:
        raise DataError("%s: %s lists %s, which is missing" % (files.path, name, missing[0]))
    return pairs


def val_count(n, fraction):
    """Pairs held out for validation: `round(n * fraction)`, at least 1 when `fraction > 0` and `n >= 2`,
    at most `n - 1`."""
    if fraction <= 0 or n < 2:
        return 0
    return min(n - 1, max(1, int(round(n * fraction))))


class EncoderDataset:
    """`EncoderDataset(path, input_size)`: `pairs` `[(source member, target member)]` (the same
    member twice for an image folder), `read(indices)` -> `(x [N, S, S, 3], y [N, 256, 256, 3])`
    float32 in [-1, 1]; `paired`: True for a generate-pairs dataset.

    Raises:
      DataError: a missing or unreadable dataset, no images, a pairs.json naming missing files.
    """

    def __init__(self, path, input_size):
        self.path, self.input_size = os.fspath(path), int(input_size)
        self.files = _Files(self.path)
        records = sorted((n for n in self.files.names if n.split("/")[-1] == PAIRS_FILE), key=lambda n: n.count("/"))
        self.paired = bool(records)
        if self.paired:
            self.pairs = _pairs_from_record(self.files, records[0])
        else:
            readable = pil_images.image_extensions()
            self.pairs = [(n, n) for n in self.files.names if os.path.splitext(n)[1].lower() in readable]
        if not self.pairs:
            raise DataError("dataset %s holds no images" % self.path)
        self._pool = concurrent.futures.ThreadPoolExecutor(_READ_THREADS)

    def __len__(self):
        return len(self.pairs)

    @property
    def name(self):
        """The dataset's name for run directories: its base name without `.zip`."""
        base = os.path.basename(os.path.normpath(self.path))
        return base[:-4] if base.lower().endswith(".zip") else base

    def _image(self, member, size):
        with self.files.open(member) as f:
            image = np.asarray(pil_images.open_image(f, "%s: %s" % (self.path, member)).convert("RGB"), np.uint8)
        return preprocess.normalize(preprocess.resize(image, size))

    def _read_one(self, index):
        source, target = self.pairs[index]
        y = self._image(target, TARGET_SIZE)
        x = self._image(source, self.input_size) if source != target or self.input_size != TARGET_SIZE else y
        return x, y

    def read(self, indices):
        xs, ys = zip(*self._pool.map(self._read_one, [int(i) for i in indices]))
        return np.stack(xs), np.stack(ys)


class BatchOrder:
    """Training batches of `n` items (indices 0..n-1) for `batch_size`, shuffled per epoch from
    `seed`; `position` `[epoch, batch in the epoch]` is what a resumable state stores.

    Raises:
      DataError: fewer items than one batch.
    """

    def __init__(self, n, batch_size, seed, position=(0, 0)):
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.batches_per_epoch = self.n // self.batch_size
        if self.batches_per_epoch == 0:
            raise DataError("%d training pair(s) do not fill one batch of %d: give a smaller --batch" % (n, batch_size))
        self.epoch, self.index = (int(v) for v in position)
        self._order = None

    @property
    def position(self):
        return [self.epoch, self.index]

    def next(self):
        """-> the indices of the next batch `[batch_size]`."""
        if self.index >= self.batches_per_epoch:
            self.epoch, self.index, self._order = self.epoch + 1, 0, None
        if self._order is None:
            self._order = np.random.RandomState([self.seed, self.epoch]).permutation(self.n)
        start = self.index * self.batch_size
        self.index += 1
        return self._order[start:start + self.batch_size]


def val_batches(first, count, batch_size):
    """Index batches over `first .. first + count - 1` (the last one may be short)."""
    return [np.arange(first + i, first + min(i + batch_size, count)) for i in range(0, count, batch_size)] \
        if count else []

