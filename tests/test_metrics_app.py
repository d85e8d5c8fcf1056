"""run_metrics.py: the TF1 and ADA flag forms, the run directory (log.txt, metric-<name>.jsonl),
one printed line per metric, and one-line errors with no run directory for bad input."""

import functools
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import fixture_path, run_in_process
from metric_standins import write_image_folder, write_standin_inception
from tf_stylegan2.apps import run_metrics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


run_app = functools.partial(run_in_process, run_metrics)  # `run_metrics.py <args>` -> exit status


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    images = np.random.RandomState(0).randint(0, 256, [40, 16, 16, 3]).astype(np.uint8)
    return dict(data=write_image_folder(root / "datasets" / "tiny", images), inception=write_standin_inception(root),
                cache=str(root / "cache"))


def _common(inputs, tmp_path):
    return ["--network=" + fixture_path("orig"), "--inception=" + inputs["inception"], "--cache-dir=" + inputs["cache"],
            "--result-dir=" + str(tmp_path / "results"), "--batch-size=16", "--noverbose"]


def _jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_ada_form(inputs, tmp_path, capsys):
    status = run_app(*_common(inputs, tmp_path), "--metrics=fid32_full,is20", "--data=" + inputs["data"], "--mirror=1")
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert len(out) == 2 and out[0].startswith("network.pkl") and " fid32_full " in out[0]
    assert " is20_mean " in out[1] and " is20_std " in out[1]
    run_dir, = glob.glob(str(tmp_path / "results" / "00000-run-metrics"))
    assert sorted(os.listdir(run_dir)) == ["log.txt", "metric-fid32_full.jsonl", "metric-is20.jsonl"]
    line, = _jsonl(os.path.join(run_dir, "metric-fid32_full.jsonl"))
    assert line["metric"] == "fid32_full" and set(line["results"]) == {"fid32_full"} and line["num_gpus"] == 1
    assert os.path.normpath(os.path.join(run_dir, line["snapshot_pkl"])) == fixture_path("orig")
    log = open(os.path.join(run_dir, "log.txt")).read()
    assert out[0] in log and out[1] in log


def test_tf1_form_and_training_run_directory(inputs, tmp_path, capsys):
    train_dir = tmp_path / "00003-train"
    train_dir.mkdir()
    pkl = str(train_dir / "network-snapshot-000010.pkl")
    shutil.copy(fixture_path("orig"), pkl)
    (train_dir / "training_options.json").write_text("{}")
    args = _common(inputs, tmp_path)
    args[0] = "--network=" + pkl
    status = run_app(*args, "--metrics=fid32", "--data-dir=" + os.path.dirname(inputs["data"]), "--dataset=tiny",
                     "--mirror-augment=true", "--num-gpus=1")
    out = capsys.readouterr().out.splitlines()
    assert status == 0 and len(out) == 1 and out[0].startswith("network-snapshot-000010.pkl") and " fid32 " in out[0]
    line, = _jsonl(str(train_dir / "metric-fid32.jsonl"))
    assert line["snapshot_pkl"] == "network-snapshot-000010.pkl"
    assert len(_jsonl(str(tmp_path / "results" / "00000-run-metrics" / "metric-fid32.jsonl"))) == 1


def test_training_snapshot_uses_its_runs_dataset(inputs, tmp_path, capsys):
    """No --data: the dataset and mirroring of the run that wrote the snapshot (ADA's lookup)."""
    train_dir = tmp_path / "00000-train"
    train_dir.mkdir()
    pkl = str(train_dir / "network-snapshot-000000.pkl")
    shutil.copy(fixture_path("orig"), pkl)
    (train_dir / "training_options.json").write_text(json.dumps(
        {"training_set_kwargs": {"path": inputs["data"], "xflip": True}}))
    args = _common(inputs, tmp_path)
    args[0] = "--network=" + pkl
    assert run_app(*args, "--metrics=fid32_full") == 0
    captured = capsys.readouterr()
    assert " fid32_full " in captured.out and "data %s, mirror True" % inputs["data"] in captured.err
    with_data = run_app(*_common(inputs, tmp_path), "--metrics=fid32_full", "--data=" + inputs["data"])
    assert with_data == 0
    lines = [_jsonl(str(tmp_path / "results" / d / "metric-fid32_full.jsonl"))[0]["results"]["fid32_full"]
             for d in ("00000-run-metrics", "00001-run-metrics")]
    assert lines[0] == pytest.approx(lines[1])  # fid*_full never mirrors: same reals either way


@pytest.mark.parametrize("extra,message", [
    (["--metrics=fid50k_ful", "--data=DATA"], "unknown metric 'fid50k_ful'; known: fid50k_full"),
    (["--metrics=fid10_full"], "fid10_full compares with real images: give a dataset (--data)"),
    (["--metrics=is10", "--gpus=2"], "2 GPUs asked for, 0 available"),
    (["--metrics=is10", "--mirror=1", "--mirror-augment=false"], "--mirror and --mirror-augment disagree"),
    (["--metrics=fid10", "--data=DATA", "--dataset=tiny"], "give either --data (ADA) or --data-dir"),
    (["--metrics=fid10", "--data=/nonexistent/data"], "/nonexistent/data"),
    (["--metrics=is10", "--inception=BADGRAPH"], "has no tensor 'pool_3:0'"),
])
def test_bad_input_one_line_error_no_run_dir(inputs, tmp_path, capsys, extra, message):
    bad_graph = write_standin_inception(tmp_path, drop="pool_3")
    args = [a.replace("DATA", inputs["data"]).replace("BADGRAPH", bad_graph) for a in _common(inputs, tmp_path) + extra]
    if any(a.startswith("--inception=" + bad_graph) for a in args):
        args = [a for a in args if a != "--inception=" + inputs["inception"]]
    status = run_app(*args)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1 and message in err[0] and err[0].startswith("run_metrics.py: error: ")
    assert not os.path.exists(str(tmp_path / "results"))


def test_script_subprocess(inputs, tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "run_metrics.py"), "--network", fixture_path("orig"),
                           "--metrics=pr50k0"], cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == ("run_metrics.py: error: bad metric 'pr50k0': the neighbourhood "
                                                    "size (the number after the count) must be at least 1")
