"""A randomly initialised official network pickle of a TF1 config at any resolution, or of a
`bench_training.py` preset, for the benchmarks that read a file (same architecture and arithmetic
as NVIDIA's trained pickle; NVIDIA's `bench_ada_train.py` times its loop on it).

    python benchmarks/make_network.py --config=config-f --resolution=1024 --out=/tmp/cf1024/network.pkl
    python benchmarks/make_network.py --preset=small-64 --out=/tmp/small64.pkl
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tf_stylegan2  # noqa: E402,F401  (first: it enables oneDNN before TensorFlow loads)
from absl import app, flags  # noqa: E402
import keras  # noqa: E402

from tf_stylegan2 import benchmark  # noqa: E402
from tf_stylegan2.official import save_pickle  # noqa: E402
from tf_stylegan2.training import loop, options  # noqa: E402

flags.DEFINE_enum("config", "config-f", ["config-e", "config-f"], "TF1 config (run_training.py --config)")
flags.DEFINE_integer("resolution", 1024, "image resolution (a power of two >= 4)")
flags.DEFINE_enum("preset", None, sorted(benchmark.PRESETS), "a bench_training.py preset instead of "
                  "--config/--resolution")
flags.DEFINE_string("out", None, "output pickle path", required=True)
flags.DEFINE_integer("seed", 0, "weights seed")
FLAGS = flags.FLAGS


def main(_):
    if FLAGS.preset:
        opts = benchmark.preset_options(FLAGS.preset, seed=FLAGS.seed)
        name = FLAGS.preset
    else:
        opts = options.training_options(dict(data="none", config=FLAGS.config, metrics=[]),
                                        benchmark.dataset_facts(FLAGS.resolution))
        name = FLAGS.config
    resolution = opts["G_kwargs"]["synthesis"]["img_resolution"]
    keras.utils.set_random_seed(FLAGS.seed)
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    save_pickle(loop.build_networks(opts), FLAGS.out)
    print("%s: %s %dx%d, %.1f MB" % (FLAGS.out, name, resolution, resolution, os.path.getsize(FLAGS.out) / 1e6))


if __name__ == "__main__":
    app.run(main)
