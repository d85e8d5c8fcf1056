"""`dataset_tool.py`: the official subcommands and the ADA --source/--dest form end to end, and every
bad input: a one-line error, exit status 1 (2 for usage errors) and nothing half-written."""

import functools
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import run_in_process
from tf_stylegan2 import datasets
from tf_stylegan2.apps import dataset_tool

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


run_tool = functools.partial(run_in_process, dataset_tool)  # `dataset_tool.py <args>` -> exit status


def images_folder(path, n=4, res=8, channels=3, seed=0, fmt="png"):
    os.makedirs(str(path), exist_ok=True)
    rng = np.random.RandomState(seed)
    arrays = rng.randint(0, 256, [n, res, res, channels]).astype(np.uint8)
    for i, a in enumerate(arrays):
        Image.fromarray(a[:, :, 0] if channels == 1 else a).save(str(path / ("%02d.%s" % (i, fmt))))
    return arrays


def test_official_commands_and_the_ada_form(tmp_path, capsys):
    arrays = images_folder(tmp_path / "imgs", n=5)
    assert run_tool("create_from_images", tmp_path / "ds", tmp_path / "imgs") == 0
    assert sorted(os.listdir(str(tmp_path / "ds"))) == ["ds-r02.tfrecords", "ds-r03.tfrecords"]
    assert run_tool("create-from-images", tmp_path / "plain", tmp_path / "imgs", "--shuffle=0") == 0
    x, _ = next(datasets.open_dataset(str(tmp_path / "plain")).iterate_uint8(5))
    np.testing.assert_array_equal(x, arrays)

    capsys.readouterr()
    assert run_tool("info", tmp_path / "ds") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["num_images"] == 5 and info["resolution"] == 8 and info["num_channels"] == 3
    assert info["label_dim"] == 0 and info["levels"] == {"ds-r02.tfrecords": 5, "ds-r03.tfrecords": 5}

    assert run_tool("compare", tmp_path / "ds", tmp_path / "plain", "--ignore-labels=1") == 0
    out = capsys.readouterr().out
    assert "Identical images: %d / 5" % (5 - out.count("is different")) in out and "Image " in out

    assert run_tool("--source", tmp_path / "ds", "--dest", tmp_path / "ada.zip", "--max-images=3") == 0
    with zipfile.ZipFile(str(tmp_path / "ada.zip")) as z:
        assert len(z.namelist()) == 4
    assert run_tool("compare", tmp_path / "ds", tmp_path / "ada.zip") == 0
    out = capsys.readouterr().out
    assert "Datasets contain different number of images (5 and 3)" in out and "Identical images: 3 / 5" in out

    assert run_tool("display", tmp_path / "ds", "--output", tmp_path / "grid.png", "--num-images=4") == 0
    grid = np.asarray(Image.open(str(tmp_path / "grid.png")))
    order = datasets.shuffled_order(5)
    assert grid.shape == (16, 16, 3)
    np.testing.assert_array_equal(grid[8:, :8], arrays[order[2]])

    assert run_tool("extract", tmp_path / "ds", tmp_path / "png") == 0
    assert sorted(os.listdir(str(tmp_path / "png"))) == ["img%08d.png" % i for i in range(5)]
    np.testing.assert_array_equal(np.asarray(Image.open(str(tmp_path / "png" / "img00000001.png"))), arrays[order[1]])

    # centre crop of non-square images to --resolution, into an ADA folder
    Image.new("RGB", (24, 12), (10, 20, 30)).save(str(tmp_path / "wide.png"))
    os.makedirs(str(tmp_path / "wide"))
    os.replace(str(tmp_path / "wide.png"), str(tmp_path / "wide" / "a.png"))
    assert run_tool("--source=%s" % (tmp_path / "wide"), "--dest=%s" % (tmp_path / "adafolder"),
                    "--transform=center-crop", "--resolution=8") == 0
    img = np.asarray(Image.open(str(tmp_path / "adafolder" / "00000" / "img00000000.png")))
    assert img.shape == (8, 8, 3) and np.all(img == (10, 20, 30))
    assert "note: 1 image(s) center-crop from 24x12 to 8x8" in capsys.readouterr().out


def test_official_command_line_as_a_subprocess(tmp_path):
    images_folder(tmp_path / "imgs", n=2, channels=1)
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, os.path.join(REPO, "dataset_tool.py")]
    proc = subprocess.run(cmd + ["create_from_images", str(tmp_path / "ds"), str(tmp_path / "imgs"), "--shuffle", "1"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 2 images" in proc.stdout
    assert datasets.open_dataset(str(tmp_path / "ds")).shape == (8, 8, 1)


def bad_inputs(tmp):
    """{case: (arguments, error text)} over fresh inputs in `tmp`."""
    os.makedirs(str(tmp / "empty"))
    images_folder(tmp / "mixed_sizes", n=2)
    images_folder(tmp / "mixed_sizes", n=1, res=16, seed=1, fmt="bmp")
    images_folder(tmp / "mixed_channels", n=2)
    images_folder(tmp / "mixed_channels", n=1, channels=1, seed=1, fmt="bmp")
    images_folder(tmp / "corrupt", n=2)
    (tmp / "corrupt" / "03.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    os.makedirs(str(tmp / "nonsquare"))
    Image.new("RGB", (16, 8)).save(str(tmp / "nonsquare" / "a.png"))
    images_folder(tmp / "good", n=3)
    np.save(str(tmp / "labels.npy"), np.zeros([5, 2], np.float32))
    os.makedirs(str(tmp / "existing"))
    (tmp / "existing" / "existing-r03.tfrecords").write_bytes(b"")
    (tmp / "taken.zip").write_bytes(b"PK")
    (tmp / "unknown.bin").write_bytes(b"?")
    return {
        "empty folder": (["create_from_images", tmp / "out", tmp / "empty"], "No input images found"),
        "mixed sizes": (["create_from_images", tmp / "out", tmp / "mixed_sizes", "--shuffle=0"],
                        "mixed_sizes/00.png is 8x8, the first image 16x16: all images must have one size"),
        "mixed channels": (["create_from_images", tmp / "out", tmp / "mixed_channels", "--shuffle=0"],
                           "mixed_channels/00.png has 3 channel(s), the first image 1"),
        "corrupt image": (["create_from_images", tmp / "out", tmp / "corrupt"], "03.png: not a readable image"),
        "non-square": (["create_from_images", tmp / "out", tmp / "nonsquare"],
                       "a.png: Input images must have the same width and height (got 16x8; give --resolution"),
        "label count": (["create_from_images", tmp / "out", tmp / "good", "--labels", tmp / "labels.npy"],
                        "labels.npy holds 5 labels for 3 images"),
        "existing dataset": (["create_from_images", tmp / "existing", tmp / "good"], "already exists and is not empty"),
        "existing zip": (["--source", tmp / "good", "--dest", tmp / "taken.zip"], "taken.zip already exists"),
        "non-empty dest folder": (["--source", tmp / "good", "--dest", tmp / "existing"], "--dest folder must be empty"),
        "missing source": (["--source", tmp / "nope", "--dest", tmp / "out.zip"], "Missing input file or directory"),
        "unknown archive": (["--source", tmp / "unknown.bin", "--dest", tmp / "out.zip"], "unknown archive type"),
        "transform without size": (["--source", tmp / "good", "--dest", tmp / "out.zip", "--transform=center-crop"],
                                   "--transform=center-crop requires --resolution"),
        "not a dataset": (["info", tmp / "empty"], "no image files found"),
    }


CASES = ["empty folder", "mixed sizes", "mixed channels", "corrupt image", "non-square", "label count",
         "existing dataset", "existing zip", "non-empty dest folder", "missing source", "unknown archive",
         "transform without size", "not a dataset"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_one_line_error_nothing_written(tmp_path, capsys, case):
    args, message = bad_inputs(tmp_path)[case]
    before = sorted(os.listdir(str(tmp_path)))
    before_existing = sorted(os.listdir(str(tmp_path / "existing")))
    capsys.readouterr()
    assert run_tool(*args) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("dataset_tool.py: error: ") and message in last, err
    assert sorted(os.listdir(str(tmp_path))) == before  # no output, no temporary left behind
    assert sorted(os.listdir(str(tmp_path / "existing"))) == before_existing


def test_usage_errors_exit_2(tmp_path, capsys):
    assert run_tool("extract", tmp_path) == 2
    assert "extract takes tfrecord_dir output_dir, got 1 argument(s)" in capsys.readouterr().err
    assert run_tool("create_lsun", tmp_path, tmp_path) == 2
    assert run_tool() == 1
    assert "give a subcommand" in capsys.readouterr().err
