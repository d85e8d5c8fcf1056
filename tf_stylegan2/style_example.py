"""The two steps of the mixed-style example (`scripts/mixed_style_pipeline.sh`) that no app does:
a second style made from existing images by rotating their hue, and a comparison grid of image
columns with the L2 of each column against a reference column.

Images are uint8 RGB `[H, W, 3]`; L2 is pSp's: the mean squared difference of the images mapped
to [-1, 1] (`x / 127.5 - 1`).
"""

import os

import numpy as np
from PIL import Image

from tf_stylegan2 import files, generation
from tf_stylegan2.encoders import preprocess
from tf_stylegan2.projector import targets


def rotate_hue(image, degrees):
    """uint8 `[H, W, 3]` -> uint8 `[H, W, 3]` with the hue turned by `degrees` (Pillow's 8-bit HSV;
    greys, saturation and value unchanged)."""
    hsv = np.asarray(Image.fromarray(np.asarray(image, np.uint8)).convert("HSV"), np.int32)
    hsv[..., 0] = (hsv[..., 0] + int(round(degrees / 360.0 * 256))) % 256
    return np.asarray(Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB"), np.uint8)


def rotate_hue_files(sources, dest, degrees):
    """Write `rotate_hue` of each image in `sources` (files, folders or globs, as the apps take
    them) to `dest/<same name>.png`. Returns the number written.

    Raises:
      ValueError: a spec that matches nothing, an unreadable image, or two sources with one name.
    """
    paths = targets.image_paths(sources)
    names = [os.path.splitext(os.path.basename(p))[0] + ".png" for p in paths]
    if len(set(names)) != len(names):
        raise ValueError("two source images have the same file name; give one folder")
    os.makedirs(dest, exist_ok=True)
    for path, name in zip(paths, names):
        files.save_png(os.path.join(dest, name), rotate_hue(preprocess.read_rgb(path), degrees))
    return len(paths)


def l2(a, b):
    """pSp's L2 between two uint8 images of one shape: mean of `(a/127.5 - b/127.5)**2`."""
    diff = np.asarray(a, np.float64) / 127.5 - np.asarray(b, np.float64) / 127.5
    return float(np.mean(np.square(diff)))


def read_columns(columns):
    """Read the columns' images: `columns` is a list of image specs (each a folder, glob or file
    list as `targets.image_paths` takes), matched row by row in their sorted order.

    Returns:
      A list (one per column) of lists of uint8 `[H, W, 3]` images, every image resized to the
      first column's first image's size (PIL bilinear, as pSp's preprocessing).
    Raises:
      ValueError: a spec that matches nothing, or columns with different numbers of images.
    """
    paths = [targets.image_paths([spec]) for spec in columns]
    counts = sorted({len(p) for p in paths})
    if len(counts) != 1:
        raise ValueError("the columns hold different numbers of images: %s"
                         % ", ".join("%s: %d" % (spec, len(p)) for spec, p in zip(columns, paths)))
    images = [[preprocess.read_rgb(p) for p in column] for column in paths]
    size = images[0][0].shape[0]
    return [[preprocess.resize(im, size) for im in column] for column in images]


def comparison_grid(images, scale=1):
    """uint8 grid `[rows * S * scale, cols * S * scale, 3]` of `images` (columns of S x S images,
    as `read_columns` returns), each tile enlarged `scale` times by pixel repetition."""
    cells = {(i, j): np.repeat(np.repeat(im, scale, axis=0), scale, axis=1)
             for j, column in enumerate(images) for i, im in enumerate(column)}
    return generation.image_grid(cells, len(images[0]), len(images))


def column_l2(images, reference):
    """The mean `l2` of every column against column `reference` (row by row), a list of floats."""
    return [float(np.mean([l2(a, b) for a, b in zip(column, images[reference])])) for column in images]
