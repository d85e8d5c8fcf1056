"""Sources without G and D (a rosinality file of `g_ema` + `latent_avg`, the form models such as
toonify.pt are shared in) through the converter: the converted directory records only G_ema, its
SavedModel serves the same images, loading gives None for G and D, and an official pickle (always
the full (G, D, Gs) triple) is refused in one line."""

import json
import os

import numpy as np
import pytest

import psp_fixture
import tf_stylegan2 as sg
from conftest import DATA, nhwc
from tf_stylegan2 import converted
from tf_stylegan2.apps import convert_pkl
from tf_stylegan2.export.convert import SAVED_MODEL_DIR, convert_network
from tf_stylegan2.export.served import SavedModelGenerator
from tf_stylegan2.official.torch_pickle import load_torch_file

ROS = os.path.join(DATA, "rosinality")
REF = dict(np.load(os.path.join(ROS, "reference.npz")))
TOL = 1e-4  # rosinality's own images (test_rosinality's tolerance) and the SavedModel vs Keras


@pytest.fixture(scope="module")
def g_ema_only(tmp_path_factory):
    """(path of a g_ema + latent_avg .pt written from the fixture, the fixture's G_ema)."""
    full = sg.load_network(os.path.join(ROS, "checkpoint-legacy.pt"))
    path = str(tmp_path_factory.mktemp("partial") / "g_ema_only.pt")
    sg.save_rosinality(sg.Networks(G=None, D=None, G_ema=full.G_ema), path)
    return path, full.G_ema


@pytest.fixture(scope="module")
def converted_dir(g_ema_only, tmp_path_factory):
    """The converter app's output for the g_ema-only file (with --verify)."""
    out = str(tmp_path_factory.mktemp("converted") / "out")
    assert psp_fixture.run_app(convert_pkl, "--network", g_ema_only[0], "--output_dir", out, "--verify", "2") == 0
    return out


def _images(G, z):
    G.execution = "eager"  # a 32 px net and one call: tracing would cost more than it saves
    return G.synthesis(G.mapping(z), noise_mode="const").numpy()


def test_the_file_holds_g_ema_and_latent_avg_only_and_loads_without_g_and_d(g_ema_only):
    path, G_ema = g_ema_only
    assert sorted(load_torch_file(path)) == ["g_ema", "latent_avg"]
    nets = sg.load_network(path)
    assert nets.G is None and nets.D is None
    np.testing.assert_array_equal(_images(nets.G_ema, REF["z"]), _images(G_ema, REF["z"]))


def test_converted_directory_records_g_ema_only_and_reloads_the_same_network(g_ema_only, converted_dir):
    assert sorted(os.listdir(converted_dir)) == ["G_ema.weights.h5", "config.json", SAVED_MODEL_DIR]
    with open(os.path.join(converted_dir, "config.json")) as f:
        assert list(json.load(f)["networks"]) == ["G_ema"]
    nets = sg.load_network(converted_dir)
    assert nets.G is None and nets.D is None
    np.testing.assert_array_equal(nets.G_ema.mapping.w_avg.numpy(), REF["latent_avg"])
    images = _images(nets.G_ema, REF["z"])
    np.testing.assert_array_equal(images, _images(g_ema_only[1], REF["z"]))
    assert np.abs(images - nhwc(REF["img_psi1"])).max() < TOL  # rosinality's own model.py


def test_saved_model_of_the_g_ema_only_file_serves_the_same_images(g_ema_only, converted_dir):
    served = sg.load_network(os.path.join(converted_dir, SAVED_MODEL_DIR))
    assert isinstance(served.G_ema, SavedModelGenerator) and served.G is None and served.D is None
    w = served.G_ema.mapping(REF["z"], truncation_psi=0.7)
    expected_w = g_ema_only[1].mapping(REF["z"], truncation_psi=0.7).numpy()
    assert np.abs(np.asarray(w) - expected_w).max() < TOL
    images = np.asarray(served.G_ema.synthesis(expected_w, noise_mode="const"))
    G = g_ema_only[1]
    G.execution = "eager"
    assert np.abs(images - G.synthesis(expected_w, noise_mode="const").numpy()).max() < TOL


def test_converting_a_saved_model_is_refused_by_name(converted_dir, tmp_path):
    source = os.path.join(converted_dir, SAVED_MODEL_DIR)
    with pytest.raises(ValueError, match="is a SavedModel: convert from the pickle"):
        convert_network(source, str(tmp_path / "again"), saved_model=False)
    assert not os.path.exists(tmp_path / "again")


def test_official_pickle_of_g_ema_only_is_refused_in_one_line(g_ema_only, tmp_path):
    nets = sg.load_network(g_ema_only[0])
    with pytest.raises(ValueError, match=r"holds G, D and Gs .* no G or D") as err:
        sg.save_pickle(nets, str(tmp_path / "out.pkl"))
    assert "\n" not in str(err.value)
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="no D"):
        sg.save_pickle(nets._replace(G=nets.G_ema), str(tmp_path / "out.pkl"))


@pytest.mark.parametrize("networks, message", [
    ({"G": {}}, "must describe G_ema and optionally G and D, got \\['G'\\]"),
    ({"G_ema": {}, "E": {}}, "got \\['E', 'G_ema'\\]"),
    ([], "got list"),
    ({"G_ema": None}, "the entry of G_ema is not an object"),
])
def test_malformed_network_lists_are_refused(tmp_path, networks, message):
    (tmp_path / "config.json").write_text(json.dumps(dict(format=converted.FORMAT, version=converted.VERSION,
                                                          networks=networks)))
    with pytest.raises(sg.NetworkPickleError, match=message):
        sg.load_network(str(tmp_path))
