"""NVIDIA's training trajectory replayed through the production Trainer and Schedule, by the
self-check (`python -m tf_stylegan2.selfcheck`), its saved states compared here independently.

tests/data/trajectory holds four minibatches of stylegan2-ada-pytorch's training loop started from
tests/data/public/network.pkl (every random draw, the reals, G/D/G_ema before and after each
minibatch, per-tensor tolerances; tests/data/trajectory/reduce.py cut it down from the full
fixture). Also: our Adam is torch's, not Keras's; the self-check's quick form as a command.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2 import selfcheck
from tf_stylegan2.training.adam import Adam, lerp, sanitize
from tf_stylegan2.training.draws import RecordedDraws
from tf_stylegan2.training import replay

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDING = os.path.join(ROOT, "tests", "data", "trajectory", "trajectory")
SNAPSHOTS = ["init"] + ["after_mb%d" % b for b in range(4)]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """The self-check's trajectory rows and the states it saved (--save-states)."""
    path = str(tmp_path_factory.mktemp("selfcheck") / "states.npz")
    rows = selfcheck.run_checks(dict(device="CPU:0", quick=False, trajectory=None, trajectory_network=None,
                                     save_states=path), names=["trajectory"])
    with np.load(path) as f:
        states = {k: f[k] for k in f.files}
    return rows, states


def test_selfcheck_replay_is_within_every_tolerance(replayed):
    rows, _ = replayed
    names = [row.check for row in rows]
    for snap in SNAPSHOTS:
        assert "trajectory: %s (175 tensors)" % snap in names
    for b in range(4):
        for what in ("pl_mean", "G_ema beta", "loss reports"):
            assert "trajectory: after_mb%d %s" % (b, what) in names
    for row in rows:
        assert selfcheck.ratio(row) <= 1.0, row


def test_saved_states_within_the_recordings_tolerances(replayed):
    """The saved states (full tensors, official names and layouts) against the recording with the
    json's rule, computed here from the files alone."""
    _, states = replayed
    info = json.load(open(RECORDING + ".json"))
    with np.load(RECORDING + ".npz") as f:
        rec = {k: f[k] for k in f.files}
    worst = {}
    for snap in SNAPSHOTS:
        names = [k[len("state/%s/" % snap):] for k in rec if k.startswith("state/%s/" % snap)]
        subset = [k[len("state_subset/%s/" % snap):] for k in rec if k.startswith("state_subset/%s/" % snap)]
        assert len(names) + len(subset) == 175
        assert sorted(k for k in states if k.startswith("state/%s/" % snap)) == sorted(
            "state/%s/%s" % (snap, n) for n in names + subset)
        for name in names + subset:
            ours = states["state/%s/%s" % (snap, name)]
            assert list(ours.shape) == info["tensors"][name]["shape"]
            if name in subset:
                ref = rec["state_subset/%s/%s" % (snap, name)]
                ours = ours.ravel()[rec["subset_index/" + name.split("/", 1)[1]]]
            else:
                ref = rec["state/%s/%s" % (snap, name)]
            e = (ours.astype(np.float64) - ref).ravel()
            if snap == "init":  # the pickle itself; NVIDIA's float32 mod_bias + 1 rounds to 2^-24
                tol = dict(max=2.0 ** -24, rms=2.0 ** -24) if name.endswith("/mod_bias") else dict(max=0, rms=0)
            else:
                tol = info["tolerance"]["per_snapshot"][snap][name]
            err_max, err_rms = np.abs(e).max(), np.sqrt(np.mean(e * e))
            assert err_max <= tol["max"] and err_rms <= tol["rms"], (snap, name, err_max, err_rms, tol)
            if tol["max"] > 0:
                worst[snap] = max(worst.get(snap, 0.0), err_max / tol["max"], err_rms / tol["rms"])
    print("worst error/tolerance per snapshot:", worst)
    moved = states["state/after_mb3/G/G_synthesis/4x4/Conv/weight"] - states["state/init/G/G_synthesis/4x4/Conv/weight"]
    assert np.abs(moved).max() > 1e-3  # the replay trained


def test_selfcheck_quick_command_prints_one_json_line():
    r = subprocess.run([sys.executable, "-m", "tf_stylegan2.selfcheck", "--quick", "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["ok"] is True and result["device"] == "CPU:0"
    checks = [c["check"] for c in result["checks"]]
    assert any(c.startswith("ops: ") for c in checks)
    assert "networks: public synthesis image (ref ops)" in checks
    assert not any(c.startswith("trajectory") for c in checks)  # --quick replays nothing
    assert all(c["ok"] and c["ratio"] <= 1 for c in result["checks"])


def test_selfcheck_refuses_what_it_cannot_check(tmp_path):
    base = dict(device="CPU:0", quick=True, trajectory=None, trajectory_network=None, save_states=None)
    with pytest.raises(selfcheck.SelfcheckError, match="--device=GPU:7: this machine has"):
        selfcheck.run_checks(dict(base, device="GPU:7"), names=["trajectory"])
    with pytest.raises(selfcheck.SelfcheckError, match="needs --trajectory-network"):
        selfcheck.run_checks(dict(base, trajectory=RECORDING + ".npz"), names=["trajectory"])
    with pytest.raises(replay.RecordingError, match="does not exist"):
        selfcheck.run_checks(dict(base, trajectory=str(tmp_path / "x.npz"), trajectory_network=os.path.join(
            ROOT, "tests", "data", "public", "network.pkl")), names=["trajectory"])
    with pytest.raises(selfcheck.SelfcheckError, match="starts from a network with SHA-256"):
        selfcheck.run_checks(dict(base, trajectory=RECORDING + ".npz", trajectory_network=os.path.join(
            ROOT, "tests", "data", "orig", "network.pkl")), names=["trajectory"])


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
