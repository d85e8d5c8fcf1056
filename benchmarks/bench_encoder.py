"""Benchmark: a pSp encoder checkpoint -> load time, peak RSS against its weights, images per second.

    PYTHONPATH=. python3 benchmarks/make_psp_checkpoint.py --out=/tmp/psp256.pt
    PYTHONPATH=. python3 benchmarks/bench_encoder.py --checkpoint=/tmp/psp256.pt [--repeats=3]

Each measurement runs in a fresh process (peak RSS is per process), after `import tf_stylegan2`:
- load: `sg.load_encoder` wall and CPU time, and the peak RSS during the load minus the RSS before
  it, against the file size (the weights: the file is the tensors plus a small pickle);
- speed: `encode` (preprocessed uint8 256x256 input -> W+) and `reconstruct` (encode + decode with
  the stored noise) at batch 1 and 8, after one untimed call (tracing); the median of `--repeats`
  timed calls. The CPU time per image is reported too: on a shared machine the wall time is
  inflated by other processes, the CPU time much less.
"""

import json
import os
import statistics
import time

from absl import app, flags

from measure import measured, run_fresh

flags.DEFINE_string("checkpoint", "/tmp/psp256.pt", "pSp checkpoint (make_psp_checkpoint.py).")
flags.DEFINE_integer("repeats", 3, "Timed calls per batch size (median reported).")
flags.DEFINE_list("batches", ["1", "8"], "Batch sizes to time.")
flags.DEFINE_enum("mode", None, ["load", "speed"], "Internal: run one measurement.")
FLAGS = flags.FLAGS


def _timed(fn, repeats):
    """(median wall seconds, median CPU seconds) of `repeats` calls after one untimed call."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def _measure(mode):
    import numpy as np
    import tf_stylegan2 as sg

    psp, result = measured(lambda: sg.load_encoder(FLAGS.checkpoint))
    result.update(mode=mode, input_size=psp.input_size, n_styles=psp.n_styles, output=psp.decoder.img_resolution)
    if mode == "speed":
        rng = np.random.default_rng(0)
        for batch in [int(b) for b in FLAGS.batches]:
            images = rng.integers(0, 256, [batch, psp.input_size, psp.input_size, 3], dtype=np.uint8)
            for name, fn in (("encode", lambda: psp.encode(images)),
                             ("reconstruct", lambda: psp.reconstruct(images).numpy())):
                wall, cpu = _timed(fn, FLAGS.repeats)
                result["%s_b%d" % (name, batch)] = dict(images_per_s=batch / wall, cpu_s_per_image=cpu / batch)
    print(json.dumps(result))


def main(argv):
    del argv
    if FLAGS.mode:
        _measure(FLAGS.mode)
        return
    size_mb = os.path.getsize(FLAGS.checkpoint) / 2 ** 20
    runs = {mode: run_fresh([__file__, "--mode=" + mode, "--checkpoint=" + FLAGS.checkpoint,
                             "--repeats=%d" % FLAGS.repeats, "--batches=" + ",".join(FLAGS.batches)])
            for mode in ("load", "speed")}
    load = runs["load"]
    print("checkpoint %s (%.1f MB): input %d, %d styles, output %d; load average %.1f on %d CPUs"
          % (FLAGS.checkpoint, size_mb, load["input_size"], load["n_styles"], load["output"], os.getloadavg()[0],
             os.cpu_count()))
    peak = load["peak_above_start_mb"]
    print("load_encoder: wall %.2f s, CPU %.2f s, peak RSS above start %.0f MB = %.2fx the file"
          % (load["seconds"], load["cpu_seconds"], peak, peak / size_mb))
    for key, value in runs["speed"].items():
        if isinstance(value, dict):
            print("%-16s %.2f images/s (CPU %.2f s per image)" % (key, value["images_per_s"], value["cpu_s_per_image"]))


if __name__ == "__main__":
    app.run(main)
