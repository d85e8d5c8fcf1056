"""calc_metric / report_metric end to end on the 16 px fixture network and tiny image folders,
with stand-in detectors (the Inception-named stand-in GraphDef, a projection for PR, a pixel
distance for PPL): real-image order and mirroring, the statistics cache, the jsonl format,
PPL's interpolation, crop, epsilon and shared noise, and the bad-input errors."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import load_fixture_networks
from metric_standins import ProjectionDetector, write_image_folder, write_standin_inception
from tf_stylegan2 import datasets, metrics
from tf_stylegan2.metrics import features


@pytest.fixture(scope="module")
def G():
    return load_fixture_networks("orig").G_ema


@pytest.fixture(scope="module")
def inception_pb(tmp_path_factory):
    return write_standin_inception(tmp_path_factory.mktemp("inception"))


def _images(n, size=16, seed=0, channels=3):
    return np.random.RandomState(seed).randint(0, 256, [n, size, size, channels]).astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("data") / "tiny", _images(48, seed=1))


class ReplayGenerator:
    """A 'generator' whose fakes are the given uint8 images, in order, cyclically."""

    def __init__(self, images):
        self.images = images
        self.z_dim, self.c_dim = 4, 0
        self.img_resolution, self.img_channels = images.shape[1], images.shape[3]
        self.calls = 0

    def __call__(self, z, c=None, truncation_psi=1, noise_mode="const"):
        assert truncation_psi == 1 and noise_mode == "random" and c is None
        idx = (self.calls * len(z) + np.arange(len(z))) % len(self.images)
        self.calls += 1
        return tf.constant((self.images[idx].astype(np.float32) - 127.5) / 127.5)


def _calc(name, G, data, tmp_path, **kwargs):
    kwargs.setdefault("cache_dir", str(tmp_path / "cache"))
    kwargs.setdefault("progress", False)
    kwargs.setdefault("batch_size", 16)
    return metrics.calc_metric(name, G, data, **kwargs)


def test_fid_of_the_dataset_against_itself_is_zero(folder, inception_pb, tmp_path):
    imgs = np.concatenate([b for b, _ in datasets.open_dataset(folder).iterate_uint8(16)])
    result = _calc("fid48_full", ReplayGenerator(imgs), folder, tmp_path, inception=inception_pb)
    assert abs(result["results"]["fid48_full"]) < 1e-4
    other = _calc("fid48_full", ReplayGenerator(imgs[:, :, ::-1]), folder, tmp_path, inception=inception_pb)
    assert other["results"]["fid48_full"] > 1e-3


def _own_fakes(G, n, batch_size=16, seed=0):
    """The metrics' fakes drawn here, by their documented rule rather than the metric code: per batch
    z = RandomState(seed).randn(batch, z_dim), psi = 1, per-layer noise tf.random.Generator(seed)
    normal [batch, r, r] (r = 4, 8, 8, 16, 16, ...), uint8 = clip(x * 127.5 + 128, 0, 255)
    truncated; the first `n` images."""
    rnd, noise_rnd = np.random.RandomState(seed), tf.random.Generator.from_seed(seed)
    sizes = [4 * 2 ** ((i + 1) // 2) for i in range(2 * int(np.log2(G.img_resolution)) - 3)]
    out = []
    for _ in range(0, n, batch_size):
        z = rnd.randn(batch_size, G.z_dim).astype(np.float32)
        noise = [noise_rnd.normal([batch_size, r, r]) for r in sizes]
        img = G(z, None, truncation_psi=1, noise_mode="random", noise=noise).numpy()
        out.append(np.clip(img * 127.5 + 128, 0, 255).astype(np.uint8))
    return np.concatenate(out)[:n]


def _fid(a, b, ddof=0):
    """Fréchet distance of two feature sets, float64, scipy's sqrtm (ADA: biased covariances; TF1: np.cov)."""
    import scipy.linalg
    a, b = a.astype(np.float64), b.astype(np.float64)
    s1, s2 = np.cov(a, rowvar=False, ddof=ddof), np.cov(b, rowvar=False, ddof=ddof)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * root))


def _kid(reals, fakes, subsets=100, size=1000, seed=0):
    """ADA's KID: unbiased MMD^2 of the cubic kernel over random subsets (fakes drawn first)."""
    rnd, d = np.random.RandomState(seed), reals.shape[1]
    m = min(len(reals), len(fakes), size)
    total = 0.0
    for _ in range(subsets):
        x = fakes[rnd.choice(len(fakes), m, replace=False)].astype(np.float64)
        y = reals[rnd.choice(len(reals), m, replace=False)].astype(np.float64)
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        total += ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.mean()
    return total / subsets


def _inception_score(probs, splits=10):
    scores = []
    for i in range(splits):
        p = probs[i * len(probs) // splits:(i + 1) * len(probs) // splits].astype(np.float64)
        kl = p * (np.log(p) - np.log(p.mean(0, keepdims=True)))
        scores.append(np.exp(kl.sum(1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _precision_recall(reals, fakes, k=3):
    """ADA's improved precision/recall: a sample is covered when it lies within some sample of the
    other set's k-th nearest-neighbour radius (self included as the 0th)."""
    def dist(a, b):
        a, b = a.astype(np.float64), b.astype(np.float64)
        return np.sqrt(np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T, 0))
    real_radii = np.sort(dist(reals, reals), axis=1)[:, k]
    fake_radii = np.sort(dist(fakes, fakes), axis=1)[:, k]
    precision = np.mean((dist(fakes, reals) <= real_radii[None]).any(1))
    recall = np.mean((dist(reals, fakes) <= fake_radii[None]).any(1))
    return float(precision), float(recall)


def test_fid_kid_is_against_numpy_on_the_detectors_own_features(G, folder, inception_pb, tmp_path):
    det = metrics.load_inception(inception_pb)
    reals = np.concatenate([det.features(b) for b, _ in datasets.open_dataset(folder).iterate_uint8(16)])
    fakes = det.features(_own_fakes(G, 40))
    fid = _calc("fid40_full", G, folder, tmp_path, inception=inception_pb)
    assert set(fid) == {"results", "metric", "total_time", "total_time_str", "num_gpus"}
    assert fid["metric"] == "fid40_full" and fid["num_gpus"] == 1
    expected = _fid(reals, fakes)
    assert expected > 1e-3
    np.testing.assert_allclose(fid["results"]["fid40_full"], expected, rtol=1e-5)
    kid = _calc("kid40_full", G, folder, tmp_path, inception=inception_pb)
    np.testing.assert_allclose(kid["results"]["kid40_full"], _kid(reals, fakes), rtol=1e-5)
    # TF1 fid: the first 40 reals, unbiased covariance
    tf1 = _calc("fid40", G, folder, tmp_path, inception=inception_pb)
    np.testing.assert_allclose(tf1["results"]["fid40"], _fid(reals[:40], fakes, ddof=1), rtol=1e-5)
    probs = det.probabilities(_own_fakes(G, 30))
    inc = _calc("is30", G, None, tmp_path, inception=inception_pb)
    assert inc["results"] == pytest.approx(dict(zip(("is30_mean", "is30_std"), _inception_score(probs))), rel=1e-5)


def test_pr_against_numpy_on_the_vgg_detectors_features(G, folder, tmp_path):
    det = ProjectionDetector()
    reals = det.features(np.concatenate([b for b, _ in datasets.open_dataset(folder).iterate_uint8(16)]))
    fakes = det.features(_own_fakes(G, 32))
    result = _calc("pr323_full", G, folder, tmp_path, vgg16=det)
    expected = _precision_recall(reals, fakes, 3)
    assert result["results"] == pytest.approx(dict(zip(("pr323_full_precision", "pr323_full_recall"), expected)))


def test_real_statistics_are_cached(G, folder, inception_pb, tmp_path):
    first = _calc("fid32_full", G, folder, tmp_path, inception=inception_pb)
    cached = os.listdir(str(tmp_path / "cache" / "gan-metrics"))
    assert len(cached) == 1 and cached[0].startswith("tiny-inception-") and cached[0].endswith(".npz")
    ds = datasets.open_dataset(folder)
    ds.iterate_uint8 = None  # the reals must come from the cache now
    again = _calc("fid32_full", G, ds, tmp_path, inception=inception_pb)
    assert again["results"] == first["results"]
    # another count of the same kind (fid32 reads 32 mirrored reals) is another cache entry
    _calc("fid32", G, folder, tmp_path, inception=inception_pb, mirror=True)
    assert len(os.listdir(str(tmp_path / "cache" / "gan-metrics"))) == 2


def test_replaced_dataset_file_invalidates_the_cache(G, inception_pb, tmp_path):
    folder = write_image_folder(tmp_path / "changing", _images(20, seed=5))
    first = _calc("fid16_full", G, folder, tmp_path, inception=inception_pb)
    write_image_folder(tmp_path / "new", _images(1, seed=6))
    os.utime(folder, (0, 0))
    os.replace(str(tmp_path / "new" / "img00000.png"), os.path.join(folder, "img00000.png"))
    second = _calc("fid16_full", G, folder, tmp_path, inception=inception_pb)
    assert len(os.listdir(str(tmp_path / "cache" / "gan-metrics"))) == 2
    assert second["results"] != first["results"]


class IndexDataset:
    """Images whose every pixel is (index, column, 0): order and flips are visible."""

    name, path, resolution, num_channels, labels, label_dim = "idx", "/nowhere/idx", 4, 3, None, 0

    def __init__(self, n):
        self.num_images = n

    def iterate_uint8(self, batch_size, max_images=None):
        n = self.num_images if max_images is None else min(max_images, self.num_images)
        img = np.zeros([n, 4, 4, 3], np.uint8)
        img[..., 0] = np.arange(n)[:, None, None]
        img[..., 1] = np.arange(4)[None, None, :]
        for i in range(0, n, batch_size):
            yield img[i:i + batch_size], np.zeros([len(img[i:i + batch_size]), 0], np.float32)


def _reals(reals, max_items, mirror, n=5):
    imgs = np.concatenate(list(features._real_batches(IndexDataset(n), reals, max_items, mirror, 2)))
    flipped = imgs[:, 0, 0, 1] == 3
    return list(imgs[:, 0, 0, 0]), list(flipped)


def test_real_image_order_and_mirroring():
    assert _reals("ada_full", None, False) == ([0, 1, 2, 3, 4], [False] * 5)
    assert _reals("ada_full", 3, True) == ([0, 1, 2], [False] * 3)
    # ADA legacy: mirrored copies are items N..2N-1
    assert _reals("ada_legacy", 8, True) == ([0, 1, 2, 3, 4, 0, 1, 2], [False] * 5 + [True] * 3)
    assert _reals("ada_legacy", 8, False) == ([0, 1, 2, 3, 4], [False] * 5)
    # TF1: file order repeated, random flips (fixed seed) when mirroring
    order, flips = _reals("tf1", 12, True)
    assert order == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    want = list(np.random.RandomState(features.TF1_MIRROR_SEED).uniform(size=12) < 0.5)
    assert flips == want and any(flips) and not all(flips)
    assert _reals("tf1", 7, False) == ([0, 1, 2, 3, 4, 0, 1], [False] * 7)
    for mode, count, mirror in (("ada_full", None, False), ("ada_legacy", 8, True), ("tf1", 12, True)):
        assert features.num_reals(IndexDataset(5), mode, count, mirror) == len(_reals(mode, count, mirror)[0])


def test_small_dataset_is_announced_and_used(G, folder, inception_pb, tmp_path):
    said = []
    result = _calc("fid64_full", G, folder, tmp_path, inception=inception_pb, warn=said.append)
    assert said == ["dataset tiny has 48 images, fewer than the 64 generated ones of fid64_full: using all 48"]
    assert np.isfinite(result["results"]["fid64_full"])
    said.clear()
    _calc("fid64", G, folder, tmp_path, inception=inception_pb, warn=said.append)
    assert said == ["dataset tiny has 48 images: fid64 repeats them to 64 reals (as TF1)"]


def test_bad_inputs(G, folder, inception_pb, tmp_path):
    with pytest.raises(metrics.MetricError, match="known: fid50k_full"):
        _calc("fid50k_ful", G, folder, tmp_path)
    with pytest.raises(ValueError, match="give a dataset"):
        _calc("fid10_full", G, None, tmp_path, inception=inception_pb)
    big = write_image_folder(tmp_path / "big", _images(2, size=32))
    with pytest.raises(ValueError, match="32x32 images, the network makes 16x16"):
        _calc("fid10_full", G, big, tmp_path, inception=inception_pb)
    with pytest.raises(datasets.DatasetError):
        _calc("fid10_full", G, str(tmp_path / "missing"), tmp_path, inception=inception_pb)


def test_conditional_generator_uses_dataset_labels(inception_pb, tmp_path):
    class Conditional(ReplayGenerator):
        def __call__(self, z, c=None, truncation_psi=1, noise_mode="const"):
            self.seen.append(np.asarray(c))
            return tf.zeros([len(z), 16, 16, 3])

    g = Conditional(_images(1))
    g.c_dim, g.seen = 3, []
    labelled = write_image_folder(tmp_path / "lab", _images(6), labels=[0, 1, 2, 2, 2, 2])
    _calc("is20", g, labelled, tmp_path, inception=inception_pb)
    seen = np.concatenate(g.seen)
    assert seen.shape == (32, 3) and set(seen.argmax(1)) == {0, 1, 2} and np.all(seen.sum(1) == 1)
    with pytest.raises(ValueError, match="conditional with 3 classes, dataset tiny has no labels"):
        _calc("is20", g, write_image_folder(tmp_path / "tiny", _images(2)), tmp_path, inception=inception_pb)


def test_report_metric_jsonl(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = dict(results={"pr50k3_full_precision": 0.5, "pr50k3_full_recall": 0.25}, metric="pr50k3_full",
                  total_time=65.2, total_time_str=metrics.format_time(65.2), num_gpus=1)
    metrics.report_metric(result, str(run_dir), snapshot_pkl=str(run_dir / "network-snapshot-000100.pkl"))
    metrics.report_metric(result, str(run_dir))
    lines = (run_dir / "metric-pr50k3_full.jsonl").read_text().splitlines()
    assert len(lines) == 2 and os.listdir(str(run_dir)) == ["metric-pr50k3_full.jsonl"]
    first, second = json.loads(lines[0]), json.loads(lines[1])
    assert set(first) == {"results", "metric", "total_time", "total_time_str", "num_gpus", "snapshot_pkl",
                          "timestamp"}
    assert first["snapshot_pkl"] == "network-snapshot-000100.pkl" and second["snapshot_pkl"] is None
    assert first["total_time_str"] == "1m 05s" and first["results"] == result["results"]
    assert [metrics.format_time(s) for s in (4.4, 3600 * 2 + 185, 86400 + 3661)] == ["4s", "2h 03m 05s",
                                                                                      "1d 01h 01m"]
    line = metrics.format_result_line(result, "network-snapshot-000100.pkl")
    assert line == ("network-snapshot-000100.pkl    time 1m 05s       pr50k3_full_precision 0.5000     "
                    "pr50k3_full_recall 0.2500    ")


# ---- PPL ------------------------------------------------------------------------------------------

class RecordingDistance:
    """Stand-in distance: mean squared pixel difference; records its inputs."""

    def __init__(self, value=None):
        self.value, self.inputs = value, []

    def __call__(self, a, b):
        self.inputs.append((np.asarray(a), np.asarray(b)))
        if self.value is not None:
            return np.full([len(a)], self.value)
        return np.mean(np.square(np.asarray(a, np.float64) - np.asarray(b, np.float64)), axis=(1, 2, 3))


def test_ppl_pairs_crop_and_shared_noise(G):
    dist = RecordingDistance()
    d = metrics.path_distances(G, dist, 10, space="w", sampling="end", crop=True, batch_size=4, seed=3,
                               progress=False)
    assert d.shape == (10,) and len(dist.inputs) == 3
    a, b = dist.inputs[0]
    assert a.shape == (4, 8, 8, 3)  # (x + 1) * 127.5, not clipped (as the official code)
    # the draws: z for both ends, then one shared noise map per layer (no t for 'end')
    rnd = np.random.RandomState(3)
    z = rnd.randn(8, G.z_dim).astype(np.float32)
    noise = [rnd.randn(1, G.synthesis.noise_resolution(i), G.synthesis.noise_resolution(i)).astype(np.float32)
             for i in range(G.synthesis.num_noise)]
    w = G.mapping(z, None).numpy()
    w_eps = w[:4] + (w[4:] - w[:4]) * 1e-4
    img = (G.synthesis(np.concatenate([w[:4], w_eps]), noise_mode="const", noise=noise).numpy() + 1) * 127.5
    np.testing.assert_allclose(a, img[:4, 6:14, 4:12], atol=0.05)
    np.testing.assert_allclose(b, img[4:, 6:14, 4:12], atol=0.05)
    np.testing.assert_allclose(d[:4], np.mean(np.square(img[:4, 6:14, 4:12] - img[4:, 6:14, 4:12]), axis=(1, 2, 3))
                               / 1e-8, rtol=0.05)
    # shared noise: a step of 1e-4 moves the images slightly (unshared noise would give ~1e10 here)
    assert 0 < np.median(d) < 1e6


@pytest.mark.parametrize("space,sampling,crop", [("z", "full", True), ("w", "full", False)])
def test_ppl_epsilon_scaling_and_uncropped_size(G, space, sampling, crop):
    dist = RecordingDistance(value=3e-8)
    d = metrics.path_distances(G, dist, 6, space=space, sampling=sampling, crop=crop, batch_size=4, progress=False)
    np.testing.assert_allclose(d, 3.0)
    assert dist.inputs[0][0].shape == ((4, 8, 8, 3) if crop else (4, 16, 16, 3))
    name = ("ppl_zfull" if crop else "ppl2_wend") + "6"
    result = metrics.calc_metric(name, G, None, distance=dist, progress=False, batch_size=4)
    assert result["results"] == {name: pytest.approx(3.0)} and result["metric"] == name


def test_ppl_with_the_lpips_distance_and_its_size_limit(G):
    from tf_stylegan2.projector.lpips import random_vgg16
    dist = metrics.path_length.LpipsDistance(random_vgg16(0))
    with pytest.raises(ValueError, match="at least 16x16 after the crop; this 16x16 network gives 8x8"):
        metrics.path_distances(G, dist, 4, crop=True, progress=False)
    d = metrics.path_distances(load_fixture_networks("public").G_ema, dist, 6, space="w", sampling="end",
                               crop=True, batch_size=3, progress=False)
    assert d.shape == (6,) and np.all(np.isfinite(d)) and np.all(d > 0)
    assert [metrics.path_length.distance_input_size(r, c) for r, c in ((1024, True), (1024, False), (512, True),
                                                                       (768, True), (16, False))] == [
        256, 256, 256, 384, 16]


SHARDING_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
cpu, = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[1])
from conftest import load_fixture_networks
from metric_standins import ProjectionDetector
from tf_stylegan2 import metrics

class Recording(ProjectionDetector):
    def __init__(self):
        super().__init__()
        self.seen = set()

    def features(self, images):
        spec = tf.DeviceSpec.from_string(tf.zeros([]).device)  # the device this batch runs under
        self.seen.add("%s%d" % (spec.device_type, spec.device_index))
        return super().features(images)

G = load_fixture_networks("orig").G_ema
out = {}
for name, devices in (("one", None), ("two", ["/CPU:0", "/CPU:1"])):
    det = Recording()
    r = metrics.calc_metric("pr483_full", G, sys.argv[2], vgg16=det, cache_dir=sys.argv[3] + name, progress=False,
                            batch_size=8, devices=devices)
    out[name] = dict(results=r["results"], num_gpus=r["num_gpus"], seen=sorted(det.seen))
print(json.dumps(out))
"""


def test_batches_shard_over_devices_with_the_same_result(folder, tmp_path):
    import subprocess
    import sys
    tests = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run([sys.executable, "-c", SHARDING_SCRIPT, tests, folder, str(tmp_path / "cache")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["one"]["results"] == out["two"]["results"]
    assert (out["one"]["num_gpus"], out["two"]["num_gpus"]) == (1, 2)
    assert out["one"]["seen"] == ["CPU0"] and out["two"]["seen"] == ["CPU0", "CPU1"]


def test_saved_model_generator(G, folder, inception_pb, tmp_path):
    from tf_stylegan2.export.saved_model import export_saved_model
    from tf_stylegan2.export.served import SavedModelGenerator
    export_saved_model(G, str(tmp_path / "saved_model"))
    served = SavedModelGenerator(str(tmp_path / "saved_model"))
    result = _calc("fid16_full", served, folder, tmp_path, inception=inception_pb)
    assert np.isfinite(result["results"]["fid16_full"]) and result["results"]["fid16_full"] > 0
    with pytest.raises(ValueError, match="PPL needs a Keras generator"):
        metrics.check_inputs(metrics.parse_metric("ppl_wend"), served, None)
