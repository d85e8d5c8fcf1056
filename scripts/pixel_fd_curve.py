"""Pixel-space Fréchet distance of every network snapshot of a training run: its quality curve.

    python scripts/pixel_fd_curve.py --run=results/default-network/runs/00000-emoji32-... \
        --data=results/default-network/emoji32.zip [--num=1000] [--size=16] [--every=1]

For each `network-snapshot-<kimg>.pkl` (every `--every`-th, and always the last): `--num` images of
its G_ema (seeds 0.. of `RandomState(123)`, psi 1, const noise) against the first `--num` training
images, pooled to `--size` x `--size` (`tf_stylegan2.metrics.pixel_fd`). Prints a Markdown table,
with the distance between the even and odd halves of the whole training set as the floor that
sampling alone gives (smaller sets: a larger bias), and keeps `{"kimg", "pixel_fd", "snapshot"}`
lines in `<run>/pixel_fd<size>.jsonl` (snapshots already there are skipped, so it can run again as
training goes on).
"""

import glob
import json
import os
import re

import numpy as np
from absl import flags

import tf_stylegan2 as sg
from tf_stylegan2 import datasets, metrics
from tf_stylegan2.apps import cli
from tf_stylegan2.files import atomic_path

flags.DEFINE_string("run", None, "Training run directory (network-snapshot-*.pkl).", required=True)
flags.DEFINE_string("data", None, "The run's dataset (zip, folder or TFRecord directory).", required=True)
flags.DEFINE_integer("num", 1000, "Images per set.", lower_bound=2)
flags.DEFINE_integer("size", 16, "Pooled resolution of the pixel features.", lower_bound=1)
flags.DEFINE_integer("every", 1, "Measure every N-th snapshot (and the last).", lower_bound=1)
FLAGS = flags.FLAGS


def main():
    snapshots = sorted(glob.glob(os.path.join(FLAGS.run, "network-snapshot-*.pkl")))
    if not snapshots:
        raise ValueError("no network-snapshot-*.pkl in %s" % FLAGS.run)
    chosen = snapshots[::FLAGS.every] + ([snapshots[-1]] if (len(snapshots) - 1) % FLAGS.every else [])
    log_path = os.path.join(FLAGS.run, "pixel_fd%d.jsonl" % FLAGS.size)
    done = [json.loads(line) for line in open(log_path)] if os.path.exists(log_path) else []
    measured = {d["snapshot"] for d in done}
    reals = np.concatenate([x for x, _ in datasets.open_dataset(FLAGS.data).iterate_uint8(256, FLAGS.num)])
    reals = reals.astype(np.float32) / 127.5 - 1
    for path in chosen:
        name = os.path.basename(path)
        if name in measured:
            continue
        G = sg.load_network(path).G_ema
        kimg = int(re.search(r"(\d+)\.pkl$", name).group(1))
        done.append(dict(kimg=kimg, pixel_fd=round(metrics.pixel_fd(G, reals, FLAGS.size), 4), snapshot=name))
        with atomic_path(log_path) as tmp:
            with open(tmp, "w") as f:
                f.writelines(json.dumps(d) + "\n" for d in sorted(done, key=lambda d: d["kimg"]))
        print("%s: pixel FD %.4g" % (name, done[-1]["pixel_fd"]), flush=True)
    everything = np.concatenate([x for x, _ in datasets.open_dataset(FLAGS.data).iterate_uint8(256)])
    halves = [metrics.pixel_features(everything[i::2].astype(np.float32) / 127.5 - 1, FLAGS.size) for i in (0, 1)]
    print("\n| kimg | pixel FD (%dx%d, %d images) |\n|---:|---:|" % (FLAGS.size, FLAGS.size, len(reals)))
    print("| training set, even vs odd halves (%d / %d images) | %.2f |"
          % (len(halves[0]), len(halves[1]), metrics.fid_from_features(*halves)))
    for d in sorted(done, key=lambda d: d["kimg"]):
        print("| %d | %.2f |" % (d["kimg"], d["pixel_fd"]))


if __name__ == "__main__":
    cli.run(main)
