"""Toy training images: one coloured disk per image on a dark background.

The data of the docs' first training run (`scripts/make_toy_dataset.py`) and of the training tests:
small enough for a CPU, with a shape and colours a network learns within a few kimg. The images
depend only on (num, size, seed), so every machine draws the same ones.
"""

import numpy as np


def disk_images(num, size, seed=0):
    """Yields `num` uint8 `[size, size, 3]` RGB images, drawn one after another from numpy's
    `RandomState(seed)`: a disk of random colour (0-255 per channel), centre (30-70 % of the side)
    and radius (20-35 % of the side) on a random dark background (0-63 per channel)."""
    rnd = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5  # pixel centres
    for _ in range(num):
        cx, cy = rnd.uniform(size * 0.3, size * 0.7, 2)
        radius = rnd.uniform(size * 0.2, size * 0.35)
        color, background = rnd.randint(0, 256, 3), rnd.randint(0, 64, 3)
        inside = ((xx - cx) ** 2 + (yy - cy) ** 2) < radius * radius
        yield np.where(inside[..., None], color, background).astype(np.uint8)
