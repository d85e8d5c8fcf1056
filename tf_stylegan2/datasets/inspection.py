"""Looking at datasets: `info`, `compare` (record by record), `extract` (PNG files) and `grid` (a PNG
contact sheet in place of the official `display` window). Works on any `open_dataset` path."""

import math
import os

import numpy as np

from tf_stylegan2.datasets import tfrecords
from tf_stylegan2.datasets.errors import DatasetError
from tf_stylegan2.datasets.readers import TFRecordDataset, open_dataset
from tf_stylegan2.files import atomic_directory, save_png
from tf_stylegan2.generation import image_grid
from tf_stylegan2.progress import Progress

BATCH = 32


def info(path):
    """-> dict: format, name, num_images, resolution, num_channels, label_dim, num_classes (one-hot
    labels) and, for TFRecord directories, the level files with their record counts."""
    ds = open_dataset(path)
    out = dict(path=os.fspath(path), format="tfrecords" if isinstance(ds, TFRecordDataset) else
               ("ada-zip" if os.fspath(path).lower().endswith(".zip") else "image-folder"),
               name=ds.name, num_images=ds.num_images, resolution=ds.resolution, num_channels=ds.num_channels,
               label_dim=ds.label_dim)
    if ds.labels is not None and np.all((ds.labels == 0) | (ds.labels == 1)) and np.all(ds.labels.sum(1) == 1):
        out["num_classes"] = int(ds.labels.shape[1])
        out["class_counts"] = [int(n) for n in ds.labels.sum(0)]
    if isinstance(ds, TFRecordDataset) and os.path.isdir(path):
        levels = {}
        for name in sorted(os.listdir(path)):
            if name.endswith(".tfrecords"):
                levels[name] = tfrecords.count_records(os.path.join(path, name))
        out["levels"] = levels
    return out


def compare(path_a, path_b, ignore_labels=False, report=print):
    """The official `compare`: full-resolution images (and labels) record by record.

    `report` gets one line per differing image or label, one for a different count, then the totals.
    Returns dict(num_a, num_b, identical_images, identical_labels (None when ignored)).
    """
    a, b = open_dataset(path_a), open_dataset(path_b)
    if a.shape != b.shape:
        raise DatasetError("%s is %dx%dx%d, %s is %dx%dx%d" % (path_a, *a.shape, path_b, *b.shape))
    same_images = same_labels = 0
    count = min(a.num_images, b.num_images)
    index = 0
    for (xa, ca), (xb, cb) in zip(a.iterate_uint8(BATCH, count), b.iterate_uint8(BATCH, count)):
        for i in range(len(xa)):
            if np.array_equal(xa[i], xb[i]):
                same_images += 1
            else:
                report("Image %d is different" % (index + i))
            if not ignore_labels:
                if ca.shape[1:] == cb.shape[1:] and np.array_equal(ca[i], cb[i]):
                    same_labels += 1
                else:
                    report("Label %d is different" % (index + i))
        index += len(xa)
    if a.num_images != b.num_images:
        report("Datasets contain different number of images (%d and %d)" % (a.num_images, b.num_images))
    report("Identical images: %d / %d" % (same_images, a.num_images))
    if not ignore_labels:
        report("Identical labels: %d / %d" % (same_labels, a.num_images))
    return dict(num_a=a.num_images, num_b=b.num_images, identical_images=same_images,
                identical_labels=None if ignore_labels else same_labels)


def extract(path, output_dir, max_images=None, progress=True):
    """The official `extract`: full-resolution images as `<output_dir>/img%08d.png` (L or RGB), in record
    order. `output_dir` must not exist or be empty; it appears complete or not at all. Returns the count."""
    ds = open_dataset(path, use_labels=False)
    if os.path.exists(output_dir) and (not os.path.isdir(output_dir) or os.listdir(output_dir)):
        raise DatasetError("%s already exists and is not empty" % output_dir)
    total = ds.num_images if max_images is None else min(max_images, ds.num_images)
    bar = Progress(total=total, desc="extract") if progress else None
    index = 0
    with atomic_directory(output_dir) as tmp:
        for images, _ in ds.iterate_uint8(BATCH, max_images):
            for image in images:
                save_png(os.path.join(tmp, "img%08d.png" % index), image)
                index += 1
            if bar:
                bar.update(len(images))
    if bar:
        bar.close()
    return index


def grid(path, num_images=64, columns=None):
    """The first `num_images` images as one uint8 `[rows*R, cols*R, C]` grid (row-major), and their labels
    (float32 `[n, label_dim]`). `columns` defaults to ceil(sqrt(n))."""
    ds = open_dataset(path)
    images, labels = [], []
    for x, c in ds.iterate_uint8(BATCH, num_images):
        images.extend(x)
        labels.extend(c)
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    cells = {(i // columns, i % columns): img for i, img in enumerate(images)}
    return image_grid(cells, rows, columns), np.array(labels, np.float32).reshape(len(images), ds.label_dim)
