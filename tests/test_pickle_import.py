"""Official-pickle import: the restricted unpickler and kwargs/variable validation."""

import os
import pickle

import numpy as np
import pytest

import tf_stylegan2 as sg
from tf_stylegan2.official import load as official_load
from tf_stylegan2.official.unpickler import NetworkPickleError, load_states_from_bytes
from conftest import fixture_path


def read_fixture_bytes(name="orig"):
    with open(fixture_path(name), "rb") as f:
        return f.read()


class _Reduce:
    """Pickles as a call of `func(*args)`."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def test_fixture_loads_without_executing_build_module_src(tmp_path):
    # The fixtures' build_module_src raises if executed; loading succeeds, so it was not.
    states = load_states_from_bytes(read_fixture_bytes())
    assert "build_module_src was executed" in states[0].state["build_module_src"]
    nets = sg.load_network(fixture_path("orig"))
    assert isinstance(nets, sg.Networks) and nets.G_ema.img_resolution == 16


def test_reduce_to_os_system_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    data = pickle.dumps(_Reduce(os.system, ("touch %s" % marker,)))
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(NetworkPickleError, match="refused to load global"):
        sg.load_network(str(path))
    assert not marker.exists()


def test_unlisted_module_is_refused():
    data = pickle.dumps(_Reduce(eval, ("1+1",)))
    with pytest.raises(NetworkPickleError, match="builtins.eval"):
        load_states_from_bytes(data)
    import collections
    with pytest.raises(NetworkPickleError, match="collections.OrderedDict"):
        load_states_from_bytes(pickle.dumps(collections.OrderedDict(a=1)))


def test_object_arrays_are_refused():
    with pytest.raises(NetworkPickleError):
        load_states_from_bytes(pickle.dumps(np.array([None, 1], dtype=object), protocol=2))


def test_truncated_non_pickle_and_wrong_structure(tmp_path):
    data = read_fixture_bytes()
    for bad in (data[: len(data) // 2], data[:100], b"", b"hello, not a pickle\n", os.urandom(64)):
        with pytest.raises(NetworkPickleError):
            load_states_from_bytes(bad)
    with pytest.raises(NetworkPickleError, match="tuple of Network"):
        load_states_from_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(NetworkPickleError, match="directory"):
        sg.load_network(str(tmp_path))
    with pytest.raises(NetworkPickleError, match="cannot read"):
        sg.load_network(str(tmp_path / "missing.pkl"))


def _states():
    return load_states_from_bytes(read_fixture_bytes())


def test_unknown_kwarg_is_named():
    G, _, _ = _states()
    G.state["components"]["synthesis"].state["static_kwargs"]["mystery_knob"] = 3
    with pytest.raises(NetworkPickleError, match="mystery_knob"):
        official_load.generator_from_state(G.state, "G")
    _, D, _ = _states()
    D.state["static_kwargs"]["other_knob"] = 1
    with pytest.raises(NetworkPickleError, match="other_knob"):
        official_load.discriminator_from_state(D.state)


def test_unexpected_missing_and_misshapen_variables_are_named():
    G, _, _ = _states()
    syn = G.state["components"]["synthesis"].state
    syn["variables"].append(("8x8/Extra/weight", np.zeros([3], np.float32)))
    with pytest.raises(NetworkPickleError, match="8x8/Extra/weight"):
        official_load.generator_from_state(G.state, "G")
    G, _, _ = _states()
    syn = G.state["components"]["synthesis"].state
    syn["variables"] = [(n, v) for n, v in syn["variables"] if n != "noise2"]
    with pytest.raises(NetworkPickleError, match="missing variables synthesis/noise2"):
        official_load.generator_from_state(G.state, "G")
    G, _, _ = _states()
    mapping = G.state["components"]["mapping"].state
    mapping["variables"][0] = (mapping["variables"][0][0], np.zeros([2, 2], np.float32))
    with pytest.raises(NetworkPickleError, match="Dense0/weight has shape"):
        official_load.generator_from_state(G.state, "G")


def test_unsupported_network_function_is_named():
    G, _, _ = _states()
    G.state["components"]["synthesis"].state["build_func_name"] = "G_synthesis_stylegan_revised"
    with pytest.raises(NetworkPickleError, match="G_synthesis_stylegan_revised"):
        official_load.generator_from_state(G.state, "G")


def test_numpy_core_spellings_both_accepted():
    data = read_fixture_bytes()
    assert b"numpy.core.multiarray" in data
    renamed = data.replace(b"\x8c\x15numpy.core.multiarray", b"\x8c\x16numpy._core.multiarray")
    assert renamed != data
    states = load_states_from_bytes(renamed)
    ref = load_states_from_bytes(data)
    a = dict(states[2].state["components"]["synthesis"].state["variables"])
    b = dict(ref[2].state["components"]["synthesis"].state["variables"])
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
