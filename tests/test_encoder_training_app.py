"""run_encoder_training.py (issue 27): pSp encoder training on pairs from the packaged default
network: it learns, it resumes exactly after SIGKILL, its checkpoints are pSp's format and load
with sg.load_encoder, bad input is a one-line error.

All runs share one narrow configuration (stage widths 16, batch 2, L2 only, Ranger lr 1e-3) on 16
pairs generated in the test from tf_stylegan2/pretrained/emoji32.pkl (32 px, 8 ws of 128): the
encoder is small, the 256 px input and target are pSp's.
"""

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import TESTS, run_dir_of
from psp_fixture import psp_path, run_app

import tf_stylegan2 as sg
from tf_stylegan2.apps import run_encoder_training as app
from tf_stylegan2.encoder_training import generate_pairs
from tf_stylegan2.encoder_training import run as encoder_run
from tf_stylegan2.encoder_training.checkpoint import PSP_DEFAULT_OPTS, encoder_state_dict
from tf_stylegan2.encoder_training.setup import Parts
from tf_stylegan2.official.torch_pickle import load_torch_file
from tf_stylegan2.rosinality.save import generator_state_dict
from tf_stylegan2.sources import DEFAULT_NETWORK
from tf_stylegan2.training import checkpoints

ROOT = os.path.dirname(TESTS)
NARROW = ["--decoder=" + DEFAULT_NETWORK, "--encoder-depths=16,16,16,16", "--batch=2", "--lpips-lambda=0",
          "--lr=1e-3", "--val-fraction=0.125"]
_LOSS_LINE = re.compile(r"^step (\d+) +loss ([0-9.]+) loss_l2 ([0-9.]+)")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """16 generate-pairs pairs of the default network with itself (source = target, 32 px)."""
    out = str(tmp_path_factory.mktemp("pairs") / "emoji-pairs")
    G = sg.load_network(DEFAULT_NETWORK).G_ema
    generate_pairs(G, G, list(range(16)), out, batch_size=8)
    return out


def loss_lines(run_dir):
    """`{step: l2}` from log.txt's loss lines (a resumed run's repeated steps: the last value)."""
    with open(os.path.join(run_dir, "log.txt")) as f:
        return {int(m.group(1)): float(m.group(3)) for m in map(_LOSS_LINE.match, f) if m}


def test_training_lowers_the_reconstruction_l2(pairs, tmp_path):
    """80 L2-only steps: the mean L2 of the last 20 steps is below half that of the first 10."""
    out = str(tmp_path / "runs")
    assert run_app(app, "--dataset", pairs, "--outdir", out, "--max-steps=80", "--board-interval=1",
                   "--val-interval=80", "--image-interval=80", *NARROW) == 0
    run_dir = run_dir_of(out)
    l2 = loss_lines(run_dir)
    assert sorted(l2) == list(range(1, 81))
    first, last = np.mean([l2[s] for s in range(1, 11)]), np.mean([l2[s] for s in range(61, 81)])
    print("L2 first 10 steps %.4f, last 20 %.4f" % (first, last))
    assert last < 0.5 * first
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "best_model.pt"))
    assert os.path.isfile(os.path.join(run_dir, "images", "train", "000080.png"))
    assert glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))


SHORT = NARROW + ["--start-from-latent-avg", "--w-norm-lambda=0.005", "--save-interval=3", "--board-interval=1"]


@pytest.fixture(scope="module")
def short_run(pairs, tmp_path_factory):
    """9 steps with latent_avg and w-norm, pSp checkpoints every 3 steps: the uninterrupted
    reference of the resume test and the files of the format test."""
    out = str(tmp_path_factory.mktemp("short"))
    assert run_app(app, "--dataset", pairs, "--outdir", out, "--max-steps=9", "--val-interval=9",
                   "--image-interval=9", *SHORT) == 0
    return run_dir_of(out)


def test_resume_after_sigkill_gives_the_uninterrupted_weights(pairs, short_run, tmp_path, capsys):
    """The app killed with SIGKILL after its step-3 state, resumed with --resume=<run dir> to step 9:
    its iteration_9.pt equals the uninterrupted run's bit for bit (same seed: data order from
    [seed, epoch], decoder noise from [seed, step], the state holds weights, BatchNorm statistics and
    Ranger's slots). The resumed part runs in this process."""
    out = str(tmp_path / "runs")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, os.path.join(ROOT, "run_encoder_training.py"), "--dataset=" + pairs, "--outdir=" + out]
    proc = subprocess.Popen(cmd + ["--max-steps=1000", "--val-interval=1000", "--image-interval=1000"] + SHORT,
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, run_dir = time.time() + 240, None
    while time.time() < deadline and proc.poll() is None:
        dirs = glob.glob(os.path.join(out, "*-encoder-*"))
        run_dir = dirs[0] if dirs else None
        if run_dir and checkpoints.latest(run_dir):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    state = checkpoints.latest(run_dir)
    killed_at = checkpoints.verify(state)["meta"]["step"]
    assert killed_at in (3, 6), state
    assert run_app(app, "--resume=" + run_dir, "--max-steps=9") == 0
    assert "Resuming from %s (step %d)" % (state, killed_at) in capsys.readouterr().out
    ours = load_torch_file(os.path.join(run_dir, "checkpoints", "iteration_9.pt"))
    reference = load_torch_file(os.path.join(short_run, "checkpoints", "iteration_9.pt"))
    assert sorted(ours["state_dict"]) == sorted(reference["state_dict"])
    for key, value in reference["state_dict"].items():
        np.testing.assert_array_equal(ours["state_dict"][key], value, err_msg=key)
    np.testing.assert_array_equal(ours["latent_avg"], reference["latent_avg"])
    assert sorted(loss_lines(run_dir)) == list(range(1, 10))
    assert loss_lines(run_dir) == loss_lines(short_run)


def test_checkpoints_are_psps_format_and_load_with_load_encoder(pairs, short_run):
    """best_model.pt / iteration_N.pt: state_dict encoder.* (with BatchNorm step counters = the
    steps) and decoder.* (the frozen decoder, rosinality's names), opts with every field of pSp's
    TrainOptions (as the fixture's pSp checkpoint) holding the run's values, latent_avg
    [n_styles, w_dim]; sg.load_encoder gives the codes of the trained encoder in memory (restored
    from the run's state)."""
    names = sorted(os.listdir(os.path.join(short_run, "checkpoints")))
    assert names == ["best_model.pt", "iteration_3.pt", "iteration_6.pt", "iteration_9.pt"]
    opts = json.load(open(os.path.join(short_run, encoder_run.OPTIONS_FILE)))
    parts = Parts(opts, resuming=True)
    checkpoints.load(checkpoints.latest(short_run), parts.state_variables())
    ckpt = load_torch_file(os.path.join(short_run, "checkpoints", "iteration_9.pt"))
    assert list(ckpt) == ["state_dict", "opts", "latent_avg"]
    expected = {k: v for k, v in encoder_state_dict(parts.encoder, bn_steps=9).items()}
    expected.update(("decoder." + k, v) for k, v in generator_state_dict(parts.decoder).items())
    assert sorted(ckpt["state_dict"]) == sorted(expected)
    for key, value in expected.items():
        assert ckpt["state_dict"][key].dtype == value.dtype, key
        np.testing.assert_array_equal(ckpt["state_dict"][key], value, err_msg=key)
    assert ckpt["state_dict"]["encoder.input_layer.1.num_batches_tracked"] == 9
    assert set(ckpt["opts"]) == set(PSP_DEFAULT_OPTS) == set(load_torch_file(psp_path())["opts"])
    o = ckpt["opts"]
    assert (o["batch_size"], o["learning_rate"], o["optim_name"], o["max_steps"], o["save_interval"]) == \
        (2, 1e-3, "ranger", 9, 3)
    assert (o["start_from_latent_avg"], o["w_norm_lambda"], o["lpips_lambda"], o["l2_lambda"], o["id_lambda"]) == \
        (True, 0.005, 0.0, 1.0, 0)
    assert (o["output_size"], o["n_styles"], o["encoder_type"], o["exp_dir"]) == \
        (32, 8, "GradualStyleEncoder", short_run)
    w_avg = parts.decoder.mapping.w_avg.numpy()
    assert ckpt["latent_avg"].shape == (8, 128)
    np.testing.assert_array_equal(ckpt["latent_avg"], np.broadcast_to(w_avg, (8, 128)))
    x, _ = parts.dataset.read([0, 1, 2])
    in_memory = parts.encoder(x, training=False).numpy() + parts.latent_avg
    for name in ("iteration_9.pt", "best_model.pt"):
        psp = sg.load_encoder(os.path.join(short_run, "checkpoints", name))
        assert (psp.n_styles, psp.w_dim, psp.input_size, psp.start_from_latent_avg) == (8, 128, 256, True)
        codes = psp.encode(x)
        if name == "iteration_9.pt":
            np.testing.assert_allclose(codes, in_memory, atol=1e-5, rtol=1e-5)
    best = load_torch_file(os.path.join(short_run, "checkpoints", "best_model.pt"))
    assert best["state_dict"]["encoder.input_layer.1.num_batches_tracked"] == 9  # the only validation


@pytest.mark.parametrize("args, message", [
    (["--dataset=/nonexistent/pairs"], "dataset /nonexistent/pairs does not exist"),
    (["--id-lambda=0.1"], "--id-lambda > 0 needs --id-weights"),
    (["--lpips-lambda=0.8"], "--lpips-net=alex needs --lpips-weights"),
    (["--resume=" + psp_path()], "the decoder takes 8 ws of 128, the encoder gives 8 of 32"),
    (["--encoder-depths=16,16"], "--encoder-depths needs 4 positive stage widths"),
])
def test_bad_input_is_a_one_line_error(pairs, tmp_path, capsys, args, message):
    out = str(tmp_path / "runs")
    given = [a.split("=")[0] for a in args]
    base = ["--dataset=" + pairs] * ("--dataset" not in given) + [a for a in NARROW if a.split("=")[0] not in given]
    assert run_app(app, "--outdir", out, *(base + args)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not glob.glob(os.path.join(out, "*"))


def test_resume_of_a_run_refuses_options_that_change_it(short_run, capsys):
    before = sorted(os.listdir(short_run))
    assert run_app(app, "--resume", short_run, "--batch=4") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--batch would change the run that --resume=%s continues" % short_run in err[0], err
    assert run_app(app, "--resume", short_run) == 0  # complete: nothing to do
    assert "The run is complete (9 steps): nothing to do" in capsys.readouterr().out
    assert sorted(os.listdir(short_run)) == before


def test_dataset_forms_and_data_order(pairs, tmp_path):
    """A zip of the generate-pairs directory reads as the directory; an image folder is plain
    encoding (input = target); images come resized to 256 in [-1, 1]; the order is a permutation
    per epoch from [seed, epoch] and continues exactly from a stored position."""
    import shutil
    from tf_stylegan2.encoder_training.data import BatchOrder, DataError, EncoderDataset
    directory = EncoderDataset(pairs, 256)
    archive = EncoderDataset(shutil.make_archive(str(tmp_path / "pairs"), "zip", os.path.dirname(pairs),
                                                 os.path.basename(pairs)), 256)
    assert directory.paired and archive.paired and len(directory) == len(archive) == 16
    assert archive.name == "pairs" and directory.name == "emoji-pairs"
    x, y = directory.read([3, 0])
    xz, yz = archive.read([3, 0])
    np.testing.assert_array_equal(x, xz)
    np.testing.assert_array_equal(y, yz)
    assert x.shape == y.shape == (2, 256, 256, 3) and x.dtype == np.float32 and -1 <= x.min() and x.max() <= 1
    folder = EncoderDataset(os.path.join(pairs, "target"), 256)
    assert not folder.paired and len(folder) == 16
    xf, yf = folder.read([0])
    np.testing.assert_array_equal(xf, yf)
    np.testing.assert_array_equal(yf, y[1:])  # seed 0's target
    order = BatchOrder(14, 4, seed=5)
    batches = [order.next() for _ in range(7)]  # 3 full batches per epoch (drop_last)
    assert sorted(np.concatenate(batches[:3])) == sorted(np.random.RandomState([5, 0]).permutation(14)[:12])
    np.testing.assert_array_equal(batches[3], np.random.RandomState([5, 1]).permutation(14)[:4])
    resumed = BatchOrder(14, 4, seed=5, position=[1, 1])
    for expected in batches[4:]:
        np.testing.assert_array_equal(resumed.next(), expected)
    with pytest.raises(DataError, match="do not fill one batch of 32"):
        BatchOrder(14, 32, seed=0)
    with pytest.raises(DataError, match="holds no images"):
        EncoderDataset(str(tmp_path), 256)
