"""Benchmark: official pickle -> ready Keras networks, wall time and peak RSS vs file size, side by
side with NVIDIA's `legacy.load_network_pkl` on the same file.

    python benchmarks/make_network.py --config=config-f --resolution=1024 --out=/tmp/cf1024/network.pkl
    PYTHONPATH=. python3 benchmarks/bench_convert.py --network=/tmp/cf1024/network.pkl [--repeats=5] \
        [--oracle_src=<stylegan2-ada-pytorch checkout> --oracle_python=<python with torch>] [--save] [--profile]

Each measurement runs in a fresh process (peak RSS is per process), after the framework import
(`import tensorflow` / `import torch`):
- `load_pickle`: this package's loader, all three networks (G, D, G_ema), each variable created
  directly from the array the unpickler read its bytes into;
- `load_pickle_g_ema`: the same with `networks=["G_ema"]` (the file is read whole, only G_ema built);
- `random_init_then_assign`: the loader before issue 16, kept as a baseline: the same networks
  built with their random initialisers, then every weight assigned from the pickle;
- `nvidia` (with `--oracle_src`/`--oracle_python`): stylegan2-ada-pytorch's `legacy.load_network_pkl`,
  which also converts all three networks.
Modes alternate over `--repeats` rounds (a loaded machine then slows all alike); the median is
reported with the process CPU time (all threads: on a loaded machine the wall time is inflated,
the CPU time much less so). Peak RSS: VmHWM during the load minus the RSS before it.
`--save` also times writing the converted directory (Keras `.weights.h5` files). `--profile` runs
`load_pickle` once under cProfile instead (building `--profile_networks`) and prints where the time
goes (cProfile inflates the Python-heavy parts: compare its sections with each other, not with the
timed runs).
"""

import cProfile
import functools
import json
import os
import pstats
import statistics
import sys
import tempfile

from absl import app, flags

from measure import measured, run_fresh

flags.DEFINE_string("network", "/tmp/cf1024/network.pkl", "Official network pickle to load.")
flags.DEFINE_integer("repeats", 3, "Rounds of the modes, each in fresh processes.")
flags.DEFINE_list("modes", ["random_init_then_assign", "load_pickle"], "Modes to time (see the module docstring).")
flags.DEFINE_string("oracle_src", None, "stylegan2-ada-pytorch checkout: adds the `nvidia` mode.")
flags.DEFINE_string("oracle_python", None, "Python interpreter with torch for the `nvidia` mode.")
flags.DEFINE_bool("save", False, "Also time writing the converted directory after load_pickle.")
flags.DEFINE_bool("profile", False, "Profile one load_pickle call instead of timing.")
flags.DEFINE_list("profile_networks", ["G", "D", "G_ema"], "The networks --profile builds.")
flags.DEFINE_enum("mode", None, ["load_pickle", "load_pickle_g_ema", "random_init_then_assign"],
                  "Internal: run one measurement.")
FLAGS = flags.FLAGS

# Run by `--oracle_python`: argv = [benchmarks dir, oracle checkout, pickle].
_NVIDIA_MEASUREMENT = """
import json, sys
sys.path[:0] = sys.argv[1:3]
import torch  # noqa: F401  (figures are after the framework import)
import legacy
from measure import measured
def load():
    with open(sys.argv[3], "rb") as f:
        return legacy.load_network_pkl(f)["G_ema"]
print(json.dumps(dict(measured(load)[1], mode="nvidia")))
"""

# Profile sections: (label, [(file suffix, function name)]) summed by cumulative time.
_SECTIONS = (
    ("read + unpickle the file", [("official/load.py", "read_pickle")]),
    ("construct G, G_ema (Keras layers, tracking)", [("official/load.py", "generator_from_configs")]),
    ("construct D (Keras layers, tracking)", [("networks/discriminator.py", "__init__")]),
    ("create the variables", [("common/variables.py", "initialize_all_variables")]),
)


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
    import tensorflow  # noqa: F401  (figures are after the framework import)
    import tf_stylegan2  # noqa: F401
    from tf_stylegan2.official import load_pickle

    loaders = dict(load_pickle=load_pickle, random_init_then_assign=_random_init_then_assign,
                   load_pickle_g_ema=functools.partial(load_pickle, networks=["G_ema"]))
    nets, result = measured(lambda: loaders[mode](FLAGS.network))
    result["mode"] = mode
    if FLAGS.save and mode == "load_pickle":
        from tf_stylegan2 import converted
        with tempfile.TemporaryDirectory() as tmp:
            result["save_seconds"] = measured(lambda: converted.save(nets, tmp))[1]["seconds"]
    print(json.dumps(result))


def _profile():
    import tensorflow  # noqa: F401
    import tf_stylegan2  # noqa: F401
    from tf_stylegan2.official import load_pickle

    profile = cProfile.Profile()
    profile.runcall(load_pickle, FLAGS.network, networks=FLAGS.profile_networks)
    stats = pstats.Stats(profile)
    cumulative = {}
    for (filename, _, name), (_, _, _, cum, _) in stats.stats.items():
        cumulative[(filename, name)] = max(cumulative.get((filename, name), 0.0), cum)
    total = stats.total_tt
    print("load_pickle (%s) under cProfile: %.2f s" % (", ".join(FLAGS.profile_networks), total))
    rest = total
    for label, functions in _SECTIONS:
        seconds = sum(cum for (filename, name), cum in cumulative.items()
                      if any(filename.endswith(suffix) and name == fn for suffix, fn in functions))
        rest -= seconds
        print("  %-46s %5.2f s  %3.0f %%" % (label, seconds, 100 * seconds / total))
    print("  %-46s %5.2f s  %3.0f %%" % ("the rest (names, layouts, checks)", rest, 100 * rest / total))
    stats.sort_stats("tottime").print_stats(15)


def _run(mode):
    if mode == "nvidia":
        return run_fresh(["-c", _NVIDIA_MEASUREMENT, os.path.dirname(os.path.abspath(__file__)), FLAGS.oracle_src,
                          FLAGS.network], python=FLAGS.oracle_python)
    return run_fresh([__file__, "--mode=" + mode, "--network=" + FLAGS.network, "--save=%s" % FLAGS.save])


def main(argv):
    del argv
    if FLAGS.mode:
        _measure(FLAGS.mode)
        return
    if FLAGS.profile:
        _profile()
        return
    modes = list(FLAGS.modes)
    if FLAGS.oracle_src or FLAGS.oracle_python:
        if not (FLAGS.oracle_src and FLAGS.oracle_python):
            raise app.UsageError("--oracle_src and --oracle_python go together")
        modes.append("nvidia")
    size_mb = os.path.getsize(FLAGS.network) / 2 ** 20
    results = {mode: [] for mode in modes}
    loads = []
    for _ in range(FLAGS.repeats):
        for mode in modes:
            loads.append(os.getloadavg()[0])
            results[mode].append(_run(mode))
    print("file %s (%.1f MB), %d rounds, load average %.1f-%.1f on %d CPUs"
          % (FLAGS.network, size_mb, FLAGS.repeats, min(loads), max(loads), os.cpu_count()))
    medians = {}
    for mode in modes:
        runs = results[mode]
        medians[mode] = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu_seconds"] for r in runs)
        peak = statistics.median(r["peak_above_start_mb"] for r in runs)
        print("%-24s wall %.2f s (runs: %s), CPU %.2f s   peak RSS above start %.0f MB = %.2fx file"
              % (mode, medians[mode], ", ".join("%.2f" % r["seconds"] for r in runs), cpu, peak, peak / size_mb))
        if "save_seconds" in runs[0]:
            print("%-24s %.2f s" % ("save Keras weights", statistics.median(r["save_seconds"] for r in runs)))
    for mode in ("load_pickle", "load_pickle_g_ema"):
        if "nvidia" in medians and mode in medians:
            print("%s / nvidia: %.2fx wall" % (mode, medians[mode] / medians["nvidia"]))


if __name__ == "__main__":
    app.run(main)
