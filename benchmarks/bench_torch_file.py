"""Benchmark: reading `torch.save` files without PyTorch (`official.torch_pickle.load_torch_file`) and
rosinality checkpoints into Keras networks (`load_network("model.pt")`): wall time and peak RSS
against the size of the tensors.

    PYTHONPATH=. python3 benchmarks/bench_torch_file.py [--megabytes=1200] [--tensors=300] [--resolution=256]

Writes (into a temporary directory) a file of `--tensors` float32 tensors totalling `--megabytes`
in both serializations (zip and legacy stream), and a rosinality converted checkpoint of a random
config-f generator (`Generator(resolution, 512, 8, channel_multiplier=2)`, g_ema + latent_avg).
Each measurement runs in a fresh process; peak RSS is the process's VmHWM minus its RSS just
before the load (after the imports).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

flags.DEFINE_integer("megabytes", 1200, "Total tensor size of the synthetic file (MiB).")
flags.DEFINE_integer("tensors", 300, "Number of tensors in the synthetic file.")
flags.DEFINE_integer("resolution", 256, "Resolution of the rosinality generator.")
flags.DEFINE_string("measure", None, "Internal: 'reader:<path>' or 'network:<path>'.")
FLAGS = flags.FLAGS


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _peak_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))


def measure(spec):
    kind, path = spec.split(":", 1)
    from tf_stylegan2 import sources
    from tf_stylegan2.official import torch_pickle
    before = _rss_mb()
    start = time.perf_counter()
    if kind == "reader":
        obj = torch_pickle.load_torch_file(path)
        nbytes = sum(v.nbytes for v in obj.values())
    else:
        nets = sources.load_network(path)
        nbytes = sum(v.numpy().nbytes for v in nets.G_ema.weights)
    seconds = time.perf_counter() - start
    print(json.dumps(dict(seconds=seconds, tensor_mb=nbytes / 2 ** 20, peak_mb=_peak_mb() - before)))


def _run(spec):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, __file__, "--measure=" + spec], capture_output=True, text=True, env=env,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(_):
    if FLAGS.measure:
        return measure(FLAGS.measure)
    import numpy as np
    from tf_stylegan2.official.load import Networks, generator_from_configs
    from tf_stylegan2.official.torch_save import save_torch_file
    from tf_stylegan2.rosinality import save_rosinality
    with tempfile.TemporaryDirectory() as tmp:
        n = FLAGS.megabytes * 2 ** 20 // 4 // FLAGS.tensors
        rng = np.random.default_rng(0)
        obj = {"t%d" % i: rng.standard_normal(n, dtype=np.float32) for i in range(FLAGS.tensors)}
        files = {}
        for form, legacy in (("zip", False), ("legacy", True)):
            files[form] = os.path.join(tmp, form + ".pt")
            save_torch_file(obj, files[form], legacy=legacy)
        del obj
        G = generator_from_configs(dict(z_dim=512, w_dim=512, num_ws=2 * FLAGS.resolution.bit_length() - 4),
                                   dict(w_dim=512, img_resolution=FLAGS.resolution, fmap_base=16384), "G_ema")
        files["rosinality"] = os.path.join(tmp, "rosinality.pt")
        save_rosinality(Networks(None, None, G), files["rosinality"])
        for form, path in files.items():
            r = _run(("network:" if form == "rosinality" else "reader:") + path)
            print("%-10s file %7.1f MiB  tensors %7.1f MiB  %6.2f s  peak RSS +%7.1f MiB  (%.2fx the tensors)"
                  % (form, os.path.getsize(path) / 2 ** 20, r["tensor_mb"], r["seconds"], r["peak_mb"],
                     r["peak_mb"] / r["tensor_mb"]))


if __name__ == "__main__":
    app.run(main)
