"""Network blending (spec §8): layer positions, hard and soft switches, what is never blended."""

import math

import numpy as np
import pytest

from conftest import load_fixture_networks
from tf_stylegan2 import blending
from tf_stylegan2.networks import Generator, MappingNetwork, SynthesisNetwork

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
