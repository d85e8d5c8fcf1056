"""`dataset_tool.py`: NVIDIA's StyleGAN2 (TF1) dataset tool and StyleGAN2-ADA's `--source/--dest` form.

Official TFRecord datasets (`<dir>/<name>-rNN.tfrecords` for every level, `<name>-rxx.labels`) come from
the `create_*` subcommands; `display` writes a grid PNG, `extract` PNG files, `compare` checks two
datasets record by record, `info` prints a summary. Without a subcommand, `--source=DIR|ZIP|TFRECORD_DIR|
cifar-10-python.tar.gz|train-images-idx3-ubyte.gz --dest=ZIP|DIR` writes StyleGAN2-ADA's layout.
"""

import json
import os

from absl import flags

from tf_stylegan2 import datasets
from tf_stylegan2.apps import cli
from tf_stylegan2.datasets import create, inspection, pil_images, sources
from tf_stylegan2.files import save_png

FLAGS = flags.FLAGS
_ARGS = dict(allow_override=True)


def define_flags():
    """Define this app's flags (called from `main`, so importing the module defines none)."""
    flags.DEFINE_integer("shuffle", 1, "create_*: 1 = records in the official RandomState(123) order, 0 = source "
                         "order", **_ARGS)
    flags.DEFINE_integer("resolution", None, "create_from_images, --source/--dest: output size R x R (resize; with "
                         "--transform for non-square images)", lower_bound=4, **_ARGS)
    flags.DEFINE_enum("transform", None, list(pil_images.TRANSFORMS), "create_from_images, --source/--dest: non-square or other-size images: "
                      "center-crop, center-crop-wide (ADA) or resize (aspect ratio not kept)", **_ARGS)
    flags.DEFINE_enum("resize_filter", "lanczos", list(pil_images.RESIZE_FILTERS), "create_from_images, --source/--dest: resampling filter", **_ARGS)
    flags.DEFINE_string("labels", None, "create_from_images, --source/--dest: labels file, ADA dataset.json (keyed by "
                        "relative file name) or .npy ([N] class indices or float32 [N, dim]); default: the "
                        "source's own dataset.json", **_ARGS)
    flags.DEFINE_integer("ignore_labels", 0, "compare: 1 = compare images only", **_ARGS)
    flags.DEFINE_string("output", None, "display: grid PNG to write (default <dataset name>-grid.png)", **_ARGS)
    flags.DEFINE_integer("num_images", 64, "display: images in the grid", lower_bound=1, **_ARGS)
    flags.DEFINE_integer("max_images", None, "--source/--dest, extract: read at most N images", lower_bound=1, **_ARGS)
    flags.DEFINE_string("source", None, "--source/--dest (ADA form): input folder, zip, TFRecord directory, cifar-10-python.tar.gz, "
                        "train-images-idx3-ubyte.gz or .h5", **_ARGS)
    flags.DEFINE_string("dest", None, "--source/--dest (ADA form): output .zip, or a folder (new or empty)", **_ARGS)
    flags.DEFINE_integer("width", None, "--source/--dest (ADA form): output width", lower_bound=1, **_ARGS)
    flags.DEFINE_integer("height", None, "--source/--dest (ADA form): output height", lower_bound=1, **_ARGS)


def _shuffle():
    if FLAGS.shuffle not in (0, 1):
        raise cli.CommandError("--shuffle must be 0 or 1, got %d" % FLAGS.shuffle)
    return bool(FLAGS.shuffle)


def _write(source, tfrecord_dir, transform_flags=False):
    """Write a source as official TFRecords (the --resolution/--transform/--labels flags where they apply)."""
    if FLAGS.labels:
        create.apply_labels_file(source, FLAGS.labels)
    size = FLAGS.resolution if transform_flags else None
    preparer = create.ImagePreparer(size, size, FLAGS.transform if transform_flags else None, FLAGS.resize_filter)
    count = create.write_tfrecords_from_source(source, tfrecord_dir, _shuffle(), preparer)
    print("wrote %d images to %s" % (count, tfrecord_dir))


def create_from_images(tfrecord_dir, image_dir):
    """Official TFRecords (every level) from a folder (searched recursively) or zip of images; with
    --resolution and --transform, images of other sizes and shapes are resized."""
    _write(sources.ImageFilesSource(image_dir), tfrecord_dir, transform_flags=True)


def create_from_hdf5(tfrecord_dir, hdf5_filename):
    """Official TFRecords from an HDF5 file (the 4-D dataset whose name starts with `data` and has
    the largest shape[3], CHW images; labels from `<stem>-labels.npy` when present)."""
    _write(sources.hdf5_source(hdf5_filename), tfrecord_dir)


def create_cifar10(tfrecord_dir, cifar10_dir):
    """Official TFRecords of CIFAR-10 (`data_batch_1..5` of a folder or of cifar-10-python.tar.gz),
    one-hot labels."""
    _write(sources.cifar10_source(cifar10_dir), tfrecord_dir)


def create_mnist(tfrecord_dir, mnist_dir):
    """Official TFRecords of MNIST (train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz in the
    folder), zero-padded to 32x32, one-hot labels."""
    _write(sources.mnist_source(mnist_dir), tfrecord_dir)


def display(tfrecord_dir):
    """Write a grid PNG of the first --num-images images and print their labels."""
    grid, labels = inspection.grid(tfrecord_dir, FLAGS.num_images)
    output = FLAGS.output or "%s-grid.png" % datasets.open_dataset(tfrecord_dir).name
    save_png(output, grid)
    for i, label in enumerate(labels):
        if label.size:
            print("%d %s" % (i, label.tolist()))
    print("wrote a grid of %d images to %s" % (len(labels), output))


def extract(tfrecord_dir, output_dir):
    """Write the full-resolution images as `output_dir/img%08d.png`, in record order."""
    count = inspection.extract(tfrecord_dir, output_dir, FLAGS.max_images)
    print("extracted %d images to %s" % (count, output_dir))


def compare(tfrecord_dir_a, tfrecord_dir_b):
    """Compare two datasets record by record (images, and labels unless --ignore-labels=1)."""
    if FLAGS.ignore_labels not in (0, 1):
        raise cli.CommandError("--ignore_labels must be 0 or 1, got %d" % FLAGS.ignore_labels)
    inspection.compare(tfrecord_dir_a, tfrecord_dir_b, bool(FLAGS.ignore_labels))


def info(path):
    """Print a JSON summary of a dataset (TFRecord directory, ADA zip or image folder)."""
    print(json.dumps(inspection.info(path), indent=2))


def convert():
    """StyleGAN2-ADA form (no subcommand): --source (folder, zip, TFRecord directory, CIFAR-10, MNIST,
    HDF5) to --dest (an ADA zip or a new, empty folder)."""
    if not FLAGS.source and not FLAGS.dest:
        raise cli.CommandError("give a subcommand (%s) or --source and --dest" % ", ".join(sorted(
            n for n in COMMANDS if n and "-" not in n)))
    if not FLAGS.source or not FLAGS.dest:
        raise cli.CommandError("--source and --dest are both required")
    width, height = FLAGS.width, FLAGS.height
    if FLAGS.resolution is not None:
        if (width or FLAGS.resolution) != FLAGS.resolution or (height or FLAGS.resolution) != FLAGS.resolution:
            raise cli.CommandError("--resolution=%d contradicts --width/--height" % FLAGS.resolution)
        width = height = FLAGS.resolution
    count = create.convert(FLAGS.source, FLAGS.dest, FLAGS.max_images, width, height, FLAGS.transform,
                           FLAGS.resize_filter, FLAGS.labels)
    print("wrote %d images to %s" % (count, os.path.abspath(FLAGS.dest)))


COMMANDS = {None: convert, "create_from_images": create_from_images, "create_from_hdf5": create_from_hdf5,
            "create_cifar10": create_cifar10, "create_mnist": create_mnist, "display": display,
            "extract": extract, "compare": compare, "info": info}
COMMANDS.update({name.replace("_", "-"): fn for name, fn in list(COMMANDS.items()) if name and "_" in name})


def main():
    define_flags()
    cli.run(COMMANDS, positional=True)
