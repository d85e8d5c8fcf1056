"""Network blending (spec §8): layer positions, hard and soft switches, what is never blended; StyleGAN
(v1) networks with each other, never with StyleGAN2 ones; rosinality checkpoints with official pickles."""

import math
import os

import numpy as np
import pytest

import tf_stylegan2 as sg
from conftest import DATA, load_fixture_networks
from test_run_generator import run_app, run_dir_of
from tf_stylegan2 import blending
from tf_stylegan2.networks import Generator, MappingNetwork, SynthesisNetwork
from tf_stylegan2.stylegan1 import StyleGAN1Generator

V1_PICKLE = os.path.join(DATA, "stylegan1", "network-config-a.pkl")  # 64 px, G and G_ema differ everywhere
ROSINALITY_PT = os.path.join(DATA, "rosinality", "checkpoint-legacy.pt")  # 32 px: g_ema, g, d, latent_avg

# JP's positions for the orig fixture (16x16, architecture 'orig': one ToRGB, at 16x16).
ORIG_POSITIONS = {"4x4/Const": 0, "8x8/Conv0_up": 2, "8x8/Conv1": 3, "16x16/Conv0_up": 4, "16x16/Conv1": 5,
                  "16x16/ToRGB": 5}


def position_of(name):
    return next((p for layer, p in ORIG_POSITIONS.items() if name.startswith(layer + "/")), None)


@pytest.fixture(scope="module")
def low_high():
    """The orig fixture's G_ema and its training G: same architecture, every trainable weight differs."""
    nets = load_fixture_networks("orig")
    return nets.G_ema, nets.G


def values(G):
    return {name: var.numpy() for name, (var, _) in G.official_weights().items()}


@pytest.mark.parametrize("name, position", [
    ("4x4/Const/const", 0), ("4x4/ToRGB/bias", 1), ("8x8/Conv0_up/weight", 2), ("8x8/Conv1/mod_bias", 3),
    ("8x8/ToRGB/mod_weight", 3), ("32x32/Conv1/noise_strength", 7), ("1024x1024/ToRGB/weight", 17),
    ("4x4/Conv/weight", None), ("8x8/Skip/weight", None), ("noise3", None)])
def test_layer_position(name, position):
    assert blending.layer_position(name) == position


@pytest.mark.parametrize("name, position", [
    ("4x4/Const/Noise/weight", 0), ("4x4/Conv/weight", None), ("8x8/Conv0_up/StyleMod/weight", 2),
    ("64x64/Conv1/bias", 9), ("ToRGB_lod0/weight", 9), ("ToRGB_lod1/bias", 7), ("ToRGB_lod4/weight", 1),
    ("noise9", None)])
def test_stylegan1_layer_position(name, position):
    assert blending.layer_position(name, 64) == position


def test_stylegan1_torgb_position_needs_the_resolution():
    with pytest.raises(ValueError, match="ToRGB_lod0/weight needs the network's img_resolution"):
        blending.layer_position("ToRGB_lod0/weight")


def test_blend_factor():
    assert [blending.blend_factor(p, 4) for p in range(8)] == [0, 0, 0, 0, 0, 0, 1, 1]
    assert blending.blend_factor(4, 4, blend_width=2.0) == 0.5
    assert blending.blend_factor(6, 4, blend_width=2.0) == pytest.approx(1 / (1 + math.exp(-1)))
    assert blending.blend_factor(2, 4, blend_width=2.0) == pytest.approx(1 - 1 / (1 + math.exp(-1)))


@pytest.mark.parametrize("resolution, level", [(4, 0), (8, 1), (16, 0), (16, 1)])
def test_hard_switch(low_high, resolution, level):
    low, high = low_high
    before = values(low)
    blended = values(blending.blend_networks(low, high, resolution, level))
    mid = 2 * (int(math.log2(resolution)) - 2) + level
    low_v, high_v = values(low), values(high)
    for name, value in blended.items():
        p = position_of(name[len("synthesis/"):]) if name.startswith("synthesis/") else None
        source = high_v if p is not None and p >= mid + 2 else low_v
        np.testing.assert_array_equal(value, source[name], err_msg=name)
    for name, value in before.items():
        np.testing.assert_array_equal(low_v[name], value, err_msg="input changed: " + name)


def test_highest_switch_reproduces_low_images(low_high):
    low, high = low_high
    ws = low.mapping(np.random.RandomState(3).randn(2, low.z_dim)).numpy()
    blended = blending.blend_networks(low, high, low.img_resolution, 0)
    np.testing.assert_array_equal(blended.synthesis(ws).numpy(), low.synthesis(ws).numpy())
    lowest = blending.blend_networks(low, high, 4, 0)
    assert np.abs(lowest.synthesis(ws).numpy() - low.synthesis(ws).numpy()).max() > 0.01


def test_soft_switch(low_high):
    low, high = low_high
    blended = values(blending.blend_networks(low, high, 8, 0, blend_width=1.5))
    low_v, high_v = values(low), values(high)
    for name, value in blended.items():
        p = position_of(name[len("synthesis/"):]) if name.startswith("synthesis/") else None
        if p is None:
            np.testing.assert_array_equal(value, low_v[name], err_msg=name)
        else:
            y = 1 / (1 + math.exp(-(p - 2) / 1.5))
            np.testing.assert_allclose(value, y * high_v[name] + (1 - y) * low_v[name], rtol=1e-6, atol=1e-6,
                                       err_msg=name)


def _resnet_generator(seed):
    import keras
    keras.utils.set_random_seed(seed)
    return Generator(MappingNetwork(z_dim=8, w_dim=8, num_ws=4, num_layers=1, layer_features=8, name="mapping"),
                     SynthesisNetwork(w_dim=8, img_resolution=8, fmap_base=32, fmap_max=8, architecture="resnet",
                                      name="synthesis"))


def test_resnet_skip_is_not_blended():
    low, high = _resnet_generator(1), _resnet_generator(2)
    blended = values(blending.blend_networks(low, high, 4, 0))
    low_v, high_v = values(low), values(high)
    assert not np.array_equal(low_v["synthesis/8x8/Skip/weight"], high_v["synthesis/8x8/Skip/weight"])
    np.testing.assert_array_equal(blended["synthesis/8x8/Skip/weight"], low_v["synthesis/8x8/Skip/weight"])
    np.testing.assert_array_equal(blended["synthesis/8x8/Conv1/weight"], high_v["synthesis/8x8/Conv1/weight"])


def test_incompatible_networks_and_bad_arguments(low_high):
    low, high = low_high
    with pytest.raises(ValueError, match="not compatible.*img_resolution 16 vs 32"):
        blending.blend_networks(low, load_fixture_networks("public").G_ema, 8)
    with pytest.raises(ValueError, match="blending needs Keras networks"):
        blending.blend_networks(low, object(), 8)
    for kwargs, message in [(dict(resolution=12), "power of two"), (dict(resolution=2), "power of two"),
                            (dict(resolution=32), "above"), (dict(resolution=8, level=2), "level"),
                            (dict(resolution=8, blend_width=0), "width")]:
        with pytest.raises(ValueError, match=message):
            blending.blend_networks(low, high, **kwargs)


def _v1_position(name, resolution):
    return blending.layer_position(name[len("synthesis/"):], resolution) if name.startswith("synthesis/") else None


@pytest.mark.parametrize("resolution, level", [(16, 0), (64, 1)])
def test_stylegan1_networks_blend_by_resolution(resolution, level):
    nets = sg.load_network(V1_PICKLE)
    low, high = nets.G_ema, nets.G
    blended = blending.blend_networks(low, high, resolution, level)
    assert isinstance(blended, StyleGAN1Generator) and blended.default_truncation_psi == low.default_truncation_psi
    mid = 2 * (int(math.log2(resolution)) - 2) + level
    low_v, high_v = values(low), values(high)
    from_high = set()
    for name, value in values(blended).items():
        p = _v1_position(name, low.img_resolution)
        source = high_v if p is not None and p >= mid + 2 else low_v
        np.testing.assert_array_equal(value, source[name], err_msg=name)
        if source is high_v:
            from_high.add(name.split("/")[1])
    assert from_high == ({"32x32", "64x64", "ToRGB_lod0", "ToRGB_lod1"} if resolution == 16 else set())
    for G in (low, blended):
        G.execution = "eager"  # one call each on a small net: tracing would cost more than it saves
    ws = low.mapping(np.random.RandomState(5).randn(2, low.z_dim)).numpy()
    difference = np.abs(blended.synthesis(ws).numpy() - low.synthesis(ws).numpy()).max()
    assert difference == 0 if resolution == 64 else difference > 0.01


def test_stylegan1_and_stylegan2_networks_are_not_blended(low_high):
    v1 = sg.load_network(V1_PICKLE).G_ema
    for low, high, message in [(v1, low_high[0], "a StyleGAN \\(v1\\) network with a StyleGAN2 one"),
                               (low_high[0], v1, "a StyleGAN2 network with a StyleGAN \\(v1\\) one")]:
        with pytest.raises(ValueError, match="cannot blend " + message + ": their synthesis layers differ"):
            blending.blend_networks(low, high, 8)


@pytest.fixture(scope="module")
def rosinality_and_pickle(tmp_path_factory):
    """(the rosinality checkpoint's networks, an official pickle of the same architecture, loaded, and its
    path): save_pickle of the checkpoint with its training g as Gs, so the pickle's G_ema differs."""
    ros = sg.load_network(ROSINALITY_PT)
    path = str(tmp_path_factory.mktemp("rosinality") / "official.pkl")
    sg.save_pickle(ros._replace(G_ema=ros.G), path)
    return ros, sg.load_network(path), path


def test_rosinality_network_blends_with_an_official_pickle(rosinality_and_pickle):
    ros, official, _ = rosinality_and_pickle
    for low, high in [(ros.G_ema, official.G_ema), (official.G_ema, ros.G_ema)]:
        blended = values(blending.blend_networks(low, high, 8, 0))
        low_v, high_v = values(low), values(high)
        for name, value in blended.items():
            from_high = name.startswith(("synthesis/16x16/", "synthesis/32x32/"))
            np.testing.assert_array_equal(value, (high_v if from_high else low_v)[name], err_msg=name)
        assert not np.array_equal(low_v["synthesis/32x32/Conv1/weight"], high_v["synthesis/32x32/Conv1/weight"])


def test_blend_networks_app_with_a_g_ema_only_rosinality_file(rosinality_and_pickle, tmp_path):
    """`--network` a g_ema + latent_avg file (toonify.pt's form): the blended directory holds G_ema only."""
    ros, official, pickle_path = rosinality_and_pickle
    g_ema_only = str(tmp_path / "g_ema_only.pt")
    sg.save_rosinality(sg.Networks(G=None, D=None, G_ema=ros.G_ema), g_ema_only)
    assert run_app("blend-networks", "--network", g_ema_only, "--high-res-network", pickle_path,
                   "--resolution", 16, "--level", 0, "--result-dir", tmp_path / "results") == 0
    out = sg.load_network(os.path.join(run_dir_of(tmp_path / "results"), "network"))
    assert out.G is None and out.D is None
    expected, low_v, high_v = (values(G) for G in (blending.blend_networks(ros.G_ema, official.G_ema, 16, 0),
                                                       ros.G_ema, official.G_ema))
    for name, value in values(out.G_ema).items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)
        np.testing.assert_array_equal(value, (high_v if name.startswith("synthesis/32x32/") else low_v)[name],
                                      err_msg=name)


def _skip_generator(seed, **channels):
    import keras
    keras.utils.set_random_seed(seed)
    return Generator(MappingNetwork(z_dim=8, w_dim=8, num_ws=4, num_layers=1, layer_features=8, name="mapping"),
                     SynthesisNetwork(w_dim=8, img_resolution=8, architecture="skip", name="synthesis", **channels))


def test_channel_tables_are_compared_through_the_weight_shapes():
    """An explicit table (rosinality's form) and an fmap rule giving the same counts blend; other counts do not."""
    rule = _skip_generator(1, fmap_base=32, fmap_max=8)
    table = _skip_generator(2, channels=[8, 8])
    blended = values(blending.blend_networks(table, rule, 4, 0))
    np.testing.assert_array_equal(blended["synthesis/8x8/Conv1/weight"], values(rule)["synthesis/8x8/Conv1/weight"])
    with pytest.raises(ValueError, match="variables differ"):
        blending.blend_networks(rule, _skip_generator(3, channels=[8, 4]), 4, 0)
