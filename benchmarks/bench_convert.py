"""Benchmark: official pickle -> ready Keras networks, wall time and peak RSS vs file size, before/after.

    python benchmarks/make_network.py --config=config-f --resolution=1024 --out=/tmp/cf1024/network.pkl
    PYTHONPATH=. python3 benchmarks/bench_convert.py --network=/tmp/cf1024/network.pkl [--repeats=3] [--save]

Each measurement runs in a fresh process (peak RSS is per process), after `import tensorflow`:
- `load_pickle`: this package's loader (networks built without random initialisation, each
  variable created directly from its pickle array, the array released right after);
- `random_init_then_assign`: the previous strategy, kept here as the baseline: the same networks
  built with their random initialisers, then every weight assigned from the pickle.
Modes alternate over `--repeats` rounds (a loaded machine then slows both alike); the median is
reported, with the process CPU time (all threads: on a loaded machine the wall time is inflated,
the CPU time much less so). Peak RSS is `getrusage(RUSAGE_SELF).ru_maxrss` minus the RSS after the import.
`--save` also times writing the converted directory (Keras `.weights.h5` files).
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_string("network", "/tmp/cf1024/network.pkl", "Official network pickle to load.")
flags.DEFINE_integer("repeats", 3, "Rounds of (baseline, load_pickle), each in fresh processes.")
flags.DEFINE_bool("save", False, "Also time writing the converted directory after load_pickle.")
flags.DEFINE_enum("mode", None, ["load_pickle", "random_init_then_assign"], "Internal: run one measurement.")
FLAGS = flags.FLAGS
MODES = ("random_init_then_assign", "load_pickle")


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _random_init_then_assign(path):
    """The loader before issue 16: build with random initialisers, then assign every weight."""
    import numpy as np
    from tf_stylegan2.networks import Discriminator
    from tf_stylegan2.networks.common import from_official
    from tf_stylegan2.official import kwargs as official_kwargs
    from tf_stylegan2.official import load as official_load
    from tf_stylegan2.official.unpickler import validate_states

    G, D, Gs = (net.state for net in validate_states(official_load.read_pickle(path)))
    nets = []
    for state, name in ((G, "G"), (D, "D"), (Gs, "G_ema")):
        if name == "D":
            net = Discriminator(name=name, **official_kwargs.discriminator_config(
                state["static_kwargs"], official_kwargs.flavour(state, official_kwargs.D_FUNCS, name)))
            variables = dict(state["variables"])
        else:
            comps = state["components"]
            flavour = official_kwargs.flavour(comps["synthesis"].state, official_kwargs.SYNTHESIS_FUNCS, name)
            configs = official_kwargs.generator_configs(state["static_kwargs"], comps["mapping"].state["static_kwargs"],
                                                        comps["synthesis"].state["static_kwargs"], flavour)
            net = official_load.generator_from_configs(*configs, name)
            variables = dict(state["variables"])
            for comp in ("mapping", "synthesis"):
                variables.update((comp + "/" + k, v) for k, v in comps[comp].state["variables"])
                comps[comp].state["variables"] = []
        state["variables"] = []
        for key, (var, layout) in net.official_weights().items():
            var.assign(from_official(np.asarray(variables.pop(key), np.float32), layout))
        nets.append(net)
    return official_load.Networks(*nets)


def _measure(mode):
    import tensorflow  # noqa: F401  (figures are "after the TF import")
    import tf_stylegan2  # noqa: F401
    from tf_stylegan2.official import load_pickle

    base = _rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    nets = load_pickle(FLAGS.network) if mode == "load_pickle" else _random_init_then_assign(FLAGS.network)
    result = dict(mode=mode, seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0,
                  peak_above_import_mb=_peak_mb() - base)
    if FLAGS.save and mode == "load_pickle":
        from tf_stylegan2 import converted
        with tempfile.TemporaryDirectory() as tmp:
            t1 = time.perf_counter()
            converted.save(nets, tmp)
            result["save_seconds"] = time.perf_counter() - t1
    print(json.dumps(result))


def main(argv):
    del argv
    if FLAGS.mode:
        _measure(FLAGS.mode)
        return
    size_mb = os.path.getsize(FLAGS.network) / 2 ** 20
    results = {mode: [] for mode in MODES}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    for _ in range(FLAGS.repeats):
        for mode in MODES:
            out = subprocess.run([sys.executable, __file__, "--mode=" + mode, "--network=" + FLAGS.network,
                                  "--save=%s" % FLAGS.save], env=env, capture_output=True, text=True, check=True)
            results[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("file %s (%.1f MB), %d rounds, load average %.1f" % (FLAGS.network, size_mb, FLAGS.repeats,
                                                               os.getloadavg()[0]))
    for mode in MODES:
        runs = results[mode]
        seconds = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu_seconds"] for r in runs)
        peak = statistics.median(r["peak_above_import_mb"] for r in runs)
        print("%-24s wall %.2f s (runs: %s), CPU %.2f s   peak RSS above import %.0f MB = %.2fx file"
              % (mode, seconds, ", ".join("%.2f" % r["seconds"] for r in runs), cpu, peak, peak / size_mb))
        if "save_seconds" in runs[0]:
            print("%-24s %.2f s" % ("save Keras weights", statistics.median(r["save_seconds"] for r in runs)))


if __name__ == "__main__":
    app.run(main)
