"""Cost of ADA's augmentation pipe next to a discriminator pass.

    PYTHONPATH=. python3 benchmarks/bench_augment.py [--resolutions=16,32,64] [--batch=8] [--p=0.5]
        [--augpipe=bgc] [--fmap_base=2048] [--repeats=20]

Per resolution, milliseconds per call (best of --repeats, each inside a `tf.function`):
  aug fwd      pipe(images) with p = --p
  aug fwd+bwd  the same plus the gradient with respect to the images (G's path in training)
  D fwd+bwd    D(images) and its gradient with respect to D's weights and the images
               (resnet D, fmap_base --fmap_base, fmap_max 512, random weights)
and the pipe's cost as a share of the D pass (aug fwd+bwd / D fwd+bwd).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tf_stylegan2 as sg  # noqa: E402
from absl import app, flags  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_stylegan2.apps import cli  # noqa: E402
from tf_stylegan2.training import augment  # noqa: E402

flags.DEFINE_string("resolutions", "16,32,64", "image resolutions to time")
flags.DEFINE_integer("batch", 8, "minibatch size")
flags.DEFINE_float("p", 0.5, "augmentation strength")
flags.DEFINE_string("augpipe", "bgc", "augmentation preset: " + ", ".join(augment.AUGPIPE_SPECS))
flags.DEFINE_integer("fmap_base", 2048, "discriminator fmap_base (ADA's auto config uses 16384 below 512 px)")
flags.DEFINE_integer("repeats", 20, "timed calls per configuration (the best is reported)")
FLAGS = flags.FLAGS


def best_ms(fn, repeats):
    """Best wall time of `repeats` calls after one warm-up (which also traces)."""
    tf.nest.map_structure(np.asarray, fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        tf.nest.map_structure(np.asarray, fn())
        times.append(time.perf_counter() - t0)
    return 1000 * min(times)


def time_resolution(res):
    pipe = augment.AugmentPipe(p=FLAGS.p, **augment.AUGPIPE_SPECS[FLAGS.augpipe])
    D = sg.Discriminator(img_resolution=res, fmap_base=FLAGS.fmap_base, fmap_max=512)
    x = tf.random.uniform([FLAGS.batch, res, res, 3], -1, 1)

    @tf.function
    def aug_fwd(v):
        return pipe(v)

    @tf.function
    def aug_fwd_bwd(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            y = pipe(v)
        return tape.gradient(y, v, output_gradients=tf.ones_like(y))

    @tf.function
    def d_fwd_bwd(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            loss = tf.reduce_sum(tf.nn.softplus(D(v)))
        return tape.gradient(loss, [v] + D.trainable_variables)

    return [best_ms(lambda fn=fn: fn(x), FLAGS.repeats) for fn in (aug_fwd, aug_fwd_bwd, d_fwd_bwd)]


def main(argv):
    del argv
    if FLAGS.augpipe not in augment.AUGPIPE_SPECS:
        raise cli.CommandError("--augpipe must be one of %s" % ", ".join(augment.AUGPIPE_SPECS))
    print("TensorFlow %s, %d CPU threads visible; %s p=%g batch %d, D fmap_base %d; ms per call, best of %d"
          % (tf.__version__, os.cpu_count(), FLAGS.augpipe, FLAGS.p, FLAGS.batch, FLAGS.fmap_base, FLAGS.repeats))
    print("%-5s %10s %12s %11s %14s" % ("res", "aug fwd", "aug fwd+bwd", "D fwd+bwd", "aug / D pass"))
    for res in cli.parse_int_list(FLAGS.resolutions):
        fwd, fwd_bwd, d = time_resolution(res)
        print("%-5d %10.2f %12.2f %11.2f %13.0f%%" % (res, fwd, fwd_bwd, d, 100 * fwd_bwd / d), flush=True)


if __name__ == "__main__":
    app.run(main)
