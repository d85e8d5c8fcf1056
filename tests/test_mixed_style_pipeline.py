"""scripts/mixed_style_pipeline.sh (issue 27's example) run whole at tiny sizes: 8 style images, a
16-image fine-tune, 16 training pairs, 3 encoder steps of a narrow encoder, 4 held-out images; every
stage's output is checked. Also tf_stylegan2.style_example's hue rotation and grid."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import TESTS

import tf_stylegan2 as sg
from tf_stylegan2 import datasets, style_example
from tf_stylegan2.encoders import preprocess

ROOT = os.path.dirname(TESTS)
SCRIPT = os.path.join(ROOT, "scripts", "mixed_style_pipeline.sh")
TINY = dict(STYLE_SEEDS="0-7", FT_KIMG="0.016", FT_BATCH="8", FT_TICK="0.008", PAIR_SEEDS="0-15",
            TEST_SEEDS="100-103", ENC_STEPS="3", ENC_BATCH="2", ENC_DEPTHS="16,16,16,16")


def run_script(work):
    env = dict(os.environ, **TINY)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    return subprocess.run(["bash", SCRIPT, str(work)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1200)


def only(pattern):
    found = glob.glob(pattern)
    assert len(found) == 1, (pattern, found)
    return found[0]


def test_rotate_hue_turns_colours_and_keeps_greys():
    image = np.array([[[255, 0, 0], [0, 255, 0], [128, 128, 128], [255, 255, 255]]], np.uint8)
    turned = style_example.rotate_hue(image, 180).astype(int)
    # red -> cyan, green -> magenta; Pillow's 8-bit HSV round trip gives 252 for 255 there (measured)
    np.testing.assert_allclose(turned[0, :2], [[0, 255, 255], [255, 0, 255]], atol=3)
    np.testing.assert_array_equal(turned[0, 2:], [[128, 128, 128], [255, 255, 255]])
    np.testing.assert_array_equal(style_example.rotate_hue(image, 360), image)


def test_comparison_grid_and_column_l2():
    a = np.zeros([2, 2, 3], np.uint8)
    b = np.full([2, 2, 3], 255, np.uint8)
    grid = style_example.comparison_grid([[a, b], [b, b]], scale=3)
    assert grid.shape == (12, 12, 3)
    np.testing.assert_array_equal(grid[:6, :6], 0)
    np.testing.assert_array_equal(grid[6:, :6], 255)
    np.testing.assert_array_equal(grid[:, 6:], 255)
    assert style_example.column_l2([[a, b], [b, b]], reference=1) == [2.0, 0.0]


def test_non_empty_work_directory_is_refused(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    proc = run_script(tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "mixed_style_pipeline: error: %s is not empty" % tmp_path


def test_pipeline_end_to_end_at_tiny_sizes(tmp_path):
    work = tmp_path / "work"
    proc = run_script(work)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "mixed_style_pipeline: done" in proc.stdout

    # 1: the style images are the network's images with the hue turned, and the dataset holds them
    generated = sorted(glob.glob(str(work / "images" / "*-generate-images" / "seed*.png")))
    styled = sorted(glob.glob(str(work / "style-images" / "*.png")))
    assert [os.path.basename(p) for p in styled] == ["seed%04d.png" % s for s in range(8)]
    assert [os.path.basename(p) for p in generated] == [os.path.basename(p) for p in styled]
    for g, s in zip(generated, styled):
        np.testing.assert_array_equal(preprocess.read_rgb(s), style_example.rotate_hue(preprocess.read_rgb(g), 180))
    reals = np.concatenate([x for x, _ in datasets.open_dataset(str(work / "style.zip")).iterate_uint8(8)])
    assert reals.shape[0] == 8

    # 2, 3: the fine-tuned snapshot and the blended network load and keep the default network's shape
    finetuned = sg.load_network(only(str(work / "finetune" / "*" / "network-snapshot-*.pkl"))).G_ema
    blended_dir = only(str(work / "blend" / "*-blend-networks"))
    blended = sg.load_network(os.path.join(blended_dir, "network")).G_ema
    for G in (finetuned, blended):
        assert (G.img_resolution, G.num_ws, G.w_dim) == (32, 8, 128)
    assert os.path.isfile(os.path.join(blended_dir, "preview.png"))

    # 4: training and held-out pairs from the original and the blended network
    for kind, seeds in (("pairs", range(16)), ("held-out", range(100, 104))):
        run_dir = only(str(work / kind / "*-generate-pairs"))
        with open(os.path.join(run_dir, "pairs.json")) as f:
            record = json.load(f)
        assert os.path.realpath(record["network_b"]) == os.path.realpath(os.path.join(blended_dir, "network"))
        assert [p["seed"] for p in record["pairs"]] == list(seeds)
        for p in record["pairs"]:
            assert np.shape(p["w"]) == (128,)
            for name in (p["source"], p["target"]):
                assert preprocess.read_rgb(os.path.join(run_dir, name)).shape == (32, 32, 3)

    # 5: the encoder checkpoint loads and encodes
    checkpoint = only(str(work / "encoder" / "*-encoder-*" / "checkpoints" / "iteration_3.pt"))
    psp = sg.load_encoder(checkpoint)
    assert psp.encode(np.zeros([1, 32, 32, 3], np.uint8)).shape == (1, 8, 128)

    # 6: one reconstruction per held-out image, and the grid: 4 rows x 3 columns of 32 px tiles x 4
    assert len(glob.glob(str(work / "encode" / "*-encode" / "*-reconstruction.png"))) == 4
    grid = preprocess.read_rgb(str(work / "grid.png"))
    assert grid.shape == (4 * 128, 3 * 128, 3)
    assert "grid              %s" % (work / "grid.png") in proc.stdout
