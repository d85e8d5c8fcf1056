"""Benchmark: dataset writing and reading speed (images/s) and peak RSS, on a synthetic image folder.

    PYTHONPATH=. python3 benchmarks/bench_dataset.py [--num_images=10000] [--resolution=256] [--work_dir=/tmp/bench_ds]

Makes `<work_dir>/images` (PNG, smooth random colours) once, then runs each phase in its own process
(so each peak RSS is that phase's alone, TensorFlow's ~0.5 GB included):
  write-tfrecords  `create_from_images` (shuffled, every level down to 4x4)
  write-zip        the ADA form `--source=images --dest=ds.zip`
  read-tfrecords   one epoch of `open_dataset(dir).tf_dataset(32, shuffle=True)` (official 4096 MB shuffle
                   buffer: the whole of a small dataset is buffered)
  read-zip         one epoch of `open_dataset(zip).tf_dataset(32, shuffle=True)` (decodes PNGs)
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np
from absl import app, flags
from PIL import Image

flags.DEFINE_integer("num_images", 10000, "Images in the synthetic folder.")
flags.DEFINE_integer("resolution", 256, "Their size (a power of two).")
flags.DEFINE_string("work_dir", "/tmp/bench_ds", "Scratch directory (the image folder is kept between runs).")
flags.DEFINE_string("phase", None, "Internal: run one phase and print its JSON result.")
flags.DEFINE_integer("batch_size", 32, "Read batch size.")
FLAGS = flags.FLAGS
PHASES = ("write-tfrecords", "write-zip", "read-tfrecords", "read-zip")


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_folder(path, num, res):
    """`num` PNGs `res` x `res`: bilinear upsamplings of random 8x8 colour grids (compressible, like photos)."""
    marker = os.path.join(path, ".complete-%d-%d" % (num, res))
    if os.path.exists(marker):
        return 0.0
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    rng = np.random.RandomState(0)
    t0 = time.perf_counter()
    for i in range(num):
        small = Image.fromarray(rng.randint(0, 256, [8, 8, 3]).astype(np.uint8))
        small.resize((res, res), Image.BILINEAR).save(os.path.join(path, "%06d.png" % i), compress_level=1)
    open(marker, "w").close()
    return time.perf_counter() - t0


def run_phase(phase):
    import tf_stylegan2  # noqa: F401  (TensorFlow imported with the package's settings)
    from tf_stylegan2 import datasets
    images = os.path.join(FLAGS.work_dir, "images")
    tf_dir = os.path.join(FLAGS.work_dir, "tfrecords")
    zip_path = os.path.join(FLAGS.work_dir, "ds.zip")
    t0 = time.perf_counter()
    if phase == "write-tfrecords":
        shutil.rmtree(tf_dir, ignore_errors=True)
        count = datasets.create_from_images(tf_dir, images, progress=False)
    elif phase == "write-zip":
        if os.path.exists(zip_path):
            os.remove(zip_path)
        count = datasets.convert(images, zip_path, progress=False)
    else:
        ds = datasets.open_dataset(tf_dir if phase == "read-tfrecords" else zip_path)
        t0 = time.perf_counter()
        count = 0
        for x, _ in ds.tf_dataset(FLAGS.batch_size, shuffle=True, repeat=False, drop_remainder=False):
            count += int(x.shape[0])
    seconds = time.perf_counter() - t0
    print(json.dumps(dict(phase=phase, images=count, seconds=seconds, peak_rss_mb=_peak_mb())))


def main(argv):
    del argv
    if FLAGS.phase:
        run_phase(FLAGS.phase)
        return
    gen = make_folder(os.path.join(FLAGS.work_dir, "images"), FLAGS.num_images, FLAGS.resolution)
    print("folder: %d x %dpx PNG in %s%s" % (FLAGS.num_images, FLAGS.resolution, FLAGS.work_dir,
                                            " (made in %.0f s)" % gen if gen else " (reused)"))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    print("%-16s %8s %10s %10s %14s" % ("phase", "images", "seconds", "images/s", "peak RSS MB"))
    for phase in PHASES:
        args = [sys.executable, os.path.abspath(__file__), "--phase", phase, "--num_images", str(FLAGS.num_images),
                "--resolution", str(FLAGS.resolution), "--work_dir", FLAGS.work_dir,
                "--batch_size", str(FLAGS.batch_size)]
        out = subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print("%-16s %8d %10.1f %10.1f %14.0f" % (phase, r["images"], r["seconds"], r["images"] / r["seconds"],
                                                  r["peak_rss_mb"]))
    tf_mb = sum(os.path.getsize(os.path.join(FLAGS.work_dir, "tfrecords", n))
                for n in os.listdir(os.path.join(FLAGS.work_dir, "tfrecords"))) / 2 ** 20
    print("sizes: tfrecords (all levels) %.0f MB, zip %.0f MB"
          % (tf_mb, os.path.getsize(os.path.join(FLAGS.work_dir, "ds.zip")) / 2 ** 20))


if __name__ == "__main__":
    app.run(main)
