"""A randomly initialised official network pickle of a TF1 config at any resolution, for the
benchmarks that read a file (same architecture and arithmetic as NVIDIA's trained pickle).

    python benchmarks/make_network.py --config=config-f --resolution=1024 --out=/tmp/cf1024/network.pkl
"""

import os
import sys
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tf_stylegan2  # noqa: E402,F401  (first: it enables oneDNN before TensorFlow loads)
from absl import app, flags  # noqa: E402
import keras  # noqa: E402

from tf_stylegan2.official import save_pickle  # noqa: E402
from tf_stylegan2.training import loop, options  # noqa: E402

flags.DEFINE_enum("config", "config-f", ["config-e", "config-f"], "TF1 config (run_training.py --config)")
flags.DEFINE_integer("resolution", 1024, "image resolution (a power of two >= 4)")
flags.DEFINE_string("out", None, "output pickle path", required=True)
flags.DEFINE_integer("seed", 0, "weights seed")
FLAGS = flags.FLAGS


def main(_):
    data = SimpleNamespace(name="random", resolution=FLAGS.resolution, num_channels=3, label_dim=0, num_images=1)
    opts = options.training_options(dict(data="none", config=FLAGS.config, metrics=[]), data)
    keras.utils.set_random_seed(FLAGS.seed)
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    save_pickle(loop.build_networks(opts), FLAGS.out)
    print("%s: %s %dx%d, %.1f MB" % (FLAGS.out, FLAGS.config, FLAGS.resolution, FLAGS.resolution,
                                     os.path.getsize(FLAGS.out) / 1e6))


if __name__ == "__main__":
    app.run(main)
