"""Per-tick training statistics: accumulation, `stats.jsonl` lines in StyleGAN2-ADA's format
(`{key: {"num", "mean", "std"}, "timestamp": t}`) and TensorBoard scalars and images.

The TensorBoard events are written with TensorFlow's own `tf.summary.write` and the scalars/images
plugin metadata, so the `tensorboard` package is only needed to view them.
"""

import json
import math
import os
import resource
import time

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from tf_stylegan2.files import atomic_path


class Accumulator:
    """Sums of `[sum, sum of squares, count]` per key (the phases' `stat` values) and plain values."""

    def __init__(self):
        self.sums = {}

    def add(self, stats):
        for key, value in stats.items():
            value = np.asarray(value, np.float64)
            self.sums[key] = self.sums.get(key, 0.0) + value

    def add_value(self, key, value):
        self.add({key: [value, value * value, 1.0]})

    def summary(self):
        """`{key: {"num", "mean", "std"}}` of everything added since the last `reset`."""
        out = {}
        for key, (s, s2, n) in sorted(self.sums.items()):
            mean = s / n if n else float("nan")
            var = max(s2 / n - mean * mean, 0.0) if n else float("nan")
            out[key] = dict(num=int(n), mean=float(mean), std=float(math.sqrt(var)) if n else float("nan"))
        return out

    def reset(self):
        self.sums = {}


def nonfinite_keys(summary, prefix="Loss/"):
    """Keys under `prefix` whose mean is NaN or infinite."""
    return [k for k, v in summary.items() if k.startswith(prefix) and v["num"] and not math.isfinite(v["mean"])]


def cpu_mem_gb():
    """Resident memory of this process in GB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 30
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def _metadata(plugin, data_class):
    return summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin),
                                       data_class=data_class)


_SCALAR = _metadata("scalars", summary_pb2.DATA_CLASS_SCALAR)
_IMAGE = _metadata("images", summary_pb2.DATA_CLASS_BLOB_SEQUENCE)


class StatsWriter:
    """Appends one JSON line per tick to `<run_dir>/stats.jsonl` and writes the means (and image
    grids) as TensorBoard events into `<run_dir>`."""

    def __init__(self, run_dir):
        self.path = os.path.join(run_dir, "stats.jsonl")
        self.tensorboard = tf.summary.create_file_writer(run_dir)

    def write(self, summary, kimg):
        line = dict(summary, timestamp=time.time())
        with open(self.path, "a") as f:
            f.write(json.dumps(line) + "\n")
            f.flush()
            os.fsync(f.fileno())
        step = int(round(kimg * 1000))
        with self.tensorboard.as_default():
            for key, value in summary.items():
                if math.isfinite(value["mean"]):
                    tf.summary.write(key, tf.constant(value["mean"], tf.float32), step=step, metadata=_SCALAR)
        self.tensorboard.flush()

    def write_scalar(self, key, value, kimg):
        with self.tensorboard.as_default():
            tf.summary.write(key, tf.constant(value, tf.float32), step=int(round(kimg * 1000)), metadata=_SCALAR)
        self.tensorboard.flush()

    def write_image(self, key, image, kimg):
        """uint8 `[H, W, C]` grid (the images plugin's `[width, height, png]` strings)."""
        with self.tensorboard.as_default():
            png = tf.io.encode_png(image)
            tensor = tf.stack([tf.constant(str(image.shape[1])), tf.constant(str(image.shape[0])), png])
            tf.summary.write(key, tensor, step=int(round(kimg * 1000)), metadata=_IMAGE)
        self.tensorboard.flush()

    def close(self):
        self.tensorboard.close()


def truncate_jsonl(path, max_tick):
    """Keep only the lines of `stats.jsonl` up to tick `max_tick` (a resumed run rewrites the ticks
    after its checkpoint). Rewritten atomically; a torn last line is dropped."""
    if not os.path.exists(path):
        return
    keep = []
    with open(path, errors="replace") as f:  # a damaged file loses its damaged lines, nothing else
        for line in f:
            try:
                tick = json.loads(line)["Progress/tick"]["mean"]
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(tick, (int, float)) and tick <= max_tick:
                keep.append(line if line.endswith("\n") else line + "\n")
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.writelines(keep)
