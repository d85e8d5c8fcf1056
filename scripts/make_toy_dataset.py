"""Draw a folder of toy training images: one coloured disk per image on a dark background.

    python scripts/make_toy_dataset.py --out=toy-images [--num=256] [--size=16] [--seed=0]

The images are RGB PNGs (`img00000.png`, ...), `--size` x `--size`, drawn by
`tf_stylegan2.datasets.toy.disk_images`: the set depends only on the flags, so every machine draws
the same images. It is the data of the docs' first training run (docs/training.md). Make a dataset
of it with `python dataset_tool.py --source=toy-images --dest=toy16.zip`.
"""

import os
import sys

from absl import app, flags
from PIL import Image

from tf_stylegan2.datasets import toy

flags.DEFINE_string("out", None, "Output folder (created; must not hold PNGs yet).")
flags.DEFINE_integer("num", 256, "Number of images.", lower_bound=1)
flags.DEFINE_integer("size", 16, "Image side in pixels (a power of two, as training needs).", lower_bound=4)
flags.DEFINE_integer("seed", 0, "Seed of numpy's RandomState that draws the disks.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        sys.exit("make_toy_dataset: error: unexpected arguments %s" % " ".join(argv[1:]))
    if not FLAGS.out:
        sys.exit("make_toy_dataset: error: --out is required")
    if FLAGS.size & (FLAGS.size - 1):
        sys.exit("make_toy_dataset: error: --size must be a power of two, got %d" % FLAGS.size)
    os.makedirs(FLAGS.out, exist_ok=True)
    if any(name.endswith(".png") for name in os.listdir(FLAGS.out)):
        sys.exit("make_toy_dataset: error: %s already holds PNGs" % FLAGS.out)
    for i, image in enumerate(toy.disk_images(FLAGS.num, FLAGS.size, FLAGS.seed)):
        Image.fromarray(image).save(os.path.join(FLAGS.out, "img%05d.png" % i))
    print("make_toy_dataset: %d images at %dx%d in %s" % (FLAGS.num, FLAGS.size, FLAGS.size, FLAGS.out))


if __name__ == "__main__":
    app.run(main)
