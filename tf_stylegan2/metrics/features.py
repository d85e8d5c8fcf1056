"""Detector features of real and generated images (spec §13.1), with the real-image cache.

A detector function maps uint8 NHWC images `[N, H, W, C]` to float features `[N, D]`.
Statistics are float64 running sums (`FeatureStats`), optionally with every feature kept.
Real statistics are cached per (dataset, detector, count, mirroring, what is kept) as
`<cache>/gan-metrics/<dataset name>-<detector key>-<md5>.npz` (ADA's layout).
With several devices, batch i is generated and measured on device i mod n, one thread per
device (TensorFlow runs the compiled calls without the GIL); results keep the batch order.
"""

import collections
import concurrent.futures
import hashlib
import os

import numpy as np
import tensorflow as tf

from tf_stylegan2 import sources
from tf_stylegan2.files import save_npz
from tf_stylegan2.images import to_uint8
from tf_stylegan2.progress import Progress

TF1_MIRROR_SEED = 123


def metric_devices(num_gpus=1):
    """The devices to shard over: the first `num_gpus` GPUs, or `[None]` (the default device) for one.

    Raises:
      ValueError: more GPUs asked for than there are.
    """
    if num_gpus <= 1:
        return [None]
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if num_gpus > len(gpus):
        raise ValueError("%d GPUs asked for, %d available" % (num_gpus, len(gpus)))
    return gpus[:num_gpus]


def map_on_devices(fn, items, devices):
    """Yield `fn(item)` for `items` in order, item i running under `tf.device(devices[i % n])`.
    The first item runs alone (so compiled functions are traced once, not by several threads)."""
    if len(devices) < 2:
        yield from map(fn, items)
        return

    def run(i, item):
        with tf.device(devices[i % len(devices)]):
            return fn(item)

    items = iter(items)
    for item in items:
        yield run(0, item)
        break
    with concurrent.futures.ThreadPoolExecutor(len(devices)) as pool:
        pending = collections.deque()
        for i, item in enumerate(items, start=1):
            pending.append(pool.submit(run, i, item))
            if len(pending) >= len(devices):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class FeatureStats:
    """Running float64 sums of features `[N, D]`: count, sum, sum of outer products (when
    `capture_mean_cov`) and every feature (when `capture_all`), up to `max_items`."""

    def __init__(self, capture_all=False, capture_mean_cov=False, max_items=None):
        self.capture_all, self.capture_mean_cov, self.max_items = capture_all, capture_mean_cov, max_items
        self.num_items = 0
        self.raw_mean = self.raw_cov = None
        self.all_features = []

    def is_full(self):
        return self.max_items is not None and self.num_items >= self.max_items

    def append(self, x):
        x = np.asarray(x).reshape(len(x), -1)
        if self.max_items is not None:
            x = x[:max(self.max_items - self.num_items, 0)]
        if self.capture_all:
            self.all_features.append(x.astype(np.float32))
        if self.capture_mean_cov:
            x64 = x.astype(np.float64)
            if self.raw_mean is None:
                self.raw_mean = np.zeros([x.shape[1]], np.float64)
                self.raw_cov = np.zeros([x.shape[1], x.shape[1]], np.float64)
            self.raw_mean += x64.sum(axis=0)
            self.raw_cov += x64.T @ x64
        self.num_items += x.shape[0]

    def get_all(self):
        """Every feature, float32 `[N, D]`."""
        return np.concatenate(self.all_features, axis=0)

    def get_mean_cov(self, unbiased=False):
        """float64 mean `[D]` and covariance `[D, D]` (biased, ADA; `unbiased`: TF1's `np.cov`)."""
        n = self.num_items
        mean = self.raw_mean / n
        cov = self.raw_cov / n - np.outer(mean, mean)
        return mean, cov * (n / (n - 1)) if unbiased else cov

    def save(self, path):
        arrays = dict(num_items=np.int64(self.num_items), capture_all=self.capture_all,
                      capture_mean_cov=self.capture_mean_cov)
        if self.capture_all:
            arrays["all_features"] = self.get_all()
        if self.capture_mean_cov:
            arrays.update(raw_mean=self.raw_mean, raw_cov=self.raw_cov)
        save_npz(path, **arrays)

    @classmethod
    def load(cls, path):
        with np.load(path) as f:
            stats = cls(bool(f["capture_all"]), bool(f["capture_mean_cov"]))
            stats.num_items = int(f["num_items"])
            if stats.capture_all:
                stats.all_features = [f["all_features"]]
            if stats.capture_mean_cov:
                stats.raw_mean, stats.raw_cov = f["raw_mean"], f["raw_cov"]
        return stats


def _real_batches(dataset, reals, max_items, mirror, batch_size):
    """uint8 NHWC batches of reals in the order and with the mirroring of `reals` (see names.py)."""
    n = dataset.num_images
    if reals == "ada_full":
        yield from (img for img, _ in dataset.iterate_uint8(batch_size, max_images=max_items))
    elif reals == "ada_legacy":
        yield from (img for img, _ in dataset.iterate_uint8(batch_size, max_images=min(max_items, n)))
        if mirror and max_items > n:
            yield from (img[:, :, ::-1] for img, _ in dataset.iterate_uint8(batch_size, max_images=max_items - n))
    else:
        rnd = np.random.RandomState(TF1_MIRROR_SEED)
        left = max_items
        while left > 0:
            for img, _ in dataset.iterate_uint8(batch_size, max_images=min(left, n)):
                if mirror:
                    flip = rnd.uniform(size=len(img)) < 0.5
                    img = np.where(flip[:, None, None, None], img[:, :, ::-1], img)
                left -= len(img)
                yield img


def num_reals(dataset, reals, max_items, mirror):
    """How many real images `_real_batches` yields."""
    n = dataset.num_images
    if reals == "ada_full":
        return n if max_items is None else min(n, max_items)
    if reals == "ada_legacy":
        return min(max_items, 2 * n if mirror else n)
    return max_items


def cache_file(cache_dir, dataset, detector_key, settings):
    """`<cache>/gan-metrics/<dataset name>-<detector key>-<md5>.npz`, the md5 over everything that decides
    the statistics: the settings, the detector, the dataset's path, modification time and shape."""
    path = os.path.abspath(getattr(dataset, "path", None) or str(dataset.name))
    ident = dict(settings, detector=detector_key, dataset_path=path,
                 dataset_mtime=os.path.getmtime(path) if os.path.exists(path) else None,
                 num_images=dataset.num_images, resolution=dataset.resolution, num_channels=dataset.num_channels)
    md5 = hashlib.md5(repr(sorted(ident.items())).encode("utf-8")).hexdigest()
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(dataset.name))
    return os.path.join(sources.cache_dir(cache_dir), "gan-metrics", "%s-%s-%s.npz" % (name, detector_key, md5))


def real_stats(dataset, detector, detector_key, reals, max_items, mirror, capture_all=False, capture_mean_cov=False,
               cache_dir=None, batch_size=64, progress=True, desc="reals", devices=(None,)):
    """`FeatureStats` of the reals, read from the cache when it has them, else computed and cached."""
    settings = dict(reals=reals, max_items=max_items, mirror=bool(mirror) and reals != "ada_full",
                    capture_all=capture_all, capture_mean_cov=capture_mean_cov)
    path = cache_file(cache_dir, dataset, detector_key, settings)
    if os.path.isfile(path):
        return FeatureStats.load(path)
    total = num_reals(dataset, reals, max_items, settings["mirror"])
    stats = FeatureStats(capture_all, capture_mean_cov, max_items=total)
    bar = Progress(total=total, desc=desc) if progress else None
    for feats in map_on_devices(detector, _real_batches(dataset, reals, max_items, settings["mirror"], batch_size),
                                devices):
        stats.append(feats)
        if bar:
            bar.update(len(feats))
    if bar:
        bar.close()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    stats.save(path)
    return stats


def random_labels(rnd, labels, c_dim, n):
    """Labels of `n` uniformly random dataset items `[n, c_dim]` (None when unconditional)."""
    if not c_dim:
        return None
    return np.asarray(labels, np.float32)[rnd.randint(len(labels), size=n)]


def _latent_batches(G, num, labels, batch_size, seed):
    """`(z, c, noise kwargs)` per batch, all drawn from `seed` (the noise with a `tf.random.Generator`;
    a SavedModel generator draws its own)."""
    rnd = np.random.RandomState(seed)
    synthesis = getattr(G, "synthesis", None)
    sizes = [synthesis.noise_resolution(i) for i in range(synthesis.num_noise)] \
        if hasattr(synthesis, "num_noise") else None
    noise_rnd = tf.random.Generator.from_seed(seed)
    for _ in range(0, num, batch_size):
        z = rnd.randn(batch_size, G.z_dim).astype(np.float32)
        c = random_labels(rnd, labels, G.c_dim, batch_size)
        yield z, c, {} if sizes is None else dict(noise=[noise_rnd.normal([batch_size, r, r]) for r in sizes])


def _render(G, latents):
    z, c, kwargs = latents
    return to_uint8(G(z, c, truncation_psi=1, noise_mode="random", **kwargs)).numpy()


def generated_images(G, num, labels=None, batch_size=64, seed=0, devices=(None,)):
    """uint8 NHWC batches of `G(z, c)` with z ~ N(0, I), c a random dataset label, psi = 1 and random
    noise (the metrics' fakes), drawn from `seed`. Every batch has `batch_size` images (one compiled
    shape); the last one may overshoot `num`."""
    return map_on_devices(lambda latents: _render(G, latents), _latent_batches(G, num, labels, batch_size, seed),
                          devices)


def fake_stats(G, detector, num, labels=None, capture_all=False, capture_mean_cov=False, batch_size=64, seed=0,
               progress=True, desc="generated", devices=(None,)):
    """`FeatureStats` of `num` generated images (`generated_images`), each batch generated and
    measured on one device."""
    stats = FeatureStats(capture_all, capture_mean_cov, max_items=num)
    bar = Progress(total=num, desc=desc) if progress else None
    for feats in map_on_devices(lambda latents: detector(_render(G, latents)),
                                _latent_batches(G, num, labels, batch_size, seed), devices):
        stats.append(feats)
        if bar:
            bar.update(min(len(feats), num - bar.count))
    if bar:
        bar.close()
    return stats
