"""Training under `tf.distribute` (issue 12): one step on 2 replicas equals 1 replica on the same
global minibatch, gradient accumulation (--batch-gpu) equals one big round on the Trainer's
phases, replicas draw their own randomness,
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

class _SlicedDraws:
    """Stand-in for the trainer's draws (`draws.GeneratorDraws`): round r of replica i draws its
    slice (block i * rounds + r) of one stateless draw over the whole global batch, seeded per phase
    and tag, so R replicas x K rounds together draw exactly what one replica draws in one round."""

    def __init__(self, rounds):
        self.rounds, self.calls = rounds, {}

    def normal(self, phase, tag, shape):
        import zlib
        import tensorflow as tf
        ctx = tf.distribute.get_replica_context()
        rid, replicas = int(tf.get_static_value(ctx.replica_id_in_sync_group)), ctx.num_replicas_in_sync
        k = self.calls[(rid, phase, tag)] = self.calls.get((rid, phase, tag), -1) + 1
        shape = [int(s) for s in shape]
        n, block = shape[0], rid * self.rounds + k % self.rounds
        full = tf.random.stateless_normal([n * replicas * self.rounds] + shape[1:],
                                          seed=[zlib.crc32(("%s/%s" % (phase, tag)).encode()), 7])
        return full[block * n:(block + 1) * n]


def _tiny_options(batch, batch_gpu, replicas):
    from types import SimpleNamespace
    from tf_stylegan2.training import options
    ds = SimpleNamespace(name="tiny", resolution=16, num_channels=3, label_dim=0, num_images=64)
    opts = options.training_options(dict(TINY, data="none", batch=batch, batch_gpu=batch_gpu, gpus=replicas,
                                         mbstd_group=1), ds)
    opts["loss_kwargs"]["style_mixing_prob"] = 0.0  # its one cutoff per replica cannot be sliced
    return opts


def _one_step(strategy, init, reals, batch_gpu):
    """Each phase (G main, G reg, D main, D reg) under `strategy` from the same state (weights
    `init`, fresh Adam, pl_mean 0), then G_ema's update -> {name: array}: the reduced gradients of
    each phase (Adam's m, beta1 = 0), its statistics, and every variable after its step."""
    import tensorflow as tf
    from tf_stylegan2.training import distribute, loop
    from tf_stylegan2.training.trainer import Trainer
    out = {}
    with strategy.scope():
        opts = _tiny_options(4, batch_gpu, strategy.num_replicas_in_sync)
        G, D, G_ema = loop.build_networks(opts)
        trainer = Trainer(G, D, G_ema, opts, seed=0, draws=_SlicedDraws(trainer_rounds(opts, strategy)))
        real = distribute.distribute_batch(tf.constant(reals))
        for name in PHASES + ("update_ema",):
            for group, net in (("G", G), ("D", D), ("G_ema", G_ema)):
                for i, v in enumerate(net.weights):
                    v.assign(init["%s/%d" % (group, i)])
            for slot in [*trainer.opt_G.slots().values(), *trainer.opt_D.slots().values(), trainer.pl_mean]:
                slot.assign(tf.zeros_like(slot))
            fn = getattr(trainer, name)
            if name == "update_ema":
                fn(tf.constant(0.5))
                stats = {}
            else:
                stats = fn(real, None) if name.startswith("d") else fn()
                opt = trainer.opt_G if name.startswith("g") else trainer.opt_D
                for i, m in enumerate(opt.m):
                    out["grad/%s/%d" % (name, i)] = m.numpy()
            for key, value in stats.items():
                out["stat/%s/%s" % (name, key)] = value.numpy()
            for group, variables in trainer.state_variables().items():
                if group not in ("rng", "opt_G", "opt_D"):
                    for path, v in variables.items():
                        out["var/%s/%s/%s" % (name, group, path)] = v.numpy()
    return out


def trainer_rounds(opts, strategy):
    from tf_stylegan2.training import distribute
    return distribute.accumulation_rounds(opts["batch_size"], opts["batch_gpu"], strategy.num_replicas_in_sync)


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
    assert abs(float(one["var/g_reg/pl_mean/pl_mean"])) > 1e-4  # G reg ran and updated pl_mean


def test_gradient_accumulation_equals_one_round(step_results):
    """--batch-gpu=2 on one replica (2 accumulation rounds) vs one round of 4, real tiny networks
    through the Trainer's phases, each phase from the same weights, reals, latents and noise:
    G main, D main, D reg and G_ema as close as two replicas are to one (gradients 1e-5 relative L2,
    statistics 1e-5, every variable after the step 2e-4; measured 2e-6, 1e-7, 2e-5). G reg's rounds
    each take their own batch mean into pl_mean (ADA's rounds update pl_mean one after another), a
    change of O(pl_decay) in the penalty: its gradients within 5e-2 relative L2 and statistics 1e-2
    (measured 1.6e-2 on a scalar noise strength, 5e-3); its weights after Adam's first step are not
    compared (a gradient near zero that changes sign moves a weight by 2 lr)."""
    one, rounds = step_results["one"], step_results["rounds"]
    assert rounds["stat/g_main/Loss/G/loss"][2] == 4 and rounds["stat/d_main/Loss/D/loss"][2] == 4
    assert rounds["stat/g_reg/Loss/pl_penalty"][2] == 2
    exact = [k for k in one if "/g_reg/" not in k]
    _compare({k: rounds[k] for k in exact}, {k: one[k] for k in exact},
             grad_tol=dict(g_main=1e-5, d_main=1e-5, d_reg=1e-5), stat_tol=1e-5, var_atol=2e-4)
    reg = [k for k in one if "/g_reg/" in k and not k.startswith("var/")]
    _compare({k: rounds[k] for k in reg}, {k: one[k] for k in reg}, grad_tol=dict(g_reg=5e-2), stat_tol=1e-2,
             var_atol=None)


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
