"""NVIDIA's training trajectory replayed through the production Trainer and Schedule.

tests/data/trajectory holds four minibatches of stylegan2-ada-pytorch's training loop started from
tests/data/public/network.pkl (every random draw, the reals, G/D/G_ema before and after each
minibatch, per-tensor tolerances; see tests/data/trajectory/reduce.py for how it was cut down
from the full fixture). Also: our Adam is torch's, not Keras's.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2.official import load_pickle
from tf_stylegan2.training import replay
from tf_stylegan2.training.adam import Adam, lerp, sanitize
from tf_stylegan2.training.draws import RecordedDraws

DATA = os.path.join(os.path.dirname(__file__), "data")
RECORDING = os.path.join(DATA, "trajectory", "trajectory.npz")
NETWORK = os.path.join(DATA, "public", "network.pkl")


@pytest.fixture(scope="module")
def replayed():
    rec = replay.Recording(RECORDING)
    out = {}
    replay.replay(rec, load_pickle(NETWORK), lambda snap, states, extras: out.update({snap: (states, extras)}))
    return rec, out


def test_every_tensor_after_every_minibatch_within_tolerance(replayed):
    rec, out = replayed
    assert list(out) == rec.snapshots()
    for snap in rec.snapshots():
        results = replay.compare(rec, snap, out[snap][0])
        assert len(results) == 175
        worst = max(results, key=lambda name: results[name]["ratio"])
        assert results[worst]["ratio"] <= 1.0, (snap, worst, results[worst])
    # the states moved: a replay that did nothing would fail the comparison, not pass it
    init, last = out["init"][0], out["after_mb3"][0]
    assert np.max(np.abs(last["G/G_synthesis/4x4/Conv/weight"] - init["G/G_synthesis/4x4/Conv/weight"])) > 1e-3


def test_pl_mean_ema_beta_and_loss_reports_match(replayed):
    rec, out = replayed
    for b in range(rec.num_minibatches):
        extras = out["after_mb%d" % b][1]
        assert extras["pl_mean"] == pytest.approx(float(rec.arrays["pl_mean"][b + 1]), rel=1e-5)
        assert extras["ema_beta"] == pytest.approx(float(rec.arrays["ema_beta"][b]), rel=1e-12, abs=1e-15)
        recorded = rec.info["minibatches"][b]["reports"]
        assert sorted(extras["reports"]) == sorted(recorded)
        for phase, reports in recorded.items():
            for key, values in reports:
                # same weights at b = 0; later the scores follow the (tolerance-bounded) trajectory
                assert extras["reports"][phase][key] == pytest.approx(np.mean(values), rel=1e-4 if b == 0 else 1e-3,
                                                                      abs=1e-6), (b, phase, key)


def _torch_adam(p, grads, lr, betas, eps):
    """torch.optim.Adam's single-tensor step in float64 NumPy."""
    m = v = np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        m = m + (g - m) * (1 - betas[0])
        v = betas[1] * v + (1 - betas[1]) * g * g
        p = p - lr / (1 - betas[0] ** t) * m / (np.sqrt(v) / np.sqrt(1 - betas[1] ** t) + eps)
    return p


def test_adam_is_torchs_with_eps_inside_the_bias_correction():
    rng = np.random.RandomState(0)
    # tiny gradients (where eps placement matters), ordinary ones, and a sign change
    grads = [np.concatenate([rng.randn(8) * 1e-9, rng.randn(8) * 1e-3, [1e-8, -1e-8]]) for _ in range(3)]
    lr, betas, eps = 0.0016666, (0.0, 0.99 ** (2 / 3)), 1e-8
    var = tf.Variable(np.zeros(18, np.float32))
    opt = Adam([var], lr=lr, betas=betas, eps=eps)
    for g in grads:
        opt.apply([tf.constant(g, tf.float32)])
    expected = _torch_adam(np.zeros(18), grads, lr, betas, eps)
    np.testing.assert_allclose(var.numpy(), expected, rtol=1e-5, atol=1e-9)
    keras_var = tf.Variable(np.zeros(18, np.float32))
    keras_opt = tf.keras.optimizers.Adam(learning_rate=lr, beta_1=betas[0], beta_2=betas[1], epsilon=eps)
    for g in grads:
        keras_opt.apply_gradients([(tf.constant(g, tf.float32), keras_var)])
    assert np.max(np.abs(keras_var.numpy() - expected)[:8]) > 1e-4  # Keras' eps placement is another optimiser


def test_gradient_sanitising_clamps_finite_values_too():
    g = tf.constant([np.nan, np.inf, -np.inf, 3e5, -2e5, 0.5])
    np.testing.assert_array_equal(sanitize(g).numpy(), [0, 1e5, -1e5, 1e5, -1e5, 0.5])


def test_lerp_follows_torchs_two_branches():
    start, end = tf.constant([1.0, -3.0]), tf.constant([1e-8, 7.0])
    for w in (0.25, 0.75, 1.0):
        s, e = start.numpy(), end.numpy()
        ref = s + np.float32(w) * (e - s) if w < 0.5 else e - (e - s) * np.float32(1 - w)
        np.testing.assert_array_equal(lerp(start, end, w).numpy(), ref)
    np.testing.assert_array_equal(lerp(start, end, 1.0).numpy(), end.numpy())


def test_recorded_draws_refuse_a_shape_they_do_not_hold():
    draws = RecordedDraws({("Gmain", "z"): ((4, 8), np.float32)})
    draws.load({("Gmain", "z"): np.ones((4, 8), np.float32)})
    np.testing.assert_array_equal(draws.normal("Gmain", "z", [4, 8]).numpy(), np.ones((4, 8)))
    with pytest.raises(ValueError, match="shape"):
        draws.normal("Gmain", "z", [2, 8])
    with pytest.raises(ValueError, match="no draw Greg/z"):
        draws.normal("Greg", "z", [2, 8])


def test_missing_recording_is_a_one_line_error(tmp_path):
    with pytest.raises(replay.RecordingError, match="does not exist"):
        replay.Recording(str(tmp_path / "nothing.npz"))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(replay.RecordingError, match="cannot read"):
        replay.Recording(str(bad))
