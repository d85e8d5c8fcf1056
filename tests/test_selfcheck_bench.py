"""`python -m tf_stylegan2.selfcheck --bench` (issue 29): the quick timings (a tiny 8 px network) run,
the table and the JSON line have every row with positive figures, the exit status is 0; a budget
too small for training says so in skipped rows. `run_training.py --resume=<run dir>` takes
--recompute and --mem-budget (recomputation changes memory and time, not results).
"""

import json
import os
import subprocess
import sys

import pytest
from absl import flags

from tf_stylegan2 import selfcheck
from tf_stylegan2.training import loop, options

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK_ROWS = ["generate tiny-8 batch 4 fp32", "generate tiny-8 batch 1 fp32"] + [
    "train tiny-8 batch 4 %s recompute=%s" % (precision, mode) for precision in ("fp32", "bf16")
    for mode in ("off", "blocks")]


def test_quick_bench_table_and_json_line_have_every_row():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "tf_stylegan2.selfcheck", "--quick", "--bench", "--bench-budget=3600"]
    # The two runs trace small graphs (single-threaded Python): side by side on two cores.
    runs = [subprocess.Popen(command + extra, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for extra in ([], ["--json"])]
    try:
        (table, table_err), (line, line_err) = [run.communicate(timeout=600) for run in runs]
    finally:
        for run in runs:
            run.kill()
    assert runs[0].returncode == 0, table_err[-3000:]
    assert runs[1].returncode == 0, line_err[-3000:]

    lines = line.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["ok"] is True and result["checks"]
    assert [r["measurement"] for r in result["bench"]] == QUICK_ROWS
    for r in result["bench"]:
        assert r["images_per_s"] > 0 and r["seconds"] > 0 and r["first_s"] > 0 and r["peak_mb"] > 0, r
        batch = int(r["measurement"].split("batch ")[1].split()[0])
        assert r["images_per_s"] == pytest.approx(batch / r["seconds"]), r  # s per call or per minibatch

    body = table.split(selfcheck.BENCH_HEADER + "\n")[1].splitlines()
    assert [row[:52].rstrip() for row in body] == QUICK_ROWS
    for row in body:
        img_s, seconds, first, peak = (float(v) for v in row[52:].split()[:4])
        assert img_s > 0 and seconds > 0 and first > 0 and peak > 0, row


def test_training_rows_that_do_not_fit_the_budget_are_skipped():
    rows = selfcheck.run_bench(dict(device="CPU:0", quick=True, bench_budget=1e-6))
    # The first generation always runs; the rest are estimated from it and do not fit 1 microsecond.
    assert rows[0].images_per_s > 0
    assert [r.measurement for r in rows] == QUICK_ROWS
    for r in rows[1:]:
        assert r.images_per_s is None and r.detail.startswith("skipped: needs about"), r
        assert selfcheck.format_bench_row(r).startswith(r.measurement) and "skipped: needs" in \
            selfcheck.format_bench_row(r)


def _run_training_args(argv, monkeypatch):
    """The `args` run_training.py gives `loop.train` for `argv` (exit status, args)."""
    from tf_stylegan2.apps import run_training
    captured = {}
    monkeypatch.setattr(loop, "train", captured.update)
    monkeypatch.setattr(sys, "argv", ["run_training.py"] + argv)
    flags.FLAGS.unparse_flags()
    try:
        run_training.main()
        code = 0
    except SystemExit as e:
        code = e.code or 0
    finally:
        flags.FLAGS.unparse_flags()
    return code, captured


def test_resume_of_a_run_directory_takes_recompute_and_mem_budget(tmp_path, monkeypatch):
    run_dir = tmp_path / "00000-run"
    run_dir.mkdir()
    (run_dir / "training_options.json").write_text(json.dumps({"total_kimg": 1.0}))
    code, args = _run_training_args(["--resume=%s" % run_dir, "--recompute=auto", "--mem-budget=3"], monkeypatch)
    assert code == 0 and args["recompute"] == "auto" and args["mem_budget"] == 3.0
    code, args = _run_training_args(["--resume=%s" % run_dir], monkeypatch)
    assert code == 0 and args["recompute"] is None and args["mem_budget"] is None  # the run keeps its own

    opts = {"total_kimg": 1.0, "recompute": "off", "mem_budget": None}
    assert options.resumed_options(opts, {"recompute": None, "mem_budget": None}) == opts
    auto = options.resumed_options(opts, {"recompute": "auto", "mem_budget": 2})
    assert auto == dict(opts, recompute="auto", mem_budget=2.0)
    assert options.resumed_options(auto, {"mem_budget": 3}) == dict(auto, mem_budget=3.0)
    assert options.resumed_options(auto, {"recompute": "auto"}) == auto  # the run's budget stays
    assert options.resumed_options(auto, {"recompute": "blocks"}) == dict(opts, recompute="blocks")
    with pytest.raises(options.OptionsError, match="--mem-budget applies to --recompute=auto only"):
        options.resumed_options(opts, {"mem_budget": 3})
