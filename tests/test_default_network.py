"""The packaged default network (issue 15): loads with no argument, draws structured, diverse images,
and style mixing carries shape from the rows and colour from the columns."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import tf_stylegan2 as sg
from tf_stylegan2 import sources

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def G():
    return sg.load_network().G_ema


def test_default_network_is_a_small_official_pickle_in_the_package():
    assert sources.DEFAULT_NETWORK.startswith(os.path.join(ROOT, "tf_stylegan2", "pretrained"))
    assert os.path.getsize(sources.DEFAULT_NETWORK) <= 10 * 2 ** 20
    nets = sg.load_network()
    assert nets.G is not None and nets.D is not None
    assert (nets.G_ema.img_resolution, nets.G_ema.img_channels, nets.G_ema.c_dim) == (32, 3, 0)


def test_images_are_structured_and_differ_across_seeds(G):
    img = np.asarray(G(sg.z_from_seeds(range(16), G.z_dim), truncation_psi=1.0, noise_mode="const"))
    assert np.isfinite(img).all()
    assert img.std(axis=(1, 2, 3)).min() > 0.1  # no flat image
    distance = np.abs(img[:, None] - img[None]).mean(axis=(2, 3, 4))
    assert distance[~np.eye(16, dtype=bool)].min() > 0.1  # no two seeds alike
    assert img.mean(axis=(1, 2)).std(axis=0).mean() > 0.1  # colours vary across seeds


def _layout(img):
    """Mean-removed, normalised luminance at 8x8 `[N, 8, 8]`: shape and layout, not colour."""
    lum = img.mean(axis=-1)
    n, h, w = lum.shape
    lum = lum.reshape(n, 8, h // 8, 8, w // 8).mean(axis=(2, 4))
    lum = lum - lum.mean(axis=(1, 2), keepdims=True)
    return lum / (lum.std(axis=(1, 2), keepdims=True) + 1e-6)


def test_style_mixing_takes_layout_from_rows_and_colour_from_columns(G):
    """Fine layers (16 and 32 px) from the column: on average, a mixed image's layout is much closer to its
    row's and its mean colour much closer to its column's (measured: 0.34 vs 0.93 and 0.18 vs 0.38)."""
    w_row = G.mapping(sg.z_from_seeds(range(100, 116), G.z_dim), None)
    w_col = G.mapping(sg.z_from_seeds(range(200, 216), G.z_dim), None)
    mixed = np.asarray(G.style_mix(w_row, w_col, col_styles=range(4, G.num_ws)))
    row, col = np.asarray(G.synthesis(w_row)), np.asarray(G.synthesis(w_col))
    layout_row, layout_col = [np.abs(_layout(mixed) - _layout(x)).mean() for x in (row, col)]
    colour_row, colour_col = [np.abs(mixed.mean(axis=(1, 2)) - x.mean(axis=(1, 2))).mean() for x in (row, col)]
    assert layout_row < 0.6 * layout_col, (layout_row, layout_col)
    assert colour_col < 0.7 * colour_row, (colour_col, colour_row)


def test_readme_quick_start_needs_no_network_flag(tmp_path):
    """The README's quick-start command, as written there: the default network, 5 x 4 mixes."""
    r = subprocess.run([sys.executable, os.path.join(ROOT, "run_generator.py"), "style-mixing-example",
                        "--row-seeds=85,100,75,458,1500", "--col-seeds=55,821,1789,293", "--col-styles=4-7",
                        "--truncation-psi=1.0"], cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "results" / "00000-style-mixing-example"
    assert Image.open(out / "grid.png").size == (32 * 5, 32 * 6)
    tiles = [np.asarray(Image.open(out / ("%d-%d.png" % (row, col))))
             for row in (85, 100, 75, 458, 1500) for col in (55, 821, 1789, 293)]
    assert all(t.shape == (32, 32, 3) for t in tiles) and len({t.tobytes() for t in tiles}) == 20
