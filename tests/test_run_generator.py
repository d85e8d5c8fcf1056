"""run_generator.py against the fixtures: generate-images, style-mixing-example, mix-latents,
generate-from-latents, blend-networks, the latent files, and the bad-input errors.

The apps run in-process (`run_app`) except the README quick start and one dashed-flag error,
which run as real subprocesses. Every comparison with NVIDIA's outputs runs on the reference ops
and on the custom ops (`impl`); PNGs are compared by `assert_uint8_close` over the whole batch.
"""

import functools
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

import tf_stylegan2 as sg
from conftest import (assert_uint8_close, fixture_path, load_fixture_networks, load_reference, official_uint8, read_png,
                      run_dir_of, run_in_process)
from tf_stylegan2 import converted, generation, latents
from tf_stylegan2.apps import run_generator
from tf_stylegan2.networks import Generator, MappingNetwork, SynthesisNetwork

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


run_app = functools.partial(run_in_process, run_generator)  # `run_generator.py <args>` -> exit status


def seeds_arg(seeds):
    return ",".join(str(int(s)) for s in seeds)


@pytest.mark.parametrize("convention", ["seeded_psi0.5_defaults", "const_psi1", "none_psi1"])
def test_generate_images_match_reference(fixture_name, ref, tmp_path, convention, impl):
    args = ["generate-images", "--network", fixture_path(fixture_name), "--seeds", seeds_arg(ref["seeds"]),
            "--result-dir", tmp_path, "--batch-size", 3]
    if convention == "const_psi1":
        args += ["--truncation-psi=1", "--noise-mode=const"]
        expected = ref["img_psi1_uint8_nhwc"]
    elif convention == "none_psi1":
        args += ["--truncation_psi=1", "--noise_mode=none"]
        expected = official_uint8(ref["img_psi1_noise_none"])
    else:
        expected = official_uint8(ref["img_psi0.5_tf_seeded_noise"])
    assert run_app(*args) == 0
    out = run_dir_of(tmp_path)
    assert os.path.basename(out) == "00000-generate-images"
    assert sorted(os.listdir(out)) == sorted("seed%04d.png" % s for s in ref["seeds"])
    assert_uint8_close([read_png(os.path.join(out, "seed%04d.png" % seed)) for seed in ref["seeds"]], expected)


def test_generate_images_from_saved_model(tmp_path, capsys):
    """A SavedModel directory as --network: const noise works, seeded noise is a one-line error."""
    from tf_stylegan2.export.saved_model import export_saved_model
    export_saved_model(load_fixture_networks("orig").G_ema, str(tmp_path / "saved_model"))
    ref = load_reference("orig")
    seeds, expected = ref["seeds"], ref["img_psi1_uint8_nhwc"]
    args = ["generate-images", "--network", tmp_path / "saved_model", "--seeds", seeds_arg(seeds),
            "--result-dir", tmp_path / "results"]
    assert run_app(*args) == 1
    assert "seeded noise needs a Keras network" in capsys.readouterr().err
    assert run_app(*(args + ["--noise-mode", "const", "--truncation-psi", "1"])) == 0
    out = run_dir_of(tmp_path / "results")
    assert_uint8_close([read_png(os.path.join(out, "seed%04d.png" % seed)) for seed in seeds], expected)


def test_style_mixing_tiles_and_grid_match_reference(fixture_name, ref, tmp_path, impl):
    rows, cols = ref["mix_row_seeds"], ref["mix_col_seeds"]
    assert run_app("style-mixing-example", "--network", fixture_path(fixture_name), "--row_seeds", seeds_arg(rows),
                   "--col_seeds", seeds_arg(cols), "--col_styles", seeds_arg(ref["mix_col_styles"]),
                   "--truncation_psi", 1, "--result_dir", tmp_path) == 0
    out = run_dir_of(tmp_path)
    assert os.path.basename(out) == "00000-style-mixing-example"
    expected = official_uint8(ref["mix_img"].reshape((-1,) + ref["mix_img"].shape[2:]))
    tiles = {(r, c): read_png(os.path.join(out, "%d-%d.png" % (r, c))) for r in rows for c in cols}
    assert_uint8_close([tiles[(r, c)] for r in rows for c in cols], expected)
    for s in list(rows) + list(cols):
        tiles[(s, s)] = read_png(os.path.join(out, "%d-%d.png" % (s, s)))
    assert len(os.listdir(out)) == len(rows) * len(cols) + len(set(rows) | set(cols)) + 1

    grid = read_png(os.path.join(out, "grid.png"))
    h, w, ch = tiles[(rows[0], rows[0])].shape
    assert grid.shape == (h * (len(rows) + 1), w * (len(cols) + 1), ch)
    cell = lambda i, j: grid[i * h:(i + 1) * h, j * w:(j + 1) * w]
    assert not cell(0, 0).any()
    for j, c in enumerate(cols):
        np.testing.assert_array_equal(cell(0, j + 1), tiles[(c, c)])
    for i, r in enumerate(rows):
        np.testing.assert_array_equal(cell(i + 1, 0), tiles[(r, r)])
        for j, c in enumerate(cols):
            np.testing.assert_array_equal(cell(i + 1, j + 1), tiles[(r, c)])


def test_style_mixing_default_psi_and_run_numbering(tmp_path, impl):
    """Defaults of the original: psi 0.5, const noise. With every style from the column, tile
    row-col is the column seed's image: all three PNGs are NVIDIA's psi-0.5 images. A second run
    gets the next number."""
    ref = load_reference("orig")
    (row, col), expected = ref["seeds"][:2], official_uint8(ref["img_psi0.5"][:2])
    args = ["style-mixing-example", "--network", fixture_path("orig"), "--row-seeds", row, "--col-seeds", col,
            "--col-styles", "0-%d" % (ref["w_psi1"].shape[1] - 1), "--result-dir", tmp_path]
    assert run_app(*args) == 0
    assert run_app(*args) == 0
    assert sorted(os.listdir(tmp_path)) == ["00000-style-mixing-example", "00001-style-mixing-example"]
    out = os.path.join(str(tmp_path), "00001-style-mixing-example")
    tiles = [read_png(os.path.join(out, "%d-%d.png" % pair)) for pair in [(row, row), (col, col), (row, col)]]
    assert_uint8_close(tiles, expected[[0, 1, 1]])


def test_class_labels_of_a_conditional_network():
    keras.utils.set_random_seed(5)
    G = Generator(MappingNetwork(z_dim=8, c_dim=3, w_dim=8, num_ws=4, num_layers=1, layer_features=8, name="mapping"),
                  SynthesisNetwork(w_dim=8, img_resolution=8, fmap_base=32, fmap_max=8, name="synthesis"))
    np.testing.assert_array_equal(generation.class_labels(G, 2, 2), [[0, 0, 1], [0, 0, 1]])
    for class_idx, message in [(None, "conditional: pass --class"), (3, "classes 0-2")]:
        with pytest.raises(ValueError, match=message):
            generation.class_labels(G, class_idx, 1)
    (_, by_class), = generation.render_seeds(G, [7, 7], noise_mode="const", class_idx=1, batch_size=2)
    (_, other_class), = generation.render_seeds(G, [7], noise_mode="const", class_idx=0)
    np.testing.assert_array_equal(by_class[0], by_class[1])
    assert not np.array_equal(by_class[0], other_class[0])


@pytest.fixture
def latent_files(ref, tmp_path):
    """The reference w of the first two seeds as `.npy` [num_ws, w_dim] and ADA-style `.npz` [1, num_ws, w_dim]."""
    w = ref["w_psi1"]
    np.save(str(tmp_path / "a.npy"), w[0])
    np.savez(str(tmp_path / "b.npz"), w=w[1:2])
    return str(tmp_path / "a.npy"), str(tmp_path / "b.npz"), w[0], w[1]


@pytest.mark.parametrize("weights", ["1", "0", "0.5", "1,1,0"])
def test_mix_latents(fixture_name, ref, latent_files, tmp_path, weights, impl):
    """src1/src2 are NVIDIA's images of the two reference latents; dst their mix."""
    path1, path2, w1, w2 = latent_files
    result = tmp_path / "results"
    assert run_app("mix-latents", "--network", fixture_path(fixture_name), "--latent1", path1, "--latent2", path2,
                   "--weights", weights, "--result-dir", result) == 0
    out = run_dir_of(result)
    mixed = np.load(os.path.join(out, "dst.mixing.npy"))
    images = {name: read_png(os.path.join(out, name + ".mixing.png")) for name in ("src1", "src2", "dst")}
    assert_uint8_close([images["src1"], images["src2"]], official_uint8(ref["img_psi1"][:2]))
    if weights in ("1", "0"):
        source = w1 if weights == "1" else w2
        np.testing.assert_array_equal(mixed, source)
        np.testing.assert_array_equal(images["dst"], images["src1" if weights == "1" else "src2"])
    else:
        t = np.array([float(v) for v in weights.split(",")])
        t = np.concatenate([t, np.repeat(t[-1], w1.shape[0] - len(t))])[:, None]
        np.testing.assert_allclose(mixed, w1 * t + w2 * (1 - t), rtol=0, atol=1e-6)
        G = load_fixture_networks(fixture_name).G_ema
        direct = generation.render_ws(G, (w1 * t + w2 * (1 - t))[None].astype(np.float32), "const")[0]
        assert_uint8_close(images["dst"], direct)
    grid = read_png(os.path.join(out, "grid.png"))
    np.testing.assert_array_equal(grid, np.concatenate([images["src1"], images["dst"], images["src2"]], axis=1))


def test_generate_from_latents(tmp_path, impl):
    ref = load_reference("orig")
    w, img = ref["w_psi0.5"], ref["img_psi0.5"]
    np.save(str(tmp_path / "one.npy"), w[0])
    np.savez(str(tmp_path / "projected_w.npz"), w=w[1:3])
    result = tmp_path / "results"
    assert run_app("generate-from-latents", "--network", fixture_path("orig"), "--latents",
                   "%s,%s" % (tmp_path / "one.npy", tmp_path / "projected_w.npz"), "--result-dir", result) == 0
    out = run_dir_of(result)
    names = ["one.png", "projected_w-00.png", "projected_w-01.png"]
    assert sorted(os.listdir(out)) == names
    assert_uint8_close([read_png(os.path.join(out, name)) for name in names], official_uint8(img[:3]))


def test_generate_from_latents_with_a_noise_file(tmp_path, impl):
    """A projector-style `noise.npz` replaces the stored noise. The noise file holds the TF1
    seeded noise of the reference seeds (drawn after z from `RandomState(seed)`), so each PNG is
    NVIDIA's `img_psi1_tf_seeded_noise` image, not the stored-noise one."""
    G = load_fixture_networks("orig").G_ema
    ref = load_reference("orig")
    result = tmp_path / "results"
    for i in range(2):
        _, noise = sg.seeded_noise(int(ref["seeds"][i]), G.z_dim, G.synthesis.num_noise)
        latents.save_noise(str(tmp_path / ("noise%d.npz" % i)), noise)
        np.save(str(tmp_path / ("w%d.npy" % i)), ref["w_psi1"][i])
        assert run_app("generate-from-latents", "--network", fixture_path("orig"), "--latents",
                       tmp_path / ("w%d.npy" % i), "--noise-file", tmp_path / ("noise%d.npz" % i),
                       "--result-dir", result) == 0
    pngs = [read_png(os.path.join(str(result), "%05d-generate-from-latents" % i, "w%d.png" % i)) for i in range(2)]
    assert_uint8_close(pngs, official_uint8(ref["img_psi1_tf_seeded_noise"][:2]))
    assert np.abs(pngs[0].astype(int) - ref["img_psi1_uint8_nhwc"][0]).max() > 1


def test_blend_networks_switch_extremes(tmp_path):
    """The fixture's training G stands in for a fine-tune of G_ema (same architecture, other weights)."""
    nets = load_fixture_networks("orig")
    high_dir = tmp_path / "high"
    high_dir.mkdir()
    converted.save(nets._replace(G_ema=nets.G), str(high_dir))
    z = np.random.RandomState(0).randn(9, nets.G_ema.z_dim)
    for resolution, level in [(16, 1), (4, 0)]:
        result = tmp_path / ("results%d" % resolution)
        assert run_app("blend-networks", "--network", fixture_path("orig"), "--high-res-network", high_dir,
                       "--resolution", resolution, "--level", level, "--result-dir", result) == 0
        out = run_dir_of(result)
        blended = sg.load_network(os.path.join(out, "network"))
        assert blended.D.get_config() == nets.D.get_config()
        weights = blended.G_ema.official_weights()
        for name, (var, _) in nets.G_ema.official_weights().items():
            # lowest switch: every layer from 8x8 on; 4x4 Const/Conv, mapping, w_avg, noise stay
            from_high = resolution == 4 and re.match(r"synthesis/(8x8|16x16)/", name)
            source = nets.G.official_weights()[name][0] if from_high else var
            np.testing.assert_array_equal(weights[name][0].numpy(), source.numpy(), err_msg=name)
        preview = read_png(os.path.join(out, "preview.png"))
        r = nets.G_ema.img_resolution
        assert preview.shape == (3 * r, 9 * r, 3)
        base_row = generation.render_ws(nets.G_ema, nets.G_ema.mapping(z), "const")
        np.testing.assert_array_equal(preview[:r], np.concatenate(base_row, axis=1))
        if resolution == 16:
            np.testing.assert_array_equal(preview[2 * r:], preview[:r])


def test_latent_files_round_trip(tmp_path):
    w = np.random.RandomState(1).randn(2, 6, 128).astype(np.float32)
    one = latents.save_latents(str(tmp_path / "one"), w[:1])
    assert one.endswith("one.npy") and np.load(one).shape == (6, 128)
    both = latents.save_latents(str(tmp_path / "both.npz"), w)
    np.testing.assert_array_equal(latents.load_latents(one, 6, 128), w[:1])
    np.testing.assert_array_equal(latents.load_latents(both, 6, 128), w)
    np.save(str(tmp_path / "batch1.npy"), w[:1])
    np.testing.assert_array_equal(latents.load_latents(str(tmp_path / "batch1.npy"), 6, 128), w[:1])
    with pytest.raises(ValueError, match=r"\[6, 128\]"):
        latents.load_latents(one, 8, 128)
    np.savez(str(tmp_path / "other.npz"), dlatents=w)
    with pytest.raises(ValueError, match="no array 'w'"):
        latents.load_latents(str(tmp_path / "other.npz"), 6, 128)
    np.save(str(tmp_path / "objects.npy"), np.array([{"w": 1}], dtype=object))
    with pytest.raises(ValueError, match="not a .npy/.npz latent file"):
        latents.load_latents(str(tmp_path / "objects.npy"), 6, 128)


def test_mix_latents_weights():
    w1, w2 = np.ones([1, 4, 2], np.float32), np.zeros([1, 4, 2], np.float32)
    np.testing.assert_array_equal(generation.mix_latents(w1, w2, [1, 0.25])[0, :, 0], [1, 0.25, 0.25, 0.25])
    with pytest.raises(ValueError, match="1 to 4 layer weights"):
        generation.mix_latents(w1, w2, [1] * 5)
    with pytest.raises(ValueError, match="latent shapes differ"):
        generation.mix_latents(w1, np.zeros([1, 3, 2]), [1])


def _bad_input_cases(tmp_path):
    public_latent = str(tmp_path / "public.npy")
    np.save(public_latent, np.zeros([8, 512], np.float32))
    orig = fixture_path("orig")
    return [
        (["generate-images", "--network", orig, "--seeds", "1-x"], "bad seed"),
        (["generate-images", "--network", orig, "--seeds", "5-2"], "end before start"),
        (["generate-images", "--network", orig], "--seeds required"),
        (["generate-images", "--network", orig, "--seeds", "1", "--class", "0"], "unconditional"),
        (["generate-images", "--network", str(tmp_path / "missing.pkl"), "--seeds", "1"], "missing.pkl"),
        (["style-mixing-example", "--network", orig, "--row-seeds", "1", "--col-seeds", "2"],
         "style indices [6] out of range"),
        (["style-mixing-example", "--network", orig, "--row-seeds", "1", "--col-seeds", "2", "--noise-mode", "seeded"],
         "generate-images only"),
        (["mix-latents", "--network", orig, "--latent1", public_latent, "--latent2", public_latent],
         "this network needs [6, 128]"),
        (["mix-latents", "--network", orig, "--latent1", str(tmp_path / "nope.npy"), "--latent2", public_latent],
         "nope.npy"),
        (["blend-networks", "--network", orig, "--high-res-network", fixture_path("public"), "--resolution", "8"],
         "not compatible"),
        (["blend-networks", "--network", orig, "--high-res-network", orig, "--resolution", "32"],
         "above the networks' resolution"),
        (["generate-images", "--network", orig, "--seeds", "1", "--noise-mode", "loud"], "noise_mode"),
        (["generate-from-latents", "--network", orig, "--latents", public_latent, "--noise-file", public_latent],
         "not a .npz noise file"),
        (["paint", "--network", orig], "expected one subcommand"),
    ]


def test_bad_inputs_one_line_error_no_output(tmp_path, capsys):
    result = tmp_path / "results"
    for args, message in _bad_input_cases(tmp_path):
        capsys.readouterr()
        assert run_app(*(args + ["--result-dir", result])) in (1, 2), args
        err_lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert len(err_lines) == 1 and message in err_lines[0], (args, err_lines)
        assert err_lines[0].startswith("run_generator.py: error: ")
        assert not result.exists() or not os.listdir(str(result)), args


def _subprocess(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, os.path.join(REPO, "run_generator.py")] + args, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_style_mixing_subprocess_matches_nvidia(tmp_path, impl):
    """The README's style-mixing seeds on the public fixture with the default col-styles: they
    include the reference `mix_*` seeds and `mix_col_styles`, so those tiles (and the diagonal of
    seeds NVIDIA rendered) are checked against NVIDIA's images."""
    ref = load_reference("public")
    proc = _subprocess(["style-mixing-example", "--network=" + fixture_path("public"),
                        "--row-seeds=85,100,75,458,1500", "--col-seeds=55,821,1789,293", "--truncation-psi=1.0"],
                       cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "results" / "00000-style-mixing-example"
    assert len(os.listdir(str(out))) == 5 * 4 + 9 + 1
    assert read_png(str(out / "grid.png")).shape == (32 * 6, 32 * 5, 3)
    assert list(ref["mix_col_styles"]) == list(range(7))
    pairs = [(r, c) for r in ref["mix_row_seeds"] for c in ref["mix_col_seeds"]]
    diagonal = [s for s in (85, 100, 458) if s in ref["seeds"]]
    tiles = [read_png(str(out / ("%d-%d.png" % pair))) for pair in pairs + [(s, s) for s in diagonal]]
    seed_index = [list(ref["seeds"]).index(s) for s in diagonal]
    expected = np.concatenate([official_uint8(ref["mix_img"].reshape((-1,) + ref["mix_img"].shape[2:])),
                               ref["img_psi1_uint8_nhwc"][seed_index]])
    assert len(diagonal) == 3 and len(pairs) == 6
    assert_uint8_close(tiles, expected)


def test_dashed_flag_bad_input_subprocess(tmp_path):
    proc = _subprocess(["generate-images", "--network=" + fixture_path("orig"), "--seeds=3-1",
                        "--truncation-psi=1"], cwd=str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == "run_generator.py: error: bad seed range '3-1': end before start"
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()
