"""run_training.py end to end on tiny 16 px networks (`--cbase=512 --cmax=64 --map=2`, batch 8):
the run directory, snapshots, resume after SIGKILL, fine-tuning, bad input, and that training learns.

The data are coloured disks on dark backgrounds (`disks`), written as official TFRecords.
"""

import glob
import json
import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import keras
import tensorflow as tf
from PIL import Image

import tf_stylegan2 as sg
from tf_stylegan2 import datasets, metrics
from tf_stylegan2.datasets import toy
from tf_stylegan2.training import checkpoints, loop, options
from tf_stylegan2.training.data import BatchStream
from tf_stylegan2.training.schedule import Schedule
from tf_stylegan2.training.trainer import Trainer

from conftest import fixture_path
from metric_standins import write_standin_inception

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--cbase=512", "--cmax=64", "--map=2", "--batch=8", "--gamma=1", "--metrics=none", "--seed=0"]
TINY_ARGS = dict(cbase=512, cmax=64, map=2, batch=8, gamma=1.0, metrics=[], seed=0)
ADA_STAT_KEYS = ["Progress/tick", "Progress/kimg", "Progress/augment", "Timing/total_sec", "Timing/sec_per_tick",
                 "Timing/sec_per_kimg", "Timing/maintenance_sec", "Timing/total_hours", "Timing/total_days",
                 "Timing/Gmain", "Timing/Greg", "Timing/Dmain", "Timing/Dreg", "Resources/cpu_mem_gb",
                 "Resources/peak_gpu_mem_gb", "Loss/scores/fake", "Loss/signs/fake", "Loss/G/loss", "Loss/pl_penalty",
                 "Loss/G/reg", "Loss/scores/real", "Loss/signs/real", "Loss/D/loss", "Loss/r1_penalty", "Loss/D/reg"]


def disks(n, res=16, seed=0):
    """uint8 `[n, res, res, 3]`: the toy disk images (`tf_stylegan2.datasets.toy`)."""
    return np.stack(list(toy.disk_images(n, res, seed)))


@pytest.fixture(scope="module")
def disk_data(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data") / "disks")
    datasets.write_tfrecords(path, disks(512))
    return path


def run_app(args, timeout=240, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, os.path.join(ROOT, "run_training.py")] + args, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def stats_lines(run_dir):
    with open(os.path.join(run_dir, "stats.jsonl")) as f:
        return [json.loads(line) for line in f]


def only_run_dir(outdir):
    dirs = [d for d in glob.glob(os.path.join(outdir, "*")) if os.path.isdir(d)]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_run_directory_snapshot_and_events(disk_data, tmp_path):
    """The issue's check command (TF1 + ADA flags mixed), shortened to 0.5 kimg."""
    out = str(tmp_path / "results")
    r = run_app(["--data=" + disk_data, "--outdir=" + out, "--cfg=auto", "--tick=0.25", "--snap=2",
                 "--mirror-augment=true", "--total-kimg=0.5", "--aug=noaug"] + TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    run_dir = only_run_dir(out)
    assert os.path.basename(run_dir) == "00000-disks-mirror-auto1-gamma1-kimg0.5-batch8-noaug"
    opts = json.load(open(os.path.join(run_dir, "training_options.json")))
    for key in ("num_gpus", "image_snapshot_ticks", "network_snapshot_ticks", "metrics", "random_seed",
                "training_set_kwargs", "G_kwargs", "D_kwargs", "G_opt_kwargs", "D_opt_kwargs", "loss_kwargs",
                "total_kimg", "batch_size", "batch_gpu", "ema_kimg", "ema_rampup", "run_dir"):
        assert key in opts
    assert opts["G_opt_kwargs"]["lr"] == pytest.approx(0.0025 * 0.8)
    assert opts["D_opt_kwargs"]["betas"][1] == pytest.approx(0.99 ** (16 / 17))
    assert opts["G_kwargs"]["synthesis"]["fmap_base"] == 256 and opts["G_kwargs"]["mapping"]["num_layers"] == 2

    lines = stats_lines(run_dir)
    assert [int(s["Progress/tick"]["mean"]) for s in lines] == [0, 1, 2]
    assert lines[-1]["Progress/kimg"]["mean"] == pytest.approx(0.504)
    for s in lines:
        assert set(ADA_STAT_KEYS) <= set(s) and "timestamp" in s
        assert set(s["Loss/G/loss"]) == {"num", "mean", "std"}
    log = open(os.path.join(run_dir, "log.txt")).read()
    assert "tick 2     kimg 0.5" in log and "sec/kimg" in log and "augment 0.000" in log

    for name in ("reals.png", "fakes_init.png", "fakes000000.png"):
        assert np.asarray(Image.open(os.path.join(run_dir, name))).shape == (512, 512, 3)  # 32 x 32 grid of 16 px
    events = glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    assert events
    tags = set()
    for event in tf.compat.v1.train.summary_iterator(events[0]):
        tags.update(v.tag for v in event.summary.value)
    assert {"Loss/G/loss", "Loss/D/loss", "Timing/sec_per_kimg", "Progress/augment", "fakes"} <= tags

    # the snapshot is the checkpointed state, readable by load_network
    assert sorted(os.listdir(run_dir)).count("network-snapshot-000000.pkl") == 1
    nets = sg.load_network(os.path.join(run_dir, "network-snapshot-000000.pkl"))
    ckpt = checkpoints.latest(run_dir)
    assert ckpt.endswith("checkpoint-000000504")
    with np.load(os.path.join(ckpt, "state.npz")) as state:
        for group, net in (("G", nets.G), ("D", nets.D), ("G_ema", nets.G_ema)):
            for var in net.weights:
                np.testing.assert_array_equal(var.numpy(), state["%s/%s" % (group, var.path)])
    assert nets.G_ema(np.zeros([1, 512], np.float32)).shape == (1, 16, 16, 3)


def test_resume_after_sigkill_continues_in_place(disk_data, tmp_path):
    out = str(tmp_path / "results")
    args = ["--data=" + disk_data, "--outdir=" + out, "--tick=0.1", "--snap=2", "--kimg=0.5", "--aug=noaug"] + TINY
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "run_training.py")] + args, cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    run_dir = None
    while time.time() < deadline and proc.poll() is None:
        dirs = glob.glob(os.path.join(out, "0*"))
        run_dir = dirs[0] if dirs else None
        if run_dir and len(checkpoints.checkpoint_dirs(run_dir)) >= 2:  # ticks 0 and 2 snapshotted
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert run_dir and checkpoints.latest(run_dir), "no checkpoint before the kill"
    ckpt = checkpoints.latest(run_dir)
    meta = checkpoints.verify(ckpt)["meta"]
    assert meta["cur_tick"] >= 3 and meta["cur_nimg"] < 500

    r = run_app(["--resume=" + run_dir])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Resuming from %s" % ckpt in r.stdout
    lines = stats_lines(run_dir)
    ticks = [int(s["Progress/tick"]["mean"]) for s in lines]
    assert ticks == list(range(len(ticks))), ticks  # every tick once: the killed run's extra ticks were rewritten
    kimg = [s["Progress/kimg"]["mean"] for s in lines]
    assert kimg[-1] == pytest.approx(0.504) and np.all(np.diff(kimg) > 0)
    assert lines[meta["cur_tick"]]["Timing/total_sec"]["mean"] > meta["total_sec"]  # time continues
    assert os.path.exists(os.path.join(run_dir, "network-snapshot-000000.pkl"))
    assert checkpoints.latest(run_dir).endswith("checkpoint-000000504")
    assert len(checkpoints.checkpoint_dirs(run_dir)) == checkpoints.KEEP
    assert not [n for n in os.listdir(run_dir) if n.endswith(".tmp")]
    assert loop.train(dict(resume=run_dir)) == run_dir  # complete: nothing more to do
    assert len(stats_lines(run_dir)) == len(lines)
    assert open(os.path.join(run_dir, "log.txt")).read().rstrip().endswith("The run is complete (0.5 kimg): "
                                                                           "nothing to do")
    # --kimg extends a complete run in place (every other option stays the run's own)
    assert loop.train(dict(resume=run_dir, kimg=0.6, batch=64)) == run_dir
    opts = json.load(open(os.path.join(run_dir, "training_options.json")))
    assert (opts["total_kimg"], opts["batch_size"]) == (0.6, 8)
    more = stats_lines(run_dir)
    assert len(more) > len(lines) and more[-1]["Progress/kimg"]["mean"] == pytest.approx(0.6)
    assert checkpoints.latest(run_dir).endswith("checkpoint-000000600")


def _steps(schedule, stream, n):
    """`n` minibatches with the loop's own step (G reg every 4, D reg every 16, G_ema ramp-up)."""
    for _ in range(n):
        schedule.step(stream.next()[0])


def test_checkpoint_resumes_exactly_and_phases_trace_once(disk_data, tmp_path):
    """Minibatches replayed from a checkpoint give exactly the uninterrupted run's state (every random
    draw, augmentations included, comes from the checkpointed RNG; the schedule's counters from its
    metadata), and each compiled phase traces once (restoring a checkpoint does not retrace)."""
    ds = datasets.open_dataset(disk_data)
    opts = options.training_options(dict(TINY_ARGS, data=disk_data, aug="fixed", p=0.5, augpipe="blit"), ds)
    G, D, G_ema = loop.build_networks(opts)
    trainer = Trainer(G, D, G_ema, opts, augment_pipe=loop._augment_pipe(opts), seed=1)
    stream = BatchStream(ds, 8, seed=0)
    schedule = Schedule(trainer, opts)
    _steps(schedule, stream, 3)
    path = checkpoints.save(str(tmp_path), 24, trainer.state_variables(),
                            dict(data_position=stream.position, cur_nimg=schedule.cur_nimg,
                                 batch_idx=schedule.batch_idx))
    _steps(schedule, stream, 3)
    assert int(trainer.opt_G.iterations.numpy()) == 8 and int(trainer.opt_D.iterations.numpy()) == 7
    assert trainer.pl_mean.numpy() > 0
    uninterrupted = {k: {n: v.numpy() for n, v in vs.items()} for k, vs in trainer.state_variables().items()}

    meta = checkpoints.load(path, trainer.state_variables())
    assert int(trainer.opt_G.iterations.numpy()) == 4
    resumed = Schedule(trainer, opts, meta["cur_nimg"], meta["batch_idx"])
    _steps(resumed, BatchStream(ds, 8, seed=0, position=meta["data_position"]), 3)
    assert (resumed.cur_nimg, resumed.batch_idx) == (schedule.cur_nimg, schedule.batch_idx) == (48, 6)
    for group, variables in trainer.state_variables().items():
        for name, var in variables.items():
            np.testing.assert_array_equal(var.numpy(), uninterrupted[group][name], err_msg=group + "/" + name)
    assert {k: f.experimental_get_tracing_count() for k, f in trainer.phase_functions().items()} == dict(
        g_main=1, g_reg=1, d_main=1, d_reg=1, update_ema=1)


def test_batch_stream_position_resumes_across_chunks(disk_data):
    ds = datasets.open_dataset(disk_data)
    stream = BatchStream(ds, 8, seed=3, mirror=True)
    for _ in range(60):
        stream.next()
    resumed = BatchStream(ds, 8, seed=3, mirror=True, position=stream.position)
    seen = []
    for _ in range(10):  # across the end of the first chunk (64 batches of 8 in 512 images)
        x, y = stream.next()[0].numpy(), resumed.next()[0].numpy()
        np.testing.assert_array_equal(x, y)
        seen.append(x)
    assert stream.position == [1, 6]
    assert not np.array_equal(seen[3], seen[4])


def test_finetune_official_pickle_with_freezed_and_metrics(disk_data, tmp_path, monkeypatch):
    """--resume=<official 16 px pickle>: the pickle's architecture, its weights as the start, Freeze-D;
    --metrics after each snapshot (metric-<name>.jsonl, log, TensorBoard)."""
    monkeypatch.setenv("TF_STYLEGAN2_CACHE", str(tmp_path / "cache"))
    start = sg.load_network(fixture_path("orig"))
    run_dir = loop.train(dict(TINY_ARGS, data=disk_data, outdir=str(tmp_path), resume=fixture_path("orig"),
                              freezed=2, kimg=0.04, tick=1, snap=1, aug="noaug", metrics=["fid200_full"],
                              inception=write_standin_inception(tmp_path)))
    lines = [json.loads(line) for line in open(os.path.join(run_dir, "metric-fid200_full.jsonl"))]
    assert [line["snapshot_pkl"] for line in lines] == ["network-snapshot-000000.pkl"] * 2  # ticks 0 and 1
    assert all(np.isfinite(line["results"]["fid200_full"]) and line["results"]["fid200_full"] > 0 for line in lines)
    log = open(os.path.join(run_dir, "log.txt")).read().splitlines()
    assert sum(line.startswith("network-snapshot-000000.pkl") and " fid200_full " in line for line in log) == 2
    opts = json.load(open(os.path.join(run_dir, "training_options.json")))
    assert opts["G_kwargs"]["mapping"]["z_dim"] == 128 and opts["D_kwargs"]["architecture"] == "orig"
    assert opts["ema_rampup"] is None and opts["ada_kimg"] == 100 and run_dir.endswith("-resumecustom-freezed2")
    tuned = sg.load_network(os.path.join(run_dir, "network-snapshot-000000.pkl"))
    frozen = {id(v) for layer in (start.D.blocks[0]["fromrgb"], start.D.blocks[0]["conv0"]) for v in layer.weights}
    changed = {}
    for v0, v1 in zip(start.D.weights, tuned.D.weights):
        changed[id(v0)] = not np.array_equal(v0.numpy(), v1.numpy())
    assert not any(changed[i] for i in frozen)
    assert sum(changed.values()) == len(changed) - len(frozen)  # every other D variable trained
    # a few steps from the official weights: G moved, but only a little
    w0, w1 = start.G.mapping.dense_layers[0].weight.numpy(), tuned.G.mapping.dense_layers[0].weight.numpy()
    assert 0 < np.abs(w1 - w0).max() < 0.1


def test_bad_inputs_one_line_errors(disk_data, tmp_path):
    base = dict(TINY_ARGS, outdir=str(tmp_path / "out"), kimg=0.01, aug="noaug")
    small = str(tmp_path / "disks32")
    datasets.write_tfrecords(small, disks(16, res=32))
    empty = tmp_path / "empty"
    empty.mkdir()
    odd = tmp_path / "odd"
    odd.mkdir()
    Image.fromarray(disks(1, res=12)[0]).save(str(odd / "a.png"))
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [
        (dict(data=str(tmp_path / "missing")), "Missing input"),
        (dict(data_dir=str(tmp_path / "nowhere"), dataset="x", config="config-f"), "dataset root directory does not"),
        (dict(data=str(empty)), "no image files"),
        (dict(data=str(odd)), "power-of-two resolution"),
        (dict(data=disk_data, cond=True), "--cond requires labels"),
        (dict(data=small, resume=fixture_path("orig")), "16x16 images with 3 channels, but dataset disks32 is 32x32"),
        (dict(data=disk_data, outdir=str(afile)), "is not a directory"),
        (dict(data=disk_data, aug="noaug", augpipe="bgc"), "--augpipe cannot be given with --aug=noaug"),
        (dict(data=disk_data, batch=6), "divisible by the minibatch-stddev group"),
        (dict(data=disk_data, metrics=["fid10_full"], inception=str(tmp_path / "missing.pb")), "missing.pb' not found"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError) as e:
            loop.train(dict(base, **args))
        assert message in str(e.value) and "\n" not in str(e.value), (args, str(e.value))
    assert not os.path.exists(tmp_path / "out") or not os.listdir(tmp_path / "out")


def test_nonfinite_loss_stops_and_keeps_last_snapshot(disk_data, tmp_path):
    """D's first step with lr 1e30 blows its weights up: tick 0's losses (taken before that step) are
    finite and snapshotted, the next tick's are not (no R1, which would see the new D in tick 0)."""
    out = str(tmp_path / "results")
    r = run_app(["--data=" + disk_data, "--outdir=" + out, "--tick=0.04", "--snap=1", "--kimg=0.2", "--aug=noaug",
                 "--dlr=1e30"] + [a for a in TINY if not a.startswith("--gamma")] + ["--gamma=0"])
    assert r.returncode == 1
    error = r.stderr.strip().splitlines()[-1]
    assert error.startswith("run_training.py: error: non-finite Loss/") and "at tick " in error, r.stderr[-1000:]
    run_dir = only_run_dir(out)
    snapshots = sorted(glob.glob(os.path.join(run_dir, "network-snapshot-*.pkl")))
    assert "last good snapshot and checkpoint are %s" % checkpoints.latest(run_dir) in error
    sg.load_network(snapshots[-1])  # intact
    assert "Traceback" not in r.stderr


def test_disk_full_one_line_error(disk_data, tmp_path):
    """A 2 MB file size limit: the images fit, the first network snapshot does not (EFBIG, as a full disk)."""
    out = str(tmp_path / "results")
    r = run_app(["--data=" + disk_data, "--outdir=" + out, "--tick=0.04", "--snap=1", "--kimg=0.04",
                 "--aug=noaug"] + TINY,
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20)))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    error = r.stderr.strip().splitlines()[-1]
    assert "cannot write" in error and "network-snapshot-000000.pkl" in error and "File too large" in error
    run_dir = only_run_dir(out)
    assert not [n for n in os.listdir(run_dir) if n.endswith(".tmp") or n.endswith(".pkl")]


def test_training_learns_coloured_disks(disk_data, tmp_path):
    """A short run brings the pixel-space Fréchet distance of G_ema clearly below its initial value."""
    run_dir = loop.train(dict(TINY_ARGS, data=disk_data, outdir=str(tmp_path), kimg=1, tick=1, snap=1,
                              aug="noaug", mirror=True))
    reals = np.concatenate([x for x, _ in datasets.open_dataset(disk_data).iterate_uint8(256)]) / 127.5 - 1
    keras.utils.set_random_seed(0)  # the run's --seed: its initial networks
    G0 = loop.build_networks(json.load(open(os.path.join(run_dir, "training_options.json")))).G_ema
    fd_init = metrics.pixel_fd(G0, reals, size=8)
    G_end = sg.load_network(os.path.join(run_dir, "network-snapshot-000001.pkl")).G_ema
    fd_end = metrics.pixel_fd(G_end, reals, size=8)
    assert fd_end < 0.3 * fd_init, (fd_init, fd_end)


def test_ada_raises_p_on_a_tiny_dataset(tmp_path):
    """8 images: D separates the reals (rt = E[sign D(aug(real))] > 0.6), so ADA raises p (issue 13);
    p is logged as Progress/augment and stored in the checkpoint."""
    data = str(tmp_path / "disks8")
    datasets.write_tfrecords(data, disks(8))
    run_dir = loop.train(dict(TINY_ARGS, data=data, outdir=str(tmp_path), kimg=0.2, tick=0.2, snap=1, aug="ada"))
    last = stats_lines(run_dir)[-1]
    p = last["Progress/augment"]["mean"]
    assert last["Loss/signs/real"]["mean"] > 0.6 and p > 0
    step = 8 * 4 / (500 * 1000)  # batch * ada_interval / (ada_kimg * 1000)
    assert p == pytest.approx(round(p / step) * step, rel=1e-4)
    with np.load(os.path.join(checkpoints.latest(run_dir), "state.npz")) as state:
        assert float(state["augment/p"]) == pytest.approx(p)


@pytest.mark.parametrize("config", [None, "config-f"])
def test_d_main_fake_labels_follow_the_presets_origin(config, monkeypatch):
    """Conditional training: ADA presets draw D main's fake labels from the dataset's labels,
    independently of the reals' (training_loop.py's gen_c); the TF1 configs give the fakes the
    reals' labels (TF1's D_logistic_r1)."""
    from types import SimpleNamespace
    from tf_stylegan2.training import losses
    ds = SimpleNamespace(name="tiny", resolution=16, num_channels=3, label_dim=3, num_images=8)
    opts = options.training_options(dict(TINY_ARGS, data="none", cond=True, aug="noaug", config=config), ds)
    assert opts["tf1"] == bool(config)
    dataset_labels = np.tile(np.eye(3, dtype=np.float32)[2], [8, 1])  # every dataset label is class 2
    trainer = Trainer(*loop.build_networks(opts), opts, labels=dataset_labels, seed=0)
    seen = {}
    d_logistic = losses.d_logistic

    def spy(D, real_img, fake_img, c=None, fake_c=None):
        seen.update(real_c=c.numpy(), fake_c=(c if fake_c is None else fake_c).numpy())
        return d_logistic(D, real_img, fake_img, c, fake_c)

    monkeypatch.setattr(losses, "d_logistic", spy)
    real_c = np.tile(np.eye(3, dtype=np.float32)[0], [8, 1])  # the reals are class 0
    trainer._d_main(tf.zeros([8, 16, 16, 3]), tf.constant(real_c))  # eagerly, to see the labels
    np.testing.assert_array_equal(seen["real_c"], real_c)
    np.testing.assert_array_equal(seen["fake_c"], real_c if config else dataset_labels)
