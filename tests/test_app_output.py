"""What the apps print, run as a user runs them (subprocesses, stderr captured, TF_CPP_MIN_LOG_LEVEL
unset): a refused pickle (which also writes nothing), an invalid or missing file and an unknown
flag each give exactly one `<program>: error: ...` line on stderr and exit status 1 (2 for the
flag); every app at the repository root and every console script starts without any TensorFlow
log line before that error; a successful run prints its run directory on stdout and at most one
progress line on stderr.

Start-up (`tf_stylegan2_startup`): while the app module is imported, the absl preamble and native
INFO/WARNING lines (with their continuation lines) are dropped from stderr, native errors and all
other lines are kept, and the app sees TF_CPP_MIN_LOG_LEVEL=2; a user's TF_CPP_MIN_LOG_LEVEL=0
keeps every line. `Progress` shows nothing for work within its delay, one final line on a pipe
(none when the work fails before it closes) and a bar redrawn in place on a terminal.
"""

import glob
import io
import os
import pickle
import subprocess
import sys
import textwrap

import pytest

import tf_stylegan2_startup
from conftest import fixture_path
from tf_stylegan2.progress import Progress

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (command prefix, program name in the error line, arguments before --network)
APPS = {
    "run_generator.py": ([os.path.join(REPO, "run_generator.py"), "generate-images", "--seeds=1"],
                         "run_generator.py"),
    "run_projector.py": ([os.path.join(REPO, "run_projector.py"), "project-generated-images", "--seeds=1"],
                         "run_projector.py"),
    "converter": (["-m", "converters.convert_pkl", "--output-dir={tmp}/out"], "convert_pkl.py"),
    "console script": (["-c", "import sys, tf_stylegan2_startup; sys.argv[0] = 'tf-stylegan2-generate'; "
                              "tf_stylegan2_startup.generate()", "generate-images", "--seeds=1"],
                       "tf-stylegan2-generate"),
}


def run(args, tmp_path, **env):
    full_env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    full_env["PYTHONPATH"] = REPO
    full_env.update(env)
    return subprocess.run([sys.executable] + args, cwd=str(tmp_path), env=full_env, capture_output=True, text=True,
                          timeout=300)


def app_args(app, tmp_path, *extra):
    prefix, _ = APPS[app]
    return [a.format(tmp=tmp_path) for a in prefix] + list(extra)


@pytest.fixture
def evil_pickle(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(os.system))
    return str(path)


@pytest.mark.parametrize("app", list(APPS))
def test_refused_pickle_is_one_line_on_stderr(app, tmp_path, evil_pickle):
    proc = run(app_args(app, tmp_path, "--network=" + evil_pickle), tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["%s: error: refused to load global posix.system: not part of the official "
                                        "network format" % APPS[app][1]], proc.stderr
    assert proc.stdout == ""
    assert sorted(os.listdir(str(tmp_path))) == ["evil.pkl"]  # nothing written


@pytest.mark.parametrize("app", ["run_generator.py", "converter"])
def test_invalid_or_missing_file_and_bad_flag_are_one_line_on_stderr(app, tmp_path):
    (tmp_path / "junk.pkl").write_bytes(b"GIF89a" + bytes(64))  # 70 bytes that are no pickle
    proc = run(app_args(app, tmp_path, "--network=" + str(tmp_path / "junk.pkl")), tmp_path)
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith(APPS[app][1] + ": error: "), proc.stderr
    proc = run(app_args(app, tmp_path, "--network=" + str(tmp_path / "gone.pkl")), tmp_path)
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1 and "gone.pkl: No such file or directory" in proc.stderr, proc.stderr
    proc = run(app_args(app, tmp_path, "--network=x.pkl", "--sideways=1"), tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["%s: error: Unknown command line flag 'sideways'" % APPS[app][1]], proc.stderr


ROOT_APPS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, "*.py"))
                   if os.path.basename(p) not in ("setup.py", "tf_stylegan2_startup.py"))


@pytest.mark.parametrize("script", ROOT_APPS)
def test_every_root_app_starts_quietly(script, tmp_path):
    """Each app at the repository root starts through `tf_stylegan2_startup.run_app`: a bad flag is
    its only line on stderr, with no TensorFlow start-up log before it."""
    proc = run([os.path.join(REPO, script), "--sideways=1"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["%s: error: Unknown command line flag 'sideways'" % script], proc.stderr


@pytest.mark.parametrize("entry", ["dataset", "train", "metrics", "encode", "train_encoder"])
def test_console_scripts_of_the_other_apps_start_quietly(entry, tmp_path):
    proc = run(["-c", "import sys, tf_stylegan2_startup; sys.argv[0] = 'app'; tf_stylegan2_startup.%s()" % entry,
                "--sideways=1"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["app: error: Unknown command line flag 'sideways'"], proc.stderr


def test_a_successful_run_on_a_pipe_prints_the_result_and_at_most_one_progress_line(tmp_path):
    proc = run(app_args("run_generator.py", tmp_path, "--network=" + fixture_path("public"), "--result-dir=r"),
               tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == os.path.join("r", "00000-generate-images")
    lines = proc.stderr.splitlines()
    assert len(lines) <= 1 and all(line.startswith("generate-images: 1/1 in ") for line in lines), proc.stderr


CHATTY_MODULE = textwrap.dedent("""\
    import os
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n"
                b"I0000 00:00:1.2 8165 port.cc:153] oneDNN custom operations are on.\\n"
                b"W0000 00:00:1.3 8165 cpu_feature_guard.cc:227] This binary is optimized\\n"
                b"To enable the following instructions: AVX2, rebuild TensorFlow.\\n"
                b"E0000 00:00:1.4 8165 loader.cc:1] a real error\\n"
                b"a line of the module's own\\n")
    LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    def main():
        print("main ran, level", LEVEL)
    """)


@pytest.mark.parametrize("user_level", [None, "0"])
def test_quiet_import_drops_native_info_and_warnings_unless_the_user_set_the_level(tmp_path, user_level):
    (tmp_path / "chatty.py").write_text(CHATTY_MODULE)
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), REPO])}
    if user_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = user_level
    proc = run(["-c", "import tf_stylegan2_startup; tf_stylegan2_startup.run_app('chatty')"], tmp_path, **env)
    assert proc.returncode == 0, proc.stderr
    if user_level is None:
        assert proc.stdout == "main ran, level 2\n"
        assert proc.stderr == "E0000 00:00:1.4 8165 loader.cc:1] a real error\na line of the module's own\n"
    else:
        assert proc.stdout == "main ran, level 0\n"
        assert len(proc.stderr.splitlines()) == 6 and "oneDNN" in proc.stderr  # untouched


def test_without_chatter_keeps_errors_and_unrelated_lines():
    text = ("I1201 11:00:00.1 1 port.cc:153] info\n  continued\n\nkept after a blank line\n"
            "F1201 11:00:00.2 1 x.cc:1] fatal\n  its detail\nW1201 11:00:00.3 1 y.cc:2] warn\n")
    assert tf_stylegan2_startup.without_chatter(text) == ("\nkept after a blank line\nF1201 11:00:00.2 1 x.cc:1] "
                                                          "fatal\n  its detail\n")


class FakeStream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


@pytest.mark.parametrize("tty", [False, True])
def test_progress_shows_nothing_for_work_within_the_delay(tty):
    stream = FakeStream(tty)
    for _ in Progress(range(50), desc="quick", stream=stream, delay=3600):
        pass
    assert stream.getvalue() == ""


def test_progress_on_a_pipe_prints_one_final_line_and_no_bar():
    stream = FakeStream(False)
    bar = Progress(total=4, desc="project", stream=stream, delay=0)
    for i in range(4):
        bar.update(1, status="dist %.1f" % i)
    assert stream.getvalue() == ""
    bar.close()
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("project: 4/4 in ") and lines[0].endswith("s dist 3.0"), lines


def test_progress_on_a_terminal_redraws_in_place_and_ends_the_line():
    stream = FakeStream(True)
    bar = Progress(total=2, desc="render", stream=stream, delay=0, redraw=0)
    bar.update(1)
    bar.update(1)
    bar.close()
    out = stream.getvalue()
    assert out.count("\r") == 3 and out.endswith("\n") and out.count("\n") == 1
    assert "render [##########----------] 1/2" in out and "render [####################] 2/2" in out


def test_progress_prints_no_final_line_when_close_is_never_reached():
    stream = FakeStream(False)
    with pytest.raises(RuntimeError):
        for _ in Progress([1, 2, 3], desc="read", stream=stream, delay=0):
            raise RuntimeError("bad pickle")
    assert stream.getvalue() == ""
