"""One command-line behaviour for every app (tf_stylegan2/apps/cli.py): `APP --help` and `APP
SUBCOMMAND --help` print the description and only the flags that apply, exit 0 (every app and
console script); yes/no flags take the same spellings everywhere; `--outdir` where an app writes
run directories; `--resume=<run dir>` refuses flags that would change the run; the errors that
name the way out; TensorFlow's start-up chatter filtered at a user's TF_CPP_MIN_LOG_LEVEL >= 1;
stderr in a training run's log.txt.

The apps run in this process (their `main()` with `sys.argv` set) except where start-up itself
is tested.
"""

import contextlib
import importlib
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from absl import flags

import tf_stylegan2_startup
from tf_stylegan2 import metrics
from tf_stylegan2.apps import cli
from tf_stylegan2.projector import lpips
from tf_stylegan2.training import loop, options

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _apps():
    """Every app: the program name of each script that starts one (the repository's top-level scripts
    and converters/convert_pkl.py, read for their `run_app("module")`) -> its module."""
    apps = {}
    for path in [os.path.join(REPO, n) for n in sorted(os.listdir(REPO)) if n.endswith(".py")] + \
            [os.path.join(REPO, "converters", "convert_pkl.py")]:
        with open(path) as f:
            m = re.search(r'run_app\("([\w.]+)"\)', f.read())
        if m:
            apps[os.path.basename(path)] = m.group(1)
    return apps


APPS = _apps()


def run_main(main, argv):
    """(exit status, stdout, stderr) of an app's `main()` run with `sys.argv = argv`. The flags are
    reset first: absl keeps a flag given in an earlier run when an app defines it again."""
    flags.FLAGS.unparse_flags()
    saved = sys.argv
    sys.argv = list(argv)
    out, err = _Capture(), _Capture()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
        code = 0
    except SystemExit as e:
        code = e.code or 0
    finally:
        sys.argv = saved
        flags.FLAGS.unparse_flags()
    return code, out.getvalue(), err.getvalue()


class _Capture(list):
    def write(self, text):
        self.append(text)

    def flush(self):
        pass

    def getvalue(self):
        return "".join(self)


def flags_listed(text):
    """The flag names a help text lists (`  --name` / `  --[no]name` lines), underscored."""
    return {m.group(1).replace("-", "_") for m in re.finditer(r"^  --(?:\[no\])?([a-z0-9-]+)", text, re.M)}


def subcommands_of(module):
    """{name: fn} of an app module: read from the dict its main() passes to cli.run."""
    captured = {}
    saved = cli.run
    cli.run = lambda commands, positional=False: captured.update({None: commands} if callable(commands) else commands)
    try:
        module.main()
    finally:
        cli.run = saved
    return captured


def test_every_app_and_subcommand_help_lists_its_description_and_only_its_flags():
    for prog, name in APPS.items():
        module = importlib.import_module(name)
        subcommands = subcommands_of(module)
        for sub in [None] + [s for s in subcommands if s]:
            code, out, err = run_main(module.main, [prog] + ([sub] if sub else []) + ["--help"])
            assert (code, err) == (0, ""), (prog, sub, err)
            usage, blank, description = out.splitlines()[:3]
            assert usage.startswith("usage: %s" % prog) and blank == "" and description.strip(), (prog, sub, out)
            own = {f.name for f in cli.app_flags(name)}
            expected = {f.name for f in cli.app_flags(name) if cli.flag_scope(f, subcommands) is None
                        or sub in cli.flag_scope(f, subcommands)}
            listed = flags_listed(out)
            assert listed == expected and listed <= own, (prog, sub, listed ^ expected)
            if sub:
                assert " ".join(subcommands[sub].__doc__.split()[:4]) in " ".join(out.split())


@pytest.mark.parametrize("argv, present, absent", [
    (["run_generator.py", "sefa", "--help"], {"network", "out", "layers", "result_dir"},
     {"seeds", "latent1", "truncation_psi", "noise_mode", "batch_size"}),
    (["run_generator.py", "edit-latents", "-h"], {"seeds", "latents", "layers", "truncation_psi", "direction_offset"},
     {"out", "latent1", "high_res_network"}),
    (["run_generator.py", "--help"], {"network", "result_dir"}, {"seeds", "out", "latent1"}),
    (["dataset_tool.py", "create_from_images", "--help"], {"shuffle", "resolution", "transform", "labels"},
     {"source", "dest", "num_images", "ignore_labels"}),
    (["dataset_tool.py", "--help"], {"source", "dest", "width", "max_images", "resolution"}, {"shuffle", "output"}),
    (["run_projector.py", "project-real-images", "--helpshort"], {"images", "num_steps"}, {"seeds"}),
    (["run_training.py", "--help"], {"data", "resume", "mirror_augment", "cfg"}, {"seeds", "network", "images"}),
])
def test_help_examples(argv, present, absent):
    module = importlib.import_module(APPS[argv[0]])
    for other in APPS.values():  # other apps' flags defined in this process must not show up
        importlib.import_module(other).define_flags()
    code, out, _ = run_main(module.main, argv)
    assert code == 0
    listed = flags_listed(out)
    assert present <= listed and not absent & listed, (present - listed, absent & listed)


def test_every_console_script_prints_its_help():
    with open(os.path.join(REPO, "setup.py")) as f:
        scripts = re.findall(r'"(tf-stylegan2-[a-z]+)=tf_stylegan2_startup:([a-z_]+)"', f.read())
    assert len(scripts) >= 6
    assert len(APPS) >= 7 and "convert_pkl.py" in APPS
    for script, entry in scripts:
        code, out, err = run_main(getattr(tf_stylegan2_startup, entry), [script, "--help"])
        assert (code, err) == (0, "") and out.startswith("usage: %s " % script), (script, out[:200], err)
        assert flags_listed(out), script


def test_boolean_spellings_dashes_and_outdir():
    fv = flags.FlagValues()
    flags.DEFINE_boolean("mirror_augment", None, "", flag_values=fv)
    flags.DEFINE_boolean("xla", False, "", flag_values=fv)
    flags.DEFINE_string("noise_mode", None, "", flag_values=fv)
    flags.DEFINE_string("result_dir", "results", "", flag_values=fv)

    def parse(*args):
        fv.unparse_flags()
        fv(cli.normalize_flag_spellings(["app"] + list(args), fv))
        return fv.mirror_augment, fv.xla

    for text, value in [("yes", True), ("no", False), ("true", True), ("False", False), ("1", True), ("0", False),
                        ("Y", True), ("n", False), ("t", True), ("f", False)]:
        assert parse("--mirror-augment=" + text) == (value, False), text
        assert parse("--mirror_augment", text) == (value, False), text  # TF1's argparse form
    assert parse("--mirror-augment", "--xla") == (True, True)
    assert parse("--nomirror-augment", "--no-xla") == (False, False)
    assert parse("--nomirror_augment") == (False, False)
    assert cli.normalize_flag_spellings(["app", "--noise-mode=const", "--outdir=runs", "--", "--xla=yes"], fv,
                                        {"outdir": "result_dir"}) == \
        ["app", "--noise_mode=const", "--result_dir=runs", "--", "--xla=yes"]
    with pytest.raises(flags.Error):
        parse("--xla=maybe")


def test_run_metrics_takes_yes_for_mirror_augment():
    from tf_stylegan2.apps import run_metrics
    code, _, err = run_main(run_metrics.main, ["run_metrics.py", "--network=x.pkl", "--mirror-augment=yes",
                                               "--mirror=no"])
    assert code == 1 and err == "run_metrics.py: error: --mirror and --mirror-augment disagree\n", err


def test_outdir_is_accepted_by_every_app_writing_run_directories(tmp_path):
    for name in ("run_generator", "run_projector", "run_metrics", "run_training"):
        importlib.import_module("tf_stylegan2.apps." + name).define_flags()
        own = {f.name for f in cli.app_flags("tf_stylegan2.apps." + name)}
        assert "outdir" in own or cli.outdir_alias("tf_stylegan2.apps." + name) == {"outdir": "result_dir"}, name
    from tf_stylegan2.apps import run_generator
    code, out, err = run_main(run_generator.main, ["run_generator.py", "generate-images", "--seeds=0",
                                                   "--outdir=%s" % (tmp_path / "out")])
    assert code == 0, err
    assert os.listdir(tmp_path / "out" / "00000-generate-images") == ["seed0000.png"]


@pytest.fixture
def run_dir(tmp_path):
    path = tmp_path / "00000-run"
    path.mkdir()
    (path / "training_options.json").write_text(json.dumps({"total_kimg": 1.0}))
    return str(path)


@pytest.mark.parametrize("flag", ["--batch=4", "--cfg=paper256", "--data=other.zip", "--mirror=yes", "--gamma=2",
                                  "--config=config-f", "--seed=1"])
def test_resume_of_a_run_directory_refuses_flags_that_change_the_run(run_dir, flag):
    from tf_stylegan2.apps import run_training
    code, out, err = run_main(run_training.main, ["run_training.py", "--resume=" + run_dir, flag])
    name = flag.split("=")[0]
    assert code == 1 and out == ""
    assert err == ("run_training.py: error: %s would change the run that --resume=%s continues (its options come "
                   "from its training_options.json); drop it, or start a new run\n" % (name, run_dir))


def test_resume_time_flags_apply_to_the_stored_options():
    opts = {"total_kimg": 1.0, "image_snapshot_ticks": 50, "network_snapshot_ticks": 50, "metrics": ["fid50k_full"],
            "batch_size": 8}
    assert options.resumed_options(opts, {"kimg": None, "snap": None, "metrics": None, "batch": 4}) == opts
    assert options.resumed_options(opts, {"kimg": 2, "snap": 3, "metrics": []}) == dict(
        opts, total_kimg=2.0, image_snapshot_ticks=3, network_snapshot_ticks=3, metrics=[])
    with pytest.raises(options.OptionsError, match="--kimg must be > 0"):
        options.resumed_options(opts, {"kimg": 0})


def test_detector_download_failure_names_the_way_out(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(OSError) as e:
        metrics.load_inception(None, cache_dir=str(tmp_path), progress=False)
    message = str(e.value)
    assert "\n" not in message and "--inception=PATH" in message and "--metrics=none" in message, message


def test_missing_vgg16_names_the_flag(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- network is unreachable")
    monkeypatch.setattr(lpips.keras.applications, "VGG16", offline)
    for weights in ("imagenet", str(tmp_path / "missing.h5")):
        with pytest.raises(ValueError) as e:
            lpips.vgg16_backbone(weights)
        assert "\n" not in str(e.value) and "--vgg16=PATH" in str(e.value), str(e.value)


CHATTY = ('import os\nos.write(2, b"I0000 00:00:1.2 1 port.cc:153] oneDNN custom operations are on.\\n"\n'
          '            b"W0000 00:00:1.3 1 cpu_feature_guard.cc:227] This binary is optimized\\n")\n'
          'def main():\n    print("level", os.environ["TF_CPP_MIN_LOG_LEVEL"])\n')


@pytest.mark.parametrize("level", ["1", "3"])
def test_start_up_chatter_is_dropped_at_a_users_log_level_too(tmp_path, level):
    (tmp_path / "chatty.py").write_text(CHATTY)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=level, PYTHONPATH=os.pathsep.join([str(tmp_path), REPO]))
    proc = subprocess.run([sys.executable, "-c", "import tf_stylegan2_startup; tf_stylegan2_startup.run_app('chatty')"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "level %s\n" % level, "")


def test_an_app_error_is_one_line_at_log_level_3(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, os.path.join(REPO, "run_generator.py"), "generate-images", "--seeds=x"],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["run_generator.py: error: bad seed 'x' in 'x': expected e.g. '1,5,7', "
                                        "'10-20' or '1-3,7'"]


def test_training_log_holds_stderr(tmp_path, capsys):
    run = loop.RunLog(str(tmp_path))
    with loop._stderr_to_log(str(tmp_path)):
        run("a line of stdout")
        print("a warning on stderr", file=sys.stderr)
    print("after the run", file=sys.stderr)
    with open(tmp_path / "log.txt") as f:
        assert f.read() == "a line of stdout\na warning on stderr\n"
    assert capsys.readouterr().err == "a warning on stderr\nafter the run\n"
