"""Start-up of the command-line apps: TensorFlow's C++ start-up log kept off the terminal.

Standard library only, and outside the `tf_stylegan2` package (whose import imports TensorFlow),
so it runs before TensorFlow loads. Every app starts through it, in one line:

    tf_stylegan2_startup.run_app("tf_stylegan2.apps.run_generator")   # imports it quietly, calls main()

TensorFlow prints INFO lines while it loads (oneDNN, CPU features) before it reads
`TF_CPP_MIN_LOG_LEVEL`; `quiet_import` sets that variable to 2 (TensorFlow's native errors still
print, its INFO and WARNING lines do not) and drops the INFO/WARNING lines written to stderr
during the import. A level the user set is kept; at 1 or more (they asked for less output) the
start-up lines are dropped all the same, and at 0 nothing is dropped.
"""

import importlib
import os
import re
import sys
import tempfile

LOG_LEVEL = "2"
_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_NATIVE_LINE = re.compile(r"^([IWEF])\d{4} ")


def quiet_import(module_name):
    """Import `module_name` (and with it TensorFlow) without TensorFlow's start-up chatter; returns the module."""
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0":
        return importlib.import_module(module_name)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", LOG_LEVEL)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return importlib.import_module(module_name)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            sys.stderr.write(without_chatter(captured.read().decode("utf-8", "replace")))
            sys.stderr.flush()


def without_chatter(text):
    """`text` without the absl preamble and native INFO/WARNING messages (their continuation lines included)."""
    kept, dropping = [], False
    for line in text.splitlines(keepends=True):
        native = _NATIVE_LINE.match(line)
        if line.rstrip("\n") == _PREAMBLE or (native and native.group(1) in "IW"):
            dropping = True
        elif native or not dropping or not line.strip():
            dropping = False
            kept.append(line)
    return "".join(kept)


def run_app(module_name):
    """Quietly import the app module `module_name` and run its `main()`."""
    quiet_import(module_name).main()


def _console_script(name, module_name):
    def main():
        run_app(module_name)
    main.__doc__ = "Console script `%s`: `%s.main()`, started quietly." % (name, module_name)
    return main


# setup.py's console scripts
generate = _console_script("tf-stylegan2-generate", "tf_stylegan2.apps.run_generator")
project = _console_script("tf-stylegan2-project", "tf_stylegan2.apps.run_projector")
convert = _console_script("tf-stylegan2-convert", "tf_stylegan2.apps.convert_pkl")
dataset = _console_script("tf-stylegan2-dataset", "tf_stylegan2.apps.dataset_tool")
train = _console_script("tf-stylegan2-train", "tf_stylegan2.apps.run_training")
metrics = _console_script("tf-stylegan2-metrics", "tf_stylegan2.apps.run_metrics")
demo = _console_script("tf-stylegan2-demo", "tf_stylegan2.demo.app")
encode = _console_script("tf-stylegan2-encode", "tf_stylegan2.apps.run_encoder")
train_encoder = _console_script("tf-stylegan2-train-encoder", "tf_stylegan2.apps.run_encoder_training")
