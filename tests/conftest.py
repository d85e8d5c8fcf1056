"""Shared fixtures: the official-format test networks and their reference outputs.

`tests/data/{public,orig}` are synthetic pickles in NVIDIA's exact byte format with outputs
computed by NVIDIA's stylegan2-ada-pytorch (see each `reference.json`).
"""

import os

import numpy as np
import pytest

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
FIXTURES = ("public", "orig")


def fixture_path(name, filename="network.pkl"):
    return os.path.join(DATA, name, filename)


_NETWORKS = {}


def load_fixture_networks(name):
    """Networks of a fixture, loaded once per test session (treat as read-only)."""
    import tf_stylegan2 as sg
    if name not in _NETWORKS:
        _NETWORKS[name] = sg.load_network(fixture_path(name))
    return _NETWORKS[name]


@pytest.fixture(scope="session", params=FIXTURES)
def fixture_name(request):
    return request.param


@pytest.fixture(scope="session")
def nets(fixture_name):
    return load_fixture_networks(fixture_name)


@pytest.fixture(scope="session")
def ref(fixture_name):
    with np.load(fixture_path(fixture_name, "reference.npz")) as f:
        return {k: f[k] for k in f.files}


def nhwc(x):
    """NCHW reference arrays -> NHWC."""
    return np.asarray(x).transpose(0, 2, 3, 1)
