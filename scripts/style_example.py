"""The mixed-style example's own two steps (`scripts/mixed_style_pipeline.sh`; logic in
`tf_stylegan2.style_example`):

    python scripts/style_example.py rotate-hue --images=DIR|GLOB,... --out=DIR [--degrees=180]
    python scripts/style_example.py grid --columns=SPEC,SPEC,... --out=grid.png [--scale=4] [--reference=1]

`rotate-hue` writes each image with its hue turned (a second colour style of the same shapes) as
`--out/<name>.png`. `grid` puts the images of each column spec (a folder or a quoted glob; the
columns are matched row by row in sorted order) side by side, one row per image, tiles enlarged
`--scale` times, and prints every column's L2 (pSp's: mean squared difference in [-1, 1]) against
column `--reference` (0-based).
"""

import tf_stylegan2_startup

tf_stylegan2_startup.quiet_import("tf_stylegan2")  # before TensorFlow loads: no start-up chatter

from absl import flags  # noqa: E402

from tf_stylegan2 import files, style_example  # noqa: E402
from tf_stylegan2.apps import cli  # noqa: E402

flags.DEFINE_list("images", None, "rotate-hue: image files, folders or glob patterns.")
flags.DEFINE_float("degrees", 180.0, "rotate-hue: hue rotation in degrees.")
flags.DEFINE_list("columns", None, "grid: one image spec (folder or glob) per column.")
flags.DEFINE_integer("scale", 4, "grid: tile enlargement (pixel repetition).", lower_bound=1)
flags.DEFINE_integer("reference", None, "grid: the column the L2 values are measured against (0-based; default "
                     "none).", lower_bound=0)
flags.DEFINE_string("out", None, "rotate-hue: output folder; grid: output PNG.")
FLAGS = flags.FLAGS


def _require(*names):
    missing = ["--" + n for n in names if not FLAGS[n].value]
    if missing:
        raise cli.CommandError("give %s" % " and ".join(missing))


def rotate_hue():
    """Write each --images file with its hue turned by --degrees into --out."""
    _require("images", "out")
    count = style_example.rotate_hue_files(FLAGS.images, FLAGS.out, FLAGS.degrees)
    print("rotate-hue: %d image(s), hue %+g degrees, in %s" % (count, FLAGS.degrees, FLAGS.out))


def grid():
    """Write the --columns side by side into --out and print each column's L2 against --reference."""
    _require("columns", "out")
    if FLAGS.reference is not None and FLAGS.reference >= len(FLAGS.columns):
        raise cli.CommandError("--reference=%d: there are %d columns" % (FLAGS.reference, len(FLAGS.columns)))
    images = style_example.read_columns(FLAGS.columns)
    files.save_png(FLAGS.out, style_example.comparison_grid(images, FLAGS.scale))
    print("grid: %d rows x %d columns in %s" % (len(images[0]), len(images), FLAGS.out))
    if FLAGS.reference is not None:
        for spec, value in zip(FLAGS.columns, style_example.column_l2(images, FLAGS.reference)):
            print("L2 against column %d: %.5f  %s" % (FLAGS.reference, value, spec))


if __name__ == "__main__":
    cli.run({"rotate-hue": rotate_hue, "grid": grid})
