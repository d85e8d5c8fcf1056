"""Training checkpoints: restored by variable path with names and shapes checked, a checksum per
state file, and a damaged or incomplete newest checkpoint reported in one line with the previous
intact one used (issue 28)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2 import datasets
from tf_stylegan2.training import checkpoints, loop
from tf_stylegan2.training.checkpoints import CheckpointError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _variables(seed):
    rnd = np.random.RandomState(seed)
    return {"G": {"mapping/Dense0/weight": tf.Variable(rnd.randn(3, 4).astype(np.float32)),
                  "synthesis/4x4_Conv/bias": tf.Variable(rnd.randn(4).astype(np.float32))},
            "opt_G": {"iterations": tf.Variable(seed, dtype=tf.int64)}}


def _values(variables):
    return {g: {n: v.numpy() for n, v in named.items()} for g, named in variables.items()}


@pytest.fixture
def run_dir(tmp_path):
    """A run directory with two checkpoints (1 and 2 images) of different values."""
    for nimg in (1, 2):
        checkpoints.save(str(tmp_path), nimg, _variables(nimg), dict(cur_nimg=nimg))
    return str(tmp_path)


def _newest(run_dir):
    return os.path.join(run_dir, "checkpoint-000000002")


def _flip_bytes(path, offset):
    data = bytearray(open(path, "rb").read())
    for i in range(offset, offset + 4):
        data[i] ^= 0xFF
    open(path, "wb").write(bytes(data))


def _truncate(path):
    data = open(path, "rb").read()
    open(path, "wb").write(data[:len(data) // 2])


def _edit_meta(path):
    doc = json.load(open(path))
    doc["meta"]["cur_nimg"] = 99  # valid JSON, but not what was written
    json.dump(doc, open(path, "w"))


DAMAGE = {
    "truncated state": (lambda d: _truncate(os.path.join(d, "state.npz")), "has \\d+ bytes, \\d+ were written"),
    "flipped state bytes": (lambda d: _flip_bytes(os.path.join(d, "state.npz"), 200), "does not match its checksum"),
    "missing state": (lambda d: os.remove(os.path.join(d, "state.npz")), "state.npz is missing"),
    "missing metadata": (lambda d: os.remove(os.path.join(d, "meta.json")), "meta.json is missing"),
    "garbage metadata": (lambda d: open(os.path.join(d, "meta.json"), "wb").write(b"\x00{not json"),
                         "meta.json is unreadable"),
    "truncated metadata": (lambda d: _truncate(os.path.join(d, "meta.json")), "meta.json is unreadable"),
    "edited metadata": (lambda d: _edit_meta(os.path.join(d, "meta.json")), "meta.json does not match its checksum"),
    "state is a directory": (lambda d: (os.remove(os.path.join(d, "state.npz")),
                                        os.mkdir(os.path.join(d, "state.npz"))), "state.npz is missing"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_newest_is_named_in_one_line_and_the_previous_is_used(run_dir, damage):
    corrupt, reason = DAMAGE[damage]
    corrupt(_newest(run_dir))
    lines = []
    path = checkpoints.find_valid(run_dir, log=lines.append)
    assert path == os.path.join(run_dir, "checkpoint-000000001")
    assert len(lines) == 1 and "\n" not in lines[0]
    assert _newest(run_dir) in lines[0] and "resuming from checkpoint-000000001" in lines[0]
    assert __import__("re").search(reason, lines[0]), lines[0]
    restored = _variables(7)
    assert checkpoints.load(path, restored) == dict(cur_nimg=1)
    for group, named in _values(_variables(1)).items():
        for name, value in named.items():
            np.testing.assert_array_equal(restored[group][name].numpy(), value)
    with pytest.raises(CheckpointError):
        checkpoints.load(_newest(run_dir), _variables(7))  # loading it directly is refused too


def test_no_valid_checkpoint_names_the_run_directory_and_each_problem(run_dir):
    _truncate(os.path.join(_newest(run_dir), "state.npz"))
    os.remove(os.path.join(run_dir, "checkpoint-000000001", "meta.json"))
    with pytest.raises(CheckpointError) as e:
        checkpoints.find_valid(run_dir, log=None)
    message = str(e.value)
    assert "\n" not in message and message.startswith(run_dir + ": no valid checkpoint")
    assert "checkpoint-000000002: state.npz has" in message and "checkpoint-000000001: meta.json is missing" in message
    assert checkpoints.latest(run_dir) is None
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        checkpoints.find_valid(os.path.join(run_dir, "empty"))


def test_restored_by_path_not_by_position(run_dir):
    saved = _values(_variables(2))
    reordered = {"opt_G": _variables(5)["opt_G"],
                 "G": dict(reversed(list(_variables(5)["G"].items())))}  # other creation order
    checkpoints.load(_newest(run_dir), reordered)
    for group, named in saved.items():
        for name, value in named.items():
            np.testing.assert_array_equal(reordered[group][name].numpy(), value)


def test_variables_that_do_not_fit_are_one_line_errors(run_dir):
    other_shape = _variables(3)
    other_shape["G"]["synthesis/4x4_Conv/bias"] = tf.Variable(np.zeros(5, np.float32))
    with pytest.raises(CheckpointError, match=r"G/synthesis/4x4_Conv/bias has shape \(4,\), the run's has \(5,\)"):
        checkpoints.load(_newest(run_dir), other_shape)
    renamed = _variables(3)
    renamed["G"]["mapping/Dense9/weight"] = renamed["G"].pop("mapping/Dense0/weight")
    with pytest.raises(CheckpointError, match="1 variable\\(s\\) missing, e.g. G/mapping/Dense9/weight; 1 unknown"):
        checkpoints.load(_newest(run_dir), renamed)


def test_checksums_are_in_the_metadata(run_dir):
    body = checkpoints.verify(_newest(run_dir))
    import hashlib
    state = os.path.join(_newest(run_dir), "state.npz")
    assert body["files"]["state.npz"]["sha256"] == hashlib.sha256(open(state, "rb").read()).hexdigest()
    assert body["variables"]["G/mapping/Dense0/weight"] == [3, 4]


def test_run_training_resume_skips_a_damaged_checkpoint(tmp_path):
    """A real run (3 minibatches, a checkpoint per minibatch): the newest checkpoint's state bytes
    flipped, --resume logs one line naming it and continues from the previous one; with every
    checkpoint damaged run_training.py exits 1 with one line naming the run directory."""
    data = str(tmp_path / "data")
    datasets.write_tfrecords(data, np.random.RandomState(0).randint(0, 256, [16, 8, 8, 3]).astype(np.uint8))
    run_dir = loop.train(dict(data=data, outdir=str(tmp_path / "runs"), cbase=256, cmax=16, map=1, batch=4,
                              kimg=0.012, tick=0.004, snap=1, gamma=1.0, metrics=[], seed=0, aug="noaug"))
    newest = checkpoints.latest(run_dir)
    assert newest.endswith("checkpoint-000000012")
    _flip_bytes(os.path.join(newest, "state.npz"), 100)
    lines = []
    loop.train(dict(resume=run_dir, kimg=0.012), log=lines.append)
    assert ("Skipping damaged checkpoint %s: state.npz does not match its checksum (damaged); resuming from "
            "checkpoint-000000008" % newest) in lines
    assert any(line.startswith("Resuming from %s (tick 2, kimg 0.0)" % os.path.join(run_dir, "checkpoint-000000008"))
               for line in lines), lines
    assert checkpoints.latest(run_dir) == newest  # rewritten, intact
    for path in checkpoints.checkpoint_dirs(run_dir):
        _truncate(os.path.join(path, "state.npz"))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "run_training.py"), "--resume=" + run_dir], cwd=ROOT,
                       capture_output=True, text=True, timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert r.returncode == 1
    err = [line for line in r.stderr.splitlines() if line.strip() and "absl" not in line and "I0000" not in line]
    assert len(err) == 1 and run_dir in err[0] and "no valid checkpoint" in err[0], r.stderr[-2000:]
    assert "Traceback" not in r.stderr


def test_damaged_options_and_stats_files_of_a_run(tmp_path):
    """A run directory's training_options.json that does not parse is a one-line error naming it;
    a stats.jsonl with damaged lines keeps its intact lines up to the resumed tick."""
    from tf_stylegan2.training.stats import truncate_jsonl
    run_dir = tmp_path / "00000-run"
    run_dir.mkdir()
    (run_dir / "training_options.json").write_bytes(b"{\"total_kimg\": 1, \x00\xff")
    with pytest.raises(loop.TrainingError, match="training_options.json is unreadable .*cannot be resumed"):
        loop.train(dict(resume=str(run_dir)))
    stats = run_dir / "stats.jsonl"
    lines = [json.dumps({"Progress/tick": {"mean": t}}) for t in range(4)]
    damaged = [b"\x00\xff garbage (not UTF-8)", b"3", b'{"Progress/tick": 7}']
    stats.write_bytes(b"\n".join([line.encode() for line in lines[:2]] + damaged +
                                 [line.encode() for line in lines[2:]]) + b"\n")
    truncate_jsonl(str(stats), 2)
    assert stats.read_text().splitlines() == lines[:3]
