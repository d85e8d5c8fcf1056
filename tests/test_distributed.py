"""Training under `tf.distribute` (issue 12): one step on 2 replicas equals 1 replica on the same
global minibatch, gradient accumulation equals one big round, replicas draw their own randomness,
and two `TF_CONFIG` worker processes on 127.0.0.1 finish a short run in which only the chief writes.

The replica checks run in a subprocess (`python tests/test_distributed.py step ...`) because the CPU
must be split into two logical devices before TensorFlow initialises.
"""

import glob
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(cbase=512, cmax=64, map=2, gamma=1.0, aug="noaug", metrics=[], seed=0)
PHASES = ("g_main", "g_reg", "d_main", "d_reg")


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


# --- the subprocess side -------------------------------------------------------------------------

class _SlicedRandom:
    """Stand-in for the trainer's `tf.random.Generator`: the k-th draw of each replica is its slice
    of one stateless draw over all replicas (seed k), so R replicas together draw exactly what one
    replica draws for the whole batch."""

    def __init__(self):
        self.calls = {}
        self.state = None  # nothing to checkpoint

    def _replica(self):
        import tensorflow as tf
        ctx = tf.distribute.get_replica_context()
        rid = int(tf.get_static_value(ctx.replica_id_in_sync_group))
        return rid, ctx.num_replicas_in_sync

    def normal(self, shape, dtype=None):
        import tensorflow as tf
        rid, replicas = self._replica()
        k = self.calls[rid] = self.calls.get(rid, 0) + 1
        shape = [int(s) for s in shape]
        n = shape[0]
        full = tf.random.stateless_normal([n * replicas] + shape[1:], seed=[k, 7])
        return full[rid * n:(rid + 1) * n]


def _tiny_options(batch, batch_gpu, replicas):
    from types import SimpleNamespace
    from tf_stylegan2.training import options
    ds = SimpleNamespace(name="tiny", resolution=16, num_channels=3, label_dim=0, num_images=64)
    opts = options.training_options(dict(TINY, data="none", batch=batch, batch_gpu=batch_gpu, gpus=replicas,
                                         mbstd_group=1), ds)
    opts["loss_kwargs"]["style_mixing_prob"] = 0.0  # its one cutoff per replica cannot be sliced
    return opts


def _one_step(strategy, init, reals, batch_gpu):
    """One minibatch (G main, G reg, D main, D reg, G_ema) under `strategy` from weights `init`;
    -> {name: array}: the reduced gradients of each phase (Adam's m, beta1 = 0), its statistics,
    and every variable after the step."""
    import tensorflow as tf
    from tf_stylegan2.training import distribute, loop
    from tf_stylegan2.training.trainer import Trainer
    out = {}
    with strategy.scope():
        opts = _tiny_options(4, batch_gpu, strategy.num_replicas_in_sync)
        G, D, G_ema = loop.build_networks(opts)
        for group, net in (("G", G), ("D", D), ("G_ema", G_ema)):
            for i, v in enumerate(net.weights):
                v.assign(init["%s/%d" % (group, i)])
        trainer = Trainer(G, D, G_ema, opts, seed=0)
        trainer.rng = _SlicedRandom()
        real = distribute.distribute_batch(tf.constant(reals))
        for name in PHASES:
            fn = getattr(trainer, name)
            stats = fn(real, None) if name.startswith("d") else fn()
            opt = trainer.opt_G if name.startswith("g") else trainer.opt_D
            for i, m in enumerate(opt.m):
                out["grad/%s/%d" % (name, i)] = m.numpy()
            for key, value in stats.items():
                out["stat/%s/%s" % (name, key)] = value.numpy()
        trainer.update_ema(tf.constant(0.5))
        for group, variables in trainer.state_variables().items():
            if group != "rng":
                for i, v in enumerate(variables):
                    out["var/%s/%d" % (group, i)] = v.numpy()
    return out


def _step_main(out_path):
    from tf_stylegan2.training import distribute
    distribute.use_cpu_devices(2)
    import keras
    import tensorflow as tf
    from tf_stylegan2.training import loop

    keras.utils.set_random_seed(0)
    G, D, G_ema = loop.build_networks(_tiny_options(4, 4, 1))
    init = {"%s/%d" % (g, i): v.numpy() for g, net in (("G", G), ("D", D), ("G_ema", G_ema))
            for i, v in enumerate(net.weights)}
    reals = np.random.RandomState(1).uniform(-1, 1, [4, 16, 16, 3]).astype(np.float32)
    mirrored = distribute.make_strategy(2)
    results = dict(one=_one_step(tf.distribute.get_strategy(), init, reals, 4),
                   two=_one_step(mirrored, init, reals, 2),
                   rounds=_one_step(tf.distribute.get_strategy(), init, reals, 2))

    # Per-replica randomness with the trainer's own generator (created in the strategy's scope).
    from tf_stylegan2.training.trainer import Trainer
    with mirrored.scope():
        opts = _tiny_options(4, 2, 2)
        trainer = Trainer(*loop.build_networks(opts), opts, seed=0)
        def draw():
            return trainer.rng.normal([3])
        draws = mirrored.experimental_local_results(tf.function(lambda: mirrored.run(draw))())
    arrays = {"%s|%s" % (run, k): v for run, d in results.items() for k, v in d.items()}
    arrays["draws"] = np.stack([d.numpy() for d in draws])
    np.savez(out_path, **arrays)


# --- the tests -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def step_results(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("dist") / "step.npz")
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "step", path], cwd=ROOT, env=_env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    with np.load(path) as data:
        out = {}
        for key in data.files:
            if "|" in key:
                run, name = key.split("|", 1)
                out.setdefault(run, {})[name] = data[key]
            else:
                out[key] = data[key]
    return out


def _rel_l2(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def _compare(a, b, grad_tol, stat_tol, var_atol):
    assert sorted(a) == sorted(b)
    for key in sorted(a):
        x, y = a[key], b[key]
        if key.startswith("grad/"):
            tol = grad_tol[key.split("/")[1]]
            assert _rel_l2(x, y) <= tol, (key, _rel_l2(x, y))
        elif key.startswith("stat/"):  # [sum, sum of squares, count]
            np.testing.assert_allclose(x, y, rtol=stat_tol, atol=stat_tol, err_msg=key)
        else:
            np.testing.assert_allclose(x, y, rtol=0, atol=var_atol, err_msg=key)


def test_two_replicas_equal_one(step_results):
    """1 replica x batch 4 vs 2 replicas x 2 (MirroredStrategy on two logical CPUs), same weights,
    reals, latents and noise: every phase's reduced gradients within 1e-5 relative L2 per tensor
    (G reg's second-order gradients 1e-3: measured 1e-4 on a scalar bias), statistics (sums over the
    global batch, incl. pl_mean's cross-replica mean inside G reg) within 1e-5, and all variables
    after the step within 2e-4 (Adam's first step moves a weight by lr * g / (|g| + 1e-8), lr ~2e-3:
    weights whose gradient is near 1e-8 amplify round-off; measured 5e-5)."""
    one, two = step_results["one"], step_results["two"]
    assert one["stat/d_main/Loss/D/loss"][2] == 4 and two["stat/d_main/Loss/D/loss"][2] == 4
    assert one["stat/g_reg/Loss/pl_penalty"][2] == 2 and two["stat/g_reg/Loss/pl_penalty"][2] == 2
    _compare(two, one, grad_tol=dict(g_main=1e-5, g_reg=1e-3, d_main=1e-5, d_reg=1e-5), stat_tol=1e-5,
             var_atol=2e-4)
    assert abs(float(one["var/pl_mean/0"])) > 1e-4  # G reg ran and updated pl_mean


def test_gradient_accumulation_equals_one_round():
    """`distribute.run(fn, args, rounds=3)` on 6 rows = `fn` on all 6 rows at once for a per-sample
    mean loss: gradients (and other non-dict outputs) are the mean over rounds, dict statistics the
    sum; None gradients stay None."""
    import tensorflow as tf
    from tf_stylegan2.training import distribute

    w = tf.Variable([[0.5], [-1.0]])
    unused = tf.Variable(1.0)
    x = tf.constant(np.random.RandomState(0).randn(6, 2).astype(np.float32))

    def replica_fn(x):
        with tf.GradientTape() as tape:
            loss = tf.nn.softplus(tf.matmul(x, w))[:, 0]
            total = tf.reduce_mean(loss)
        grads = tape.gradient(total, [w, unused])
        return grads, {"loss": tf.stack([tf.reduce_sum(loss), tf.cast(tf.size(loss), tf.float32)])}, \
            tf.reduce_mean(x, axis=0)

    once = tf.function(lambda x: distribute.run(replica_fn, args=(x,)))(x)
    thrice = tf.function(lambda x: distribute.run(replica_fn, args=(x,), rounds=3))(x)
    assert once[0][1] is None and thrice[0][1] is None
    np.testing.assert_allclose(thrice[0][0].numpy(), once[0][0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(thrice[1]["loss"].numpy(), once[1]["loss"].numpy(), rtol=1e-6)
    np.testing.assert_allclose(thrice[2].numpy(), once[2].numpy(), rtol=1e-6, atol=1e-7)


def test_preset_batch_and_augment_defaults_follow_the_originals():
    """Without --batch a fixed preset keeps its per-GPU batch (mb // ref_gpus) and fewer devices
    accumulate; with --batch (or the auto preset) the batch is split over the devices. The TF1
    --config presets train without augmentation, the ADA --cfg presets with ADA. ADA's run names
    for --resume."""
    from types import SimpleNamespace
    from tf_stylegan2.training import options

    data = SimpleNamespace(name="x", resolution=256, num_channels=3, label_dim=0, num_images=100)
    cases = [(dict(cfg="paper256"), (64, 8)), (dict(cfg="paper256", gpus=2), (64, 8)),
             (dict(cfg="stylegan2", gpus=16), (32, 2)), (dict(config="config-f"), (32, 4)),
             (dict(cfg="paper256", batch=16), (16, 16)), (dict(cfg="auto", gpus=2), (32, 16)),
             (dict(cfg="paper256", batch_gpu=16), (64, 16))]
    for args, expected in cases:
        opts = options.training_options(dict(data="x", metrics=[], **args), data)
        assert (opts["batch_size"], opts["batch_gpu"]) == expected, args
        assert opts["aug"] == ("noaug" if "config" in args else "ada"), args
    for resume, suffix in (("ffhq256", "-resumeffhq256"), ("my.pkl", "-resumecustom")):
        assert options.training_options(dict(data="x", metrics=[], resume=resume), data)["desc"].endswith(suffix)


def test_accumulated_training_step_is_finite(step_results):
    """--batch-gpu=2 on one replica (2 rounds): the whole global batch is counted, values finite."""
    rounds = step_results["rounds"]
    assert rounds["stat/g_main/Loss/G/loss"][2] == 4 and rounds["stat/d_main/Loss/D/loss"][2] == 4
    assert rounds["stat/g_reg/Loss/pl_penalty"][2] == 2
    assert all(np.all(np.isfinite(v)) for v in rounds.values())


def test_replicas_draw_their_own_randomness(step_results):
    draws = step_results["draws"]
    assert draws.shape == (2, 3) and np.all(np.isfinite(draws))
    assert np.abs(draws[0] - draws[1]).max() > 1e-3


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_workers_on_localhost(tmp_path):
    """Two `run_training.py` processes with TF_CONFIG (MultiWorkerMirroredStrategy over 127.0.0.1,
    one CPU replica each, global batch 4 = 2 per worker) finish a 2-minibatch run; the chief writes
    the run directory (options with num_replicas 2, a snapshot that `sg.load_network` reads), the
    worker writes nothing under its --outdir."""
    import tf_stylegan2 as sg
    from tf_stylegan2 import datasets

    data = str(tmp_path / "data")
    datasets.write_tfrecords(data, np.random.RandomState(0).randint(0, 256, [32, 16, 16, 3]).astype(np.uint8))
    cluster = {"worker": ["127.0.0.1:%d" % p for p in _free_ports(2)]}
    procs = []
    for index in range(2):
        env = _env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        args = ["--data=" + data, "--outdir=" + str(tmp_path / ("out%d" % index)), "--cbase=512", "--cmax=64",
                "--map=2", "--batch=4", "--kimg=0.008", "--tick=0.004", "--snap=1", "--gamma=1", "--aug=noaug",
                "--metrics=none", "--seed=0"]
        procs.append(subprocess.Popen([sys.executable, os.path.join(ROOT, "run_training.py")] + args, cwd=ROOT,
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [p.communicate(timeout=420)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]
    assert not os.path.exists(tmp_path / "out1") or not os.listdir(tmp_path / "out1")
    run_dirs = glob.glob(str(tmp_path / "out0" / "*"))
    assert len(run_dirs) == 1, run_dirs
    with open(os.path.join(run_dirs[0], "training_options.json")) as f:
        opts = json.load(f)
    assert (opts["num_replicas"], opts["batch_size"], opts["batch_gpu"]) == (2, 4, 2)
    snaps = sorted(glob.glob(os.path.join(run_dirs[0], "network-snapshot-*.pkl")))
    assert snaps, os.listdir(run_dirs[0])
    nets = sg.load_network(snaps[-1])
    img = nets.G_ema(np.random.RandomState(0).randn(1, nets.G_ema.z_dim).astype(np.float32))
    assert img.shape == (1, 16, 16, 3) and np.all(np.isfinite(img))
    with open(os.path.join(run_dirs[0], "stats.jsonl")) as f:
        last = [json.loads(line) for line in f][-1]
    assert last["Progress/kimg"]["mean"] == 0.008
    assert last["Loss/D/loss"]["num"] == 4  # the D main statistics count the global batch


if __name__ == "__main__":
    if sys.argv[1] == "step":
        _step_main(sys.argv[2])
