"""`calc_metric` / `report_metric`: one metric of a generator against a dataset, and ADA's
`metric-<name>.jsonl` record of it (spec §13.7)."""

import json
import os
import sys
import time

import numpy as np

from tf_stylegan2 import datasets
from tf_stylegan2.files import atomic_path
from tf_stylegan2.metrics import features, names, path_length
from tf_stylegan2.metrics.frechet import fid_from_stats
from tf_stylegan2.metrics.inception import load_inception
from tf_stylegan2.metrics.inception_score import is_from_probabilities
from tf_stylegan2.metrics.kernel import kid_from_features
from tf_stylegan2.metrics.precision_recall import pr_from_features
from tf_stylegan2.metrics.vgg16 import load_vgg16

KID_NUM_SUBSETS, KID_MAX_SUBSET_SIZE = 100, 1000
IS_NUM_SPLITS = 10
PPL_BATCH_SIZE = 8


def format_time(seconds):
    """dnnlib's `format_time`: '12s', '3m 05s', '2h 03m 05s', '1d 02h 03m'."""
    s = int(np.rint(seconds))
    if s < 60:
        return "%ds" % s
    if s < 3600:
        return "%dm %02ds" % (s // 60, s % 60)
    if s < 86400:
        return "%dh %02dm %02ds" % (s // 3600, (s // 60) % 60, s % 60)
    return "%dd %02dh %02dm" % (s // 86400, (s // 3600) % 24, (s // 60) % 60)


def _warn(message):
    print("warning: %s" % message, file=sys.stderr)


def open_metric_dataset(dataset):
    """A path (TFRecord directory, zip, image folder) -> `datasets.open_dataset(path)`; objects and None pass."""
    if dataset is None or hasattr(dataset, "iterate_uint8"):
        return dataset
    return datasets.open_dataset(os.fspath(dataset))


def check_inputs(spec, G, dataset):
    """Raise a one-line ValueError when `G` and `dataset` cannot give the metric `spec`."""
    if spec.kind == "ppl":
        path_length.check_generator(G)
    if dataset is None:
        if spec.max_reals != 0:
            raise ValueError("%s compares with real images: give a dataset (--data)" % spec.name)
        if G.c_dim:
            raise ValueError("%s of a conditional network needs the dataset's labels: give a dataset (--data)"
                             % spec.name)
        return
    if spec.max_reals != 0 and dataset.resolution != G.img_resolution:
        raise ValueError("dataset %s has %dx%d images, the network makes %dx%d"
                         % (dataset.name, dataset.resolution, dataset.resolution, G.img_resolution, G.img_resolution))
    if G.c_dim and dataset.label_dim != G.c_dim:
        raise ValueError("the network is conditional with %d classes, dataset %s has %s" % (
            G.c_dim, dataset.name, "%d label values" % dataset.label_dim if dataset.label_dim else "no labels"))


def _announce_small_dataset(spec, dataset, mirror, warn):
    have = dataset.num_images
    if spec.reals == "ada_full" and have < spec.num_fakes:
        warn("dataset %s has %d images, fewer than the %d generated ones of %s: using all %d"
             % (dataset.name, have, spec.num_fakes, spec.name, have))
    elif spec.reals == "ada_legacy" and have * (2 if mirror else 1) < spec.max_reals:
        warn("dataset %s has %d images: %s uses %d reals instead of %d" % (
            dataset.name, have, spec.name, features.num_reals(dataset, spec.reals, spec.max_reals, mirror),
            spec.max_reals))
    elif spec.reals == "tf1" and have < spec.max_reals:
        warn("dataset %s has %d images: %s repeats them to %d reals (as TF1)"
             % (dataset.name, have, spec.name, spec.max_reals))


def _detector(spec, inception_source, vgg16_source, cache_dir, progress):
    if spec.kind in ("fid", "kid", "is"):
        if hasattr(inception_source, "probabilities"):
            return inception_source
        return load_inception(inception_source, cache_dir, progress=progress)
    if spec.kind == "pr":
        return vgg16_source if hasattr(vgg16_source, "features") else load_vgg16(vgg16_source)
    return None


def calc_metric(name, G, dataset, mirror=False, cache_dir=None, inception=None, vgg16=None, progress=True,
                distance=None, batch_size=64, seed=0, warn=_warn, devices=None):
    """Evaluate metric `name` (see `names.py`) of generator `G` (a `Generator`, normally G_ema).

    Args:
      dataset: a path for `datasets.open_dataset`, a dataset object, or None (IS and PPL of an
        unconditional network need none).
      mirror: the training's x-flips (used by the non-`_full` FID, KID and PR; spec §13.2).
      cache_dir: root of the download and statistics cache (default: the network cache).
      inception: `classify_image_graph_def.pb` / `inception-2015-12-05.tgz` path or URL, a loaded
        detector, or None (downloaded once).
      vgg16: PR's VGG16 weights ("imagenet" or a file of the whole classifier, or a loaded detector);
        PPL's LPIPS backbone weights ("imagenet" or a file as the projector's --vgg16).
      distance: PPL's `(a, b) -> [N]` distance instead of the LPIPS one (RGB [0, 255] NHWC).
      batch_size: images per generator / detector call; seed: latents and labels.
      warn: called with a one-line message when the dataset is smaller than the metric asks.
      devices: device names FID, KID, PR and IS shard their batches over (e.g. `metric_devices(4)`, the
        first 4 GPUs); None: the default device. PPL runs on the default device.
    Returns:
      `{"results": {...}, "metric": name, "total_time": s, "total_time_str": ..., "num_gpus": n}`.
    Raises:
      names.MetricError (unknown names), ValueError (unusable inputs or detectors), OSError.
    """
    spec = names.parse_metric(name)
    start = time.time()
    devices = list(devices or [None])
    dataset = open_metric_dataset(dataset)
    check_inputs(spec, G, dataset)
    detector = _detector(spec, inception, vgg16, cache_dir, progress)
    labels = None if dataset is None else dataset.labels
    fake_kwargs = dict(labels=labels, batch_size=batch_size, seed=seed, progress=progress,
                       desc="%s: generated" % spec.name, devices=devices)
    if spec.max_reals != 0:
        _announce_small_dataset(spec, dataset, mirror, warn)

    def reals(extract, **capture):
        return features.real_stats(dataset, extract, detector.key, spec.reals, spec.max_reals, mirror,
                                   cache_dir=cache_dir, batch_size=batch_size, progress=progress,
                                   desc="%s: reals" % spec.name, devices=devices, **capture)

    if spec.kind == "fid":
        real = reals(detector.features, capture_mean_cov=True)
        fake = features.fake_stats(G, detector.features, spec.num_fakes, capture_mean_cov=True, **fake_kwargs)
        results = {spec.name: fid_from_stats(*real.get_mean_cov(spec.unbiased_cov),
                                             *fake.get_mean_cov(spec.unbiased_cov))}
    elif spec.kind == "kid":
        real = reals(detector.features, capture_all=True)
        fake = features.fake_stats(G, detector.features, spec.num_fakes, capture_all=True, **fake_kwargs)
        results = {spec.name: kid_from_features(real.get_all(), fake.get_all(), KID_NUM_SUBSETS,
                                                KID_MAX_SUBSET_SIZE, seed=seed)}
    elif spec.kind == "pr":
        real = reals(detector.features, capture_all=True)
        fake = features.fake_stats(G, detector.features, spec.num_fakes, capture_all=True, **fake_kwargs)
        precision, recall = pr_from_features(real.get_all(), fake.get_all(), spec.nhood_size)
        results = {spec.name + "_precision": precision, spec.name + "_recall": recall}
    elif spec.kind == "is":
        fake = features.fake_stats(G, detector.probabilities, spec.num_fakes, capture_all=True, **fake_kwargs)
        mean, std = is_from_probabilities(fake.get_all(), IS_NUM_SPLITS)
        results = {spec.name + "_mean": mean, spec.name + "_std": std}
    else:
        d = path_length.path_distances(
            G, distance or path_length.lpips_distance(vgg16 if isinstance(vgg16, str) else None), spec.num_fakes,
            space=spec.space, sampling=spec.sampling, crop=spec.crop, labels=labels, epsilon=names.PPL_EPSILON,
            batch_size=max(1, min(PPL_BATCH_SIZE, batch_size)), seed=seed, progress=progress, desc=spec.name)
        results = {spec.name: path_length.ppl_from_distances(d)}
    total = time.time() - start
    return dict(results=results, metric=spec.name, total_time=total, total_time_str=format_time(total),
                num_gpus=len(devices))


def report_metric(result, run_dir, snapshot_pkl=None):
    """Append ADA's jsonl line for `result` to `<run_dir>/metric-<name>.jsonl` (rewritten
    atomically, so a kill never leaves a partial line) and return the line's dict.

    `snapshot_pkl` is stored relative to `run_dir`; `timestamp` is `time.time()`.
    """
    if snapshot_pkl is not None:
        snapshot_pkl = os.path.relpath(snapshot_pkl, run_dir)
    line = dict(result, snapshot_pkl=snapshot_pkl, timestamp=time.time())
    path = os.path.join(run_dir, "metric-%s.jsonl" % result["metric"])
    old = b""
    if os.path.exists(path):
        with open(path, "rb") as f:
            old = f.read()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(old + (json.dumps(line) + "\n").encode("utf-8"))
    return line


def format_result_line(result, network_name):
    """TF1's text line: `<network %-30s> time <%-12s> <name> <%-10.4f>...`."""
    name = network_name if len(network_name) < 30 else "..." + network_name[-26:]
    return "%-30s time %-12s%s" % (name, result["total_time_str"], "".join(
        " %s %-10.4f" % (k, v) for k, v in result["results"].items()))
