"""Latent editing (`tf_stylegan2.editing`) and `run_generator.py sefa` / `edit-latents` on the
`public` fixture (32x32, 8 ws, 7 modulated convs): SeFa against NumPy's SVD of the style weights
gathered by their official names, edits, direction files, the apps' outputs and one-line errors.
"""

import functools
import os

import numpy as np
import pytest

from conftest import (assert_uint8_close, fixture_path, load_fixture_networks, load_reference, official_uint8, read_png,
                      run_dir_of, run_in_process)
from tf_stylegan2 import editing, generation, latents
from tf_stylegan2.apps import run_generator

# official scopes of the modulated convs, in the order of the w index they read
CONV_SCOPES = ["4x4/Conv", "8x8/Conv0_up", "8x8/Conv1", "16x16/Conv0_up", "16x16/Conv1", "32x32/Conv0_up",
               "32x32/Conv1"]


@pytest.fixture(scope="module")
def G():
    return load_fixture_networks("public").G_ema


def numpy_sefa(G, scopes):
    """SVD of the `mod_weight`s found by official name -> (sign-normalised Vt, singular values, rows)."""
    weights = G.synthesis.official_weights()
    W = np.concatenate([np.asarray(weights[s + "/mod_weight"][0], np.float64).T for s in scopes])
    _, s, vt = np.linalg.svd(W, full_matrices=False)
    flip = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    return vt * flip[:, None], s, W.shape[0]


@pytest.mark.parametrize("layers, scopes", [(None, CONV_SCOPES), ("coarse", CONV_SCOPES[:4]),
                                            ([2, 5, 6], [CONV_SCOPES[i] for i in (2, 5, 6)])])
def test_sefa_equals_numpy_svd_of_the_stacked_style_weights(G, layers, scopes):
    directions, singular_values = editing.sefa_directions(G, layers)
    expected, s, rows = numpy_sefa(G, scopes)
    assert editing.style_weight_matrix(G, layers).shape == (rows, G.w_dim)  # no ToRGB rows
    assert directions.shape == (min(rows, G.w_dim), G.w_dim) and directions.dtype == np.float32
    np.testing.assert_allclose(singular_values, s, rtol=1e-5)
    np.testing.assert_allclose(directions, expected, atol=1e-5)


def test_sefa_directions_are_orthonormal_and_ordered(G):
    directions, singular_values = editing.sefa_directions(G)
    np.testing.assert_allclose(directions @ directions.T, np.eye(len(directions)), atol=1e-5)
    assert np.all(np.diff(singular_values) <= 0) and singular_values[-1] > 0
    peaks = directions[np.arange(len(directions)), np.argmax(np.abs(directions), axis=1)]
    assert np.all(peaks > 0)


def test_edit_degree_zero_reproduces_the_unedited_image_exactly(G):
    ref = load_reference("public")
    ws = ref["w_psi0.5"]
    direction = editing.sefa_directions(G)[0][0]
    edited = editing.edit(ws, direction, 0.0)
    assert np.array_equal(edited, ws)
    images = generation.render_ws(G, ws)
    np.testing.assert_array_equal(generation.render_ws(G, edited), images)
    assert_uint8_close(images, official_uint8(ref["img_psi0.5"]))  # and that image is NVIDIA's


def test_edit_moves_only_the_chosen_layers_by_degree_times_direction(G):
    ws = load_reference("public")["w_psi1"][:2]
    direction = editing.sefa_directions(G)[0][3]
    edited = editing.edit(ws, direction, 2.5, layers="middle")
    np.testing.assert_array_equal(edited[:, :4], ws[:, :4])
    np.testing.assert_allclose((edited[:, 4:] - ws[:, 4:]) @ direction, 2.5, rtol=1e-5)
    per_layer = np.arange(G.num_ws, dtype=np.float32)[:, None] * direction  # [num_ws, w_dim]
    np.testing.assert_allclose(editing.edit(ws, per_layer, 1.0) - ws, np.broadcast_to(per_layer, ws.shape),
                               atol=1e-5)


@pytest.mark.parametrize("index", [0, 5])
def test_moving_along_a_direction_changes_the_image_monotonically_in_its_own_projection(G, index):
    """The image change `I(d) - I(0)` projected on the direction's image-space tangent
    `I(+h) - I(-h)` grows strictly with the degree d."""
    w = load_reference("public")["w_psi1"][:1]
    direction = editing.sefa_directions(G)[0][index]
    degrees = np.linspace(-3, 3, 13)
    images = np.concatenate([G.synthesis(editing.edit(w, direction, d)).numpy() for d in degrees])
    h = 0.05
    tangent = (G.synthesis(editing.edit(w, direction, h)).numpy() - G.synthesis(editing.edit(w, direction, -h)).numpy())
    projection = np.tensordot(images - images[len(degrees) // 2], tangent[0], axes=3)
    assert np.all(np.diff(projection) > 0), projection
    assert np.abs(images - images[len(degrees) // 2]).max() > 0.05  # a visible change, not a no-op


def test_layer_indices():
    assert editing.layer_indices("coarse", 8) == [0, 1, 2, 3]
    assert editing.layer_indices("middle", 8) == [4, 5, 6, 7]
    assert editing.layer_indices("fine", 18) == list(range(8, 18))
    assert editing.layer_indices(None, 3) == [0, 1, 2]
    assert editing.layer_indices([3, 1, 3], 8) == [1, 3]
    for layers, message in [("fine", "empty"), ("sky", "unknown layer group"), ([8], "out of range"),
                            ([], "no layers")]:
        with pytest.raises(ValueError, match=message):
            editing.layer_indices(layers, 8)


def test_load_directions_file_forms(tmp_path):
    rows = np.random.RandomState(0).randn(3, 512).astype(np.float32)
    editing.save_sefa(str(tmp_path / "sefa.npz"), rows, [3, 2, 1])
    np.save(tmp_path / "rows.npy", rows)
    np.save(tmp_path / "one.npy", rows[1])
    np.savez(tmp_path / "named.npz", age=rows[0], smile=rows[1:2], pose=np.tile(rows[2], [8, 1]))
    sefa = editing.load_directions(str(tmp_path / "sefa.npz"))
    assert list(sefa) == [0, 1, 2] and np.array_equal(editing.select_direction(sefa, "2"), rows[2])
    assert np.array_equal(editing.select_direction(editing.load_directions(str(tmp_path / "rows.npy")), 1), rows[1])
    assert list(editing.load_directions(str(tmp_path / "one.npy"))) == [0]
    named = editing.load_directions(str(tmp_path / "named.npz"))
    assert editing.check_direction(named["smile"], 8, 512).shape == (512,)
    assert editing.check_direction(named["pose"], 8, 512).shape == (8, 512)
    with pytest.raises(ValueError, match="out of range: the file has directions 0-2"):
        editing.select_direction(sefa, 3)
    with pytest.raises(ValueError, match="no direction 'gender': the file has age, smile, pose"):
        editing.select_direction(named, "gender")
    with pytest.raises(ValueError, match=r"shape \[100\]; this network needs \[512\] or \[8, 512\]"):
        editing.check_direction(np.zeros(100, np.float32), 8, 512)
    np.save(tmp_path / "dict.npy", np.array({"age": rows[0]}, dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="Python objects, which are not loaded"):
        editing.load_directions(str(tmp_path / "dict.npy"))


run_app = functools.partial(run_in_process, run_generator)  # `run_generator.py <args>` -> exit status


def test_sefa_app_writes_the_directions(G, tmp_path):
    out = tmp_path / "new" / "d.npz"
    assert run_app("sefa", "--network", fixture_path("public"), "--layers", "0-3", "--out", out) == 0
    with np.load(out) as f:
        directions, singular_values = editing.sefa_directions(G, "coarse")
        np.testing.assert_array_equal(f["directions"], directions)
        np.testing.assert_array_equal(f["singular_values"], singular_values)
    assert run_app("sefa", "--network", fixture_path("public"), "--result-dir", tmp_path / "r") == 0
    assert os.listdir(run_dir_of(tmp_path / "r")) == ["directions.npz"]


def test_edit_latents_app_grid_images_and_latents(G, tmp_path):
    directions = tmp_path / "d.npz"
    editing.save_sefa(str(directions), *editing.sefa_directions(G))
    assert run_app("edit-latents", "--network", fixture_path("public"), "--seeds", "4,7", "--directions", directions,
                   "--direction", "1", "--degrees=-4,0,4", "--layers", "coarse", "--truncation-psi", "0.7",
                   "--result-dir", tmp_path / "r") == 0
    run_dir = run_dir_of(tmp_path / "r")
    ws = generation.seed_ws(G, [4, 7], 0.7)
    expected = np.stack([editing.edit(ws, editing.sefa_directions(G)[0][1], d, "coarse") for d in (-4, 0, 4)], 1)
    with np.load(os.path.join(run_dir, "edited_w.npz")) as f:
        np.testing.assert_allclose(f["w"], expected.reshape(6, G.num_ws, G.w_dim), atol=1e-6)
    images = generation.render_ws(G, expected.reshape(6, G.num_ws, G.w_dim)).reshape(2, 3, 32, 32, 3)
    grid = read_png(os.path.join(run_dir, "grid.png"))
    assert grid.shape == (64, 96, 3)
    np.testing.assert_array_equal(grid[32:, 64:], images[1, 2])
    np.testing.assert_array_equal(read_png(os.path.join(run_dir, "seed0007_degree-4.png")), images[1, 0])
    np.testing.assert_array_equal(read_png(os.path.join(run_dir, "seed0004_degree+0.png")),
                                  generation.render_ws(G, ws)[0])
    np.testing.assert_allclose(np.load(os.path.join(run_dir, "seed0004_degree+4.npy")), expected[0, 2], atol=1e-6)
    assert len(os.listdir(run_dir)) == 2 + 2 * 6


def test_edit_latents_paddlegan_form(G, tmp_path):
    w = load_reference("public")["w_psi0.5"][2]
    np.save(tmp_path / "dst.fitting.npy", w)
    age = np.random.RandomState(3).randn(G.num_ws, G.w_dim).astype(np.float32) * 0.3
    np.savez(tmp_path / "directions.npz", age=age, smile=age[0])
    assert run_app("edit-latents", "--network", fixture_path("public"), "--latent", tmp_path / "dst.fitting.npy",
                   "--direction_name", "age", "--direction_offset", "2", "--direction_path",
                   tmp_path / "directions.npz", "--result-dir", tmp_path / "r") == 0
    run_dir = run_dir_of(tmp_path / "r")
    assert sorted(os.listdir(run_dir)) == ["dst.editing.npy", "dst.editing.png", "grid.png", "src.editing.png"]
    dst = np.load(os.path.join(run_dir, "dst.editing.npy"))
    np.testing.assert_allclose(dst, w + 2 * age, atol=1e-6)
    np.testing.assert_array_equal(read_png(os.path.join(run_dir, "src.editing.png")),
                                  generation.render_ws(G, w[None])[0])
    np.testing.assert_array_equal(read_png(os.path.join(run_dir, "dst.editing.png")),
                                  generation.render_ws(G, dst[None])[0])


def test_edit_latents_named_files_and_latent_files(G, tmp_path):
    ws = load_reference("public")["w_psi1"][:3]
    latents.save_latents(str(tmp_path / "projected_w.npz"), ws[:2])
    latents.save_latents(str(tmp_path / "a.npy"), ws[2])
    np.save(tmp_path / "smile.npy", np.ones(G.w_dim, np.float32))
    assert run_app("edit-latents", "--network", fixture_path("public"), "--latents",
                   "%s,%s" % (tmp_path / "projected_w.npz", tmp_path / "a.npy"), "--directions",
                   "smile=%s" % (tmp_path / "smile.npy"), "--direction", "smile", "--degrees", "0.5",
                   "--layers", "7", "--result-dir", tmp_path / "r") == 0
    run_dir = run_dir_of(tmp_path / "r")
    for name, w in [("projected_w-00", ws[0]), ("projected_w-01", ws[1]), ("a", ws[2])]:
        edited = np.load(os.path.join(run_dir, name + "_degree+0.5.npy"))
        np.testing.assert_array_equal(edited[:7], w[:7])
        np.testing.assert_allclose(edited[7], w[7] + 0.5, atol=1e-6)


def test_bad_inputs_one_line_error_and_nothing_written(G, tmp_path, capsys):
    net = fixture_path("public")
    sefa_file = tmp_path / "d.npz"
    editing.save_sefa(str(sefa_file), *editing.sefa_directions(G))
    np.save(tmp_path / "short.npy", np.zeros(100, np.float32))
    np.save(tmp_path / "w.npy", np.zeros([G.num_ws, G.w_dim], np.float32))
    edit = ["edit-latents", "--network", net, "--seeds", "1"]
    cases = [
        (edit + ["--directions", sefa_file, "--direction", "336"], "direction 336 out of range: the file has "
                                                                    "directions 0-335"),
        (edit + ["--directions", tmp_path / "short.npy"], "shape [100]; this network needs [512] or [8, 512]"),
        (edit + ["--directions", sefa_file, "--layers", "sideways"], "unknown layer group 'sideways'"),
        (edit + ["--directions", sefa_file, "--layers", "fine"], "layer group 'fine' is empty"),
        (edit + ["--directions", sefa_file, "--layers", "0-8"], "layer indices [8] out of range"),
        (edit + ["--directions", sefa_file, "--degrees", "1,big"], "--degrees must be numbers"),
        (edit + ["--directions", sefa_file, "--degrees", "1,0,1.0"], "--degrees repeats a value: 1,0,1"),
        (edit + ["--directions", sefa_file, "--latents", tmp_path / "w.npy"], "exactly one of --seeds"),
        (edit + ["--directions", sefa_file, "--direction_path", sefa_file], "give --directions or --direction-path"),
        (edit + ["--directions", sefa_file, "--direction-offset", "3"], "--direction-offset goes with --latent"),
        (edit, "--directions (or --direction-path) required"),
        (edit + ["--directions", "name=%s" % sefa_file], "holds 336 directions; name=path takes a file with one"),
        (["sefa", "--network", net, "--layers", "7"], "layer indices [7] out of range: this network has layers 0-6"),
        (["sefa", "--network", net, "--layers", "bottom"], "unknown layer group 'bottom'"),
    ]
    result = tmp_path / "results"
    for args, message in cases:
        capsys.readouterr()
        assert run_app(*(args + ["--result-dir", result])) == 1, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("run_generator.py: error: ") and message in err[0], (args, err)
        assert not result.exists(), args
