"""Metric maths against plain NumPy re-implementations of spec §13, metric names, and the
Inception detector plumbing with a stand-in GraphDef that has the real graph's tensor names."""

import functools
import http.server
import os
import tarfile
import threading

import numpy as np
import pytest

from metric_standins import standin_reference, write_standin_inception
from tf_stylegan2 import metrics, sources


def _features(n, d=6, seed=0, shift=0.0):
    rnd = np.random.RandomState(seed)
    return rnd.randn(n, d) @ rnd.randn(d, d) + shift


# ---- FID ------------------------------------------------------------------------------------------

def _sqrtm_trace_eig(a):
    """Tr(sqrtm(a)) via the general (non-symmetric) eigendecomposition, real part, as scipy's sqrtm."""
    return float(np.real(np.sum(np.sqrt(np.linalg.eigvals(a).astype(np.complex128)))))


def _fid_reference(real, fake, bias):
    mu_r, mu_g = real.mean(0), fake.mean(0)
    s_r, s_g = np.cov(real, rowvar=False, bias=bias), np.cov(fake, rowvar=False, bias=bias)
    return float(np.sum((mu_g - mu_r) ** 2) + np.trace(s_g + s_r) - 2 * _sqrtm_trace_eig(s_g @ s_r))


@pytest.mark.parametrize("unbiased", [False, True])
def test_fid_matches_numpy_reference(unbiased):
    real, fake = _features(300, seed=1), _features(200, seed=2, shift=0.5)
    got = metrics.fid_from_features(real, fake, unbiased=unbiased)
    want = _fid_reference(real, fake, bias=not unbiased)
    assert got > 1.0
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_fid_biased_is_ada_default_and_differs_from_tf1():
    real, fake = _features(40, seed=3), _features(30, seed=4, shift=0.2)
    assert metrics.fid_from_features(real, fake) == pytest.approx(_fid_reference(real, fake, bias=True), rel=1e-9)
    assert abs(metrics.fid_from_features(real, fake) - metrics.fid_from_features(real, fake, unbiased=True)) > 1e-3


def test_fid_matches_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    real, fake = _features(300, seed=5), _features(300, seed=6, shift=1.0)
    mu_r, mu_g = real.mean(0), fake.mean(0)
    s_r, s_g = np.cov(real, rowvar=False, bias=True), np.cov(fake, rowvar=False, bias=True)
    s = linalg.sqrtm(s_g @ s_r)
    want = np.real(np.sum((mu_g - mu_r) ** 2) + np.trace(s_g + s_r - 2 * s))
    np.testing.assert_allclose(metrics.fid_from_features(real, fake), want, rtol=1e-8)


def test_fid_of_a_set_against_itself_is_zero():
    x = _features(500, d=16, seed=7)
    assert abs(metrics.fid_from_features(x, x)) < 1e-8
    assert abs(metrics.fid_from_features(x, x.astype(np.float32))) < 1e-4


def test_fid_with_rank_deficient_covariances():
    # fewer samples than dimensions (a quick fid1k on 2048-d features): singular covariances stay finite
    real, fake = _features(10, d=32, seed=8), _features(12, d=32, seed=9)
    np.testing.assert_allclose(metrics.fid_from_features(real, fake), _fid_reference(real, fake, True), rtol=1e-6)


# ---- KID ------------------------------------------------------------------------------------------

def _mmd2_unbiased(x, y):
    n = x.shape[1]
    k = lambda a, b: (a @ b.T / n + 1) ** 3
    m = len(x)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    off = lambda a: (a.sum() - np.trace(a)) / (m * (m - 1))
    return off(kxx) + off(kyy) - 2 * kxy.mean()


def test_kid_is_exact_when_the_subset_covers_both_sets():
    real, fake = _features(60, seed=10), _features(60, seed=11, shift=0.3)
    got = metrics.kid_from_features(real, fake, num_subsets=3, max_subset_size=1000)
    assert got > 1e-3
    np.testing.assert_allclose(got, _mmd2_unbiased(fake, real), rtol=1e-10)


def test_kid_subsets_follow_the_ada_draws():
    real, fake = _features(50, seed=12), _features(40, seed=13, shift=0.1)
    rnd = np.random.RandomState(4)
    want = []
    for _ in range(7):
        x = fake[rnd.choice(40, 20, replace=False)]
        y = real[rnd.choice(50, 20, replace=False)]
        want.append(_mmd2_unbiased(x, y))
    got = metrics.kid_from_features(real, fake, num_subsets=7, max_subset_size=20, seed=4)
    np.testing.assert_allclose(got, np.mean(want), rtol=1e-10)


def test_kid_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2"):
        metrics.kid_from_features(_features(1), _features(5))


# ---- precision / recall ---------------------------------------------------------------------------

def _pr_reference(real, fake, k):
    def radii(x):
        d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
        return np.sort(d, axis=1)[:, k]  # index 0 is the point itself

    def inside(probes, manifold, r):
        d = np.sqrt(((probes[:, None] - manifold[None]) ** 2).sum(-1))
        return float(np.mean((d <= r[None]).any(axis=1)))

    return inside(fake, real, radii(real)), inside(real, fake, radii(fake))


@pytest.mark.parametrize("k,batch", [(3, 5000), (3, 7), (1, 11), (5, 4)])
def test_pr_matches_brute_force(k, batch):
    real, fake = _features(90, seed=14), _features(70, seed=15, shift=0.8)
    got = metrics.pr_from_features(real, fake, nhood_size=k, batch_size=batch)
    want = _pr_reference(real, fake, k)
    assert got == pytest.approx(want, abs=1e-12)
    assert 0 < got[0] < 1 and 0 < got[1] < 1


def test_pr_of_identical_sets_is_one_and_disjoint_sets_zero():
    x = _features(40, seed=16)
    assert metrics.pr_from_features(x, x) == (1.0, 1.0)
    assert metrics.pr_from_features(x, x + 1e3) == (0.0, 0.0)


def test_pr_needs_more_samples_than_neighbours():
    with pytest.raises(ValueError, match="more than 3"):
        metrics.pr_from_features(_features(3), _features(10))


# ---- Inception score ------------------------------------------------------------------------------

def _is_reference(p, splits):
    scores = []
    for i in range(splits):
        part = p[i * len(p) // splits:(i + 1) * len(p) // splits]
        kl = part * (np.log(part) - np.log(part.mean(0, keepdims=True)))
        scores.append(np.exp(kl.sum(1).mean()))
    return np.mean(scores), np.std(scores)


def test_is_matches_numpy_reference():
    p = np.random.RandomState(17).dirichlet(np.full(7, 0.3), size=103)
    got = metrics.is_from_probabilities(p, num_splits=10)
    np.testing.assert_allclose(got, _is_reference(p, 10), rtol=1e-12)
    assert got[0] > 1.5 and got[1] > 0


def test_is_bounds():
    assert metrics.is_from_probabilities(np.full([20, 4], 0.25)) == pytest.approx((1.0, 0.0))
    # confident and evenly spread over 4 classes: exp(log 4); exact zeros contribute nothing
    onehot = np.eye(4)[np.arange(40) % 4]
    assert metrics.is_from_probabilities(onehot, num_splits=2) == pytest.approx((4.0, 0.0))


# ---- PPL maths ------------------------------------------------------------------------------------

def test_ppl_percentile_filter():
    d = np.concatenate([np.arange(1, 99, dtype=np.float64), [1e9, -1e9]])
    lo, hi = np.percentile(d, 1, method="lower"), np.percentile(d, 99, method="higher")
    want = d[(d >= lo) & (d <= hi)].mean()
    assert metrics.ppl_from_distances(d) == pytest.approx(want)
    assert metrics.ppl_from_distances(np.r_[np.full(200, 5.0), 1e12]) == pytest.approx(5.0)


def test_slerp_and_lerp():
    rnd = np.random.RandomState(18)
    a, b = rnd.randn(4, 9).astype(np.float32), rnd.randn(4, 9).astype(np.float32)
    na, nb = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    t = np.array([[0.0], [1.0], [0.5], [0.25]], np.float32)
    s = metrics.slerp(a, b, t).numpy()
    np.testing.assert_allclose(s[0], na[0], atol=1e-6)
    np.testing.assert_allclose(s[1], nb[1], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), 1.0, atol=1e-6)
    # constant angular speed: the angle to a is t times the angle between a and b
    angle = lambda u, v: np.arccos(np.clip(np.sum(u * v, -1), -1, 1))
    np.testing.assert_allclose(angle(s, na)[2:], t[2:, 0] * angle(na, nb)[2:], atol=1e-5)
    np.testing.assert_allclose(metrics.lerp(a, b, t), a + (b - a) * t, atol=1e-6)


# ---- names ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kind,fakes,reals,mode", [
    ("fid50k_full", "fid", 50000, None, "ada_full"), ("kid50k_full", "kid", 50000, 1000000, "ada_full"),
    ("pr50k3_full", "pr", 50000, 200000, "ada_full"), ("fid50k", "fid", 50000, 50000, "tf1"),
    ("kid50k", "kid", 50000, 50000, "ada_legacy"), ("pr50k3", "pr", 50000, 50000, "tf1"),
    ("is50k", "is", 50000, 0, None), ("fid1k", "fid", 1000, 1000, "tf1"), ("kid10k_full", "kid", 10000, 1000000,
                                                                          "ada_full"),
    ("pr5k3", "pr", 5000, 5000, "tf1"), ("is200", "is", 200, 0, None), ("ppl_zfull", "ppl", 50000, 0, None),
    ("ppl_wend1k", "ppl", 1000, 0, None), ("ppl2_wend20", "ppl", 20, 0, None)])
def test_parse_metric_reads_counts(name, kind, fakes, reals, mode):
    spec = metrics.parse_metric(name)
    assert (spec.kind, spec.num_fakes, spec.max_reals, spec.reals) == (kind, fakes, reals, mode)


def test_parse_metric_details():
    assert metrics.parse_metric("pr50k3").nhood_size == 3
    assert metrics.parse_metric("pr2003").num_fakes == 200 and metrics.parse_metric("pr2003").nhood_size == 3
    assert metrics.parse_metric("fid50k").unbiased_cov and not metrics.parse_metric("fid50k_full").unbiased_cov
    ppl = {n: metrics.parse_metric(n) for n in ("ppl_zfull", "ppl_wfull", "ppl_zend", "ppl_wend", "ppl2_wend")}
    assert [(s.space, s.sampling, s.crop) for s in ppl.values()] == [
        ("z", "full", True), ("w", "full", True), ("z", "end", True), ("w", "end", True), ("w", "end", False)]
    assert set(metrics.KNOWN_METRICS) == {s.name for s in map(metrics.parse_metric, metrics.KNOWN_METRICS)}
    assert metrics.parse_metric_list("none") == [] and len(metrics.parse_metric_list("fid1k, is200")) == 2


@pytest.mark.parametrize("name", ["fid", "fid50k_ful", "ppl2_zend", "is50k_full", "ls", "FID50K", "pr50k"])
def test_unknown_metric_lists_the_known_ones(name):
    with pytest.raises(metrics.MetricError) as e:
        metrics.parse_metric(name)
    assert "\n" not in str(e.value) and "fid50k_full" in str(e.value) and "ppl2_wend" in str(e.value)


# ---- Inception detector plumbing ------------------------------------------------------------------

def _images(n, size=16, seed=0, channels=3):
    return np.random.RandomState(seed).randint(0, 256, [n, size, size, channels]).astype(np.uint8)


@pytest.mark.parametrize("tgz,bn_scale", [(False, True), (True, False)])
def test_inception_graph_features_and_bias_free_probabilities(tmp_path, tgz, bn_scale):
    # the stand-in has the 2015 graph's BatchNormWithGlobalNormalization, which TF2 functions cannot run as is
    det = metrics.load_inception(write_standin_inception(tmp_path, tgz=tgz, bn_scale=bn_scale))
    imgs = _images(5)
    feats, probs = det(imgs)
    want_feats, want_probs = standin_reference(imgs, bn_scale=bn_scale)
    assert feats.shape == (5, 8) and probs.shape == (5, 5)
    np.testing.assert_allclose(feats, want_feats, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(probs, want_probs, rtol=1e-4, atol=1e-6)
    # batches and single images agree (the graph has a batch-1 reshape after pool_3 that is never run)
    np.testing.assert_allclose(det.features(imgs[2:3]), feats[2:3], rtol=1e-5, atol=1e-6)
    # one channel is repeated to RGB
    gray = _images(2, channels=1)
    np.testing.assert_allclose(det.features(gray), det.features(np.repeat(gray, 3, axis=-1)), rtol=1e-6)
    assert det.key.startswith("inception-")


@pytest.mark.parametrize("missing", ["ExpandDims", "pool_3", "softmax/logits/MatMul"])
def test_wrong_graph_names_the_missing_tensor(tmp_path, missing):
    path = write_standin_inception(tmp_path, drop=missing)
    with pytest.raises(ValueError) as e:
        metrics.load_inception(path)
    assert "'%s:0'" % missing in str(e.value) and "\n" not in str(e.value)


def test_not_a_graph_and_archive_without_graph(tmp_path):
    bad = tmp_path / "x.pb"
    bad.write_bytes(b"\xff\xfe not a protobuf \x00" * 10)
    with pytest.raises(ValueError, match="not a TensorFlow GraphDef"):
        metrics.load_inception(str(bad))
    tgz = tmp_path / "other.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(str(bad), arcname="something_else.pb")
    with pytest.raises(ValueError, match="holds no classify_image_graph_def.pb"):
        metrics.load_inception(str(tgz))
    with pytest.raises(ValueError, match="not found"):
        metrics.load_inception(str(tmp_path / "missing.pb"))


def test_inception_download_once_into_the_network_cache(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    write_standin_inception(served, seed=3, tgz=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = "http://127.0.0.1:%d/inception-2015-12-05.tgz" % server.server_address[1]
    cache = str(tmp_path / "cache")
    try:
        det = metrics.load_inception(url, cache_dir=cache, progress=False)
    finally:
        server.shutdown()
        server.server_close()
    assert os.path.isfile(sources.cached_path(url, cache))
    # the server is gone: the cached file is used
    again = metrics.load_inception(url, cache_dir=cache, progress=False)
    assert again is det
    np.testing.assert_allclose(det.features(_images(2)), standin_reference(_images(2), seed=3)[0], rtol=1e-4,
                               atol=1e-5)


def test_graph_that_cannot_run_is_a_one_line_error(tmp_path):
    # pool_3 fed by an op whose input is never provided: imports, then fails on the check run
    import tensorflow as tf
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, None, 3], name="Cast")
        tf.expand_dims(x, 0, name="ExpandDims")
        hole = tf.compat.v1.placeholder(tf.float32, [None, 1, 1, 4], name="hole")
        pool = tf.identity(hole, name="pool_3")
        tf.matmul(tf.reshape(pool, [1, 4]), tf.ones([4, 2]), name="softmax/logits/MatMul")
    path = tmp_path / "classify_image_graph_def.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    with pytest.raises(ValueError, match="the Inception graph cannot run here") as e:
        metrics.load_inception(str(path))
    assert "\n" not in str(e.value)


# ---- VGG16 fc2 detector plumbing -------------------------------------------------------------------

def test_vgg16_detector_input_and_layer():
    import keras
    inp = keras.Input((224, 224, 3))
    pooled = keras.layers.GlobalMaxPooling2D()(inp)  # exact for the constant images below
    fc2 = keras.layers.Dense(3, name="fc2", use_bias=False, kernel_initializer="identity")(pooled)
    model = keras.Model(inp, keras.layers.Dense(2, name="predictions")(fc2))
    det = metrics.Vgg16Detector(model, "standin")
    img = np.zeros([2, 16, 16, 3], np.uint8) + np.array([10, 20, 30], np.uint8)
    # fc2, not the predictions; RGB -> BGR minus Keras's ImageNet mean, any size resized to 224
    np.testing.assert_allclose(det.features(img), [[30 - 103.939, 20 - 116.779, 10 - 123.68]] * 2, atol=1e-3)
    gray = np.full([1, 8, 8, 1], 50, np.uint8)
    np.testing.assert_allclose(det.features(gray), [[50 - 103.939, 50 - 116.779, 50 - 123.68]], atol=1e-3)


def test_vgg16_weights_file_missing_is_one_line(tmp_path):
    with pytest.raises(ValueError) as e:
        metrics.load_vgg16(str(tmp_path / "missing.weights.h5"))
    assert "not found" in str(e.value) and "include_top=True" in str(e.value) and "\n" not in str(e.value)
