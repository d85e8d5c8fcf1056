"""Benchmark: projector optimisation steps per second, eager vs tf.function vs XLA.

    python benchmarks/make_network.py --config=config-f --resolution=256 --out=/tmp/cf256/network.pkl
    PYTHONPATH=. python3 benchmarks/bench_project.py --networks=tests/data/orig/network.pkl,\\
        tests/data/public/network.pkl,/tmp/cf256/network.pkl

Each network x mode builds a `Projector` (random VGG16: same cost as ImageNet weights, no
download), runs the first step (tracing / XLA compilation, reported separately), then times
`--steps` steps (`--eager_steps` in eager mode, which is slow at 256). Ratios are within one run.
"""

import time

from absl import app, flags

flags.DEFINE_list("networks", ["tests/data/orig/network.pkl", "tests/data/public/network.pkl",
                               "/tmp/cf256/network.pkl"], "Official network pickles to project with.")
flags.DEFINE_list("modes", ["eager", "function", "xla"], "Step execution modes to compare.")
flags.DEFINE_integer("steps", 20, "Timed steps per network and mode (after the first).")
flags.DEFINE_integer("eager_steps", 5, "Timed steps in eager mode.")
FLAGS = flags.FLAGS

JIT = {"eager": None, "function": False, "xla": True}


def bench(G, distance, mode, steps):
    """(seconds of the first step including construction, steps per second after it)."""
    import tf_stylegan2 as sg
    from tf_stylegan2 import projector

    z, noise = sg.seeded_noise(0, G.z_dim, G.synthesis.num_noise)
    target = G.synthesis(G.mapping(z), noise=noise).numpy()
    hp = projector.OFFICIAL._replace(num_steps=steps + 1)
    t0 = time.perf_counter()
    proj = projector.Projector(G, distance, hyperparameters=hp, jit=JIT[mode])
    results = proj.run(target)
    first = next(results)
    t1 = time.perf_counter()
    last = first
    for last in results:
        pass
    t2 = time.perf_counter()
    return t1 - t0, steps / (t2 - t1), first.distance, last.distance


def main(argv):
    del argv
    import tensorflow as tf
    import tf_stylegan2 as sg
    from tf_stylegan2 import projector
    from tf_stylegan2.projector import lpips

    distance = projector.PerceptualDistance(lpips.random_vgg16(0))
    print("TensorFlow %s, devices: %s" % (tf.__version__, ", ".join(d.name for d in tf.config.list_logical_devices())))
    print("%-34s %-9s %11s %9s %9s   %s" % ("network", "mode", "first step", "steps/s", "vs eager", "distance"))
    for path in FLAGS.networks:
        G = sg.load_network(path).G_ema
        name = "%s (%dpx)" % (path.rsplit("/", 2)[-2], G.img_resolution)
        rates = {}
        for mode in FLAGS.modes:
            steps = FLAGS.eager_steps if mode == "eager" else FLAGS.steps
            first, rate, d0, d1 = bench(G, distance, mode, steps)
            rates[mode] = rate
            ratio = "%8.2fx" % (rate / rates["eager"]) if "eager" in rates else "%9s" % "-"
            print("%-34s %-9s %10.2fs %9.2f %s   %.4f -> %.4f" % (name, mode, first, rate, ratio, d0, d1), flush=True)


if __name__ == "__main__":
    app.run(main)
