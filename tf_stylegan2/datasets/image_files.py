"""Image files in a folder (recursively) or a zip archive, as StyleGAN2-ADA lists them: every file whose
lower-case extension Pillow knows, sorted by relative path (compared part by part, as sorted `Path`s)."""

import io
import json
import os
import threading
import zipfile

from tf_stylegan2.datasets import pil_images
from tf_stylegan2.datasets.errors import DatasetError

LABELS_FILE = "dataset.json"


class ImageFiles:
    """`ImageFiles(path)`: `.names` (relative, '/'-separated), `.open(name)` -> decoded Pillow image,
    `.metadata()` -> parsed `dataset.json` or None. Thread-safe: one zip handle, opened once, whose
    member reads are serialised by `zipfile` itself (tf.data's decoder threads are not Python threads:
    a per-thread handle would be re-opened, central directory and all, for every image)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.is_zip = os.path.isfile(self.path) and self.path.lower().endswith(".zip")
        if not (self.is_zip or os.path.isdir(self.path)):
            if not os.path.exists(self.path):
                raise DatasetError("Missing input file or directory: %s" % self.path)
            raise DatasetError("%s: must be a directory, a .zip or an official TFRecord directory" % self.path)
        self._zip = None
        self._lock = threading.Lock()
        extensions = pil_images.image_extensions()
        if self.is_zip:
            all_names = [n for n in self._zipfile().namelist() if not n.endswith("/")]
        else:
            all_names = []
            for root, dirs, files in os.walk(self.path, followlinks=True):
                rel = os.path.relpath(root, self.path)
                all_names += [f if rel == "." else os.path.join(rel, f).replace(os.sep, "/") for f in files]
        self._all_names = set(all_names)
        self.names = sorted((n for n in all_names if os.path.splitext(n)[1].lower() in extensions),
                            key=lambda n: n.split("/"))

    def _zipfile(self):
        with self._lock:
            if self._zip is None:
                try:
                    self._zip = zipfile.ZipFile(self.path)
                except (zipfile.BadZipFile, OSError) as e:
                    raise DatasetError("%s: not a readable zip archive (%s)" % (self.path, e)) from None
            return self._zip

    def read_bytes(self, name):
        try:
            if self.is_zip:
                return self._zipfile().read(name)
            with open(os.path.join(self.path, name), "rb") as f:
                return f.read()
        except (OSError, zipfile.BadZipFile, KeyError) as e:
            raise DatasetError("%s: cannot read %s (%s)" % (self.path, name, e)) from None

    def open(self, name):
        """The decoded Pillow image `name` (EXIF orientation applied). Raises DatasetError naming the file."""
        return pil_images.open_image(io.BytesIO(self.read_bytes(name)), os.path.join(self.path, name))

    def metadata(self):
        """`dataset.json` at the root, parsed, or None when there is none."""
        if LABELS_FILE not in self._all_names:
            return None
        try:
            return json.loads(self.read_bytes(LABELS_FILE).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise DatasetError("%s: %s is not valid JSON (%s)" % (self.path, LABELS_FILE, e)) from None
