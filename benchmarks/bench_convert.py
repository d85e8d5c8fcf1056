"""Benchmark: load + convert a full-size official pickle; wall time and peak RSS vs file size.

    python3 /work/shared/tools/make_official_pickle.py --preset config-f-1024 --out /tmp/cf1024/network.pkl
    PYTHONPATH=. python3 benchmarks/bench_convert.py --network=/tmp/cf1024/network.pkl [--saved_model]

Times are process wall time after `import tensorflow`. Peak RSS is `getrusage(RUSAGE_SELF).ru_maxrss`
(the whole process, TensorFlow's own ~0.5 GB included) and is also shown above the RSS after import.
"""

import os
import resource
import tempfile
import time

from absl import app, flags, logging

flags.DEFINE_string("network", "/tmp/cf1024/network.pkl", "Official network pickle to load and convert.")
flags.DEFINE_bool("saved_model", False, "Also time the SavedModel export of G_ema.")
FLAGS = flags.FLAGS


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import tf_stylegan2  # noqa: F401  (imports TensorFlow with the package's settings: figures are "after TF import")
    from tf_stylegan2 import converted
    from tf_stylegan2.export import export_saved_model
    from tf_stylegan2.official import load_pickle

    size_mb = os.path.getsize(FLAGS.network) / 2 ** 20
    base_rss = _rss_mb()
    t0 = time.perf_counter()
    nets = load_pickle(FLAGS.network)
    t_load = time.perf_counter() - t0
    peak_load = _peak_mb()
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        converted.save(nets, tmp)
        t_save = time.perf_counter() - t1
        t_export = None
        if FLAGS.saved_model:
            t2 = time.perf_counter()
            export_saved_model(nets.G_ema, os.path.join(tmp, "saved_model"))
            t_export = time.perf_counter() - t2
    peak = _peak_mb()
    print("file                 %s (%.1f MB)" % (FLAGS.network, size_mb))
    print("load pickle -> Keras %.2f s" % t_load)
    print("save Keras weights   %.2f s" % t_save)
    if t_export is not None:
        print("export SavedModel    %.2f s" % t_export)
    print("RSS after TF import  %.0f MB" % base_rss)
    print("peak RSS after load  %.0f MB  (%.2fx file; above import: %.0f MB = %.2fx file)"
          % (peak_load, peak_load / size_mb, peak_load - base_rss, (peak_load - base_rss) / size_mb))
    print("peak RSS overall     %.0f MB  (%.2fx file; above import: %.0f MB = %.2fx file)"
          % (peak, peak / size_mb, peak - base_rss, (peak - base_rss) / size_mb))


if __name__ == "__main__":
    app.run(main)
