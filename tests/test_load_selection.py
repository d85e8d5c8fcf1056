"""`load_pickle(path, networks=...)`: only the named networks are built, with the same weights as
a full load, for the TF pickle, the PyTorch snapshot and the StyleGAN v1 readers."""

import os

import numpy as np
import pytest

from tf_stylegan2.official import load_pickle

DATA = os.path.join(os.path.dirname(__file__), "data")
FILES = ["orig/network.pkl", "ada/network-ada-pytorch.pkl", "stylegan1/network.pkl"]


@pytest.mark.parametrize("name", FILES)
def test_only_the_named_networks_are_built_with_the_full_load_weights(name):
    path = os.path.join(DATA, name)
    full = load_pickle(path)
    only = load_pickle(path, networks=["G_ema", "D"])
    assert only.G is None
    for key in ("G_ema", "D"):
        got, want = getattr(only, key), getattr(full, key)
        assert [v.path for v in got.weights] == [v.path for v in want.weights]
        for a, b in zip(got.weights, want.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_unknown_network_name_is_refused():
    with pytest.raises(ValueError, match="networks must be among G, D, G_ema, got Gs"):
        load_pickle(os.path.join(DATA, FILES[0]), networks=["Gs"])
