"""`official.save_pickle`: networks -> NVIDIA's official `(G, D, Gs)` pickle.

Fixture pickles are loaded, saved and compared state by state with the original (kwargs,
components, build functions, version, variable names, order, shapes, dtypes and exact values),
then reloaded: the images are bitwise identical. Networks built from scratch (StyleGAN2 and
StyleGAN2-ADA features) round-trip to identical configs, weights and images. The written files
use only the globals our restricted unpickler allows and are replaced atomically.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2.networks import Discriminator, Generator, MappingNetwork, SynthesisNetwork
from tf_stylegan2.official import Networks, load_pickle, save
from tf_stylegan2.official.save import save_pickle
from tf_stylegan2.official.unpickler import RestrictedUnpickler, load_states
from conftest import fixture_path, load_fixture_networks

STATE_KEYS_V4 = ["version", "name", "static_kwargs", "components", "build_module_src", "build_func_name", "variables"]
STATE_KEYS_V5 = STATE_KEYS_V4 + ["input_shapes", "output_shapes", "input_names", "output_names"]
# Not stored by our networks: this port computes in float32, so written pickles say 0 (the default).
NOT_KEPT_KWARGS = {"num_fp16_res"}
ALLOWED_GLOBALS = {("dnnlib.tflib.network", "Network"), ("numpy", "ndarray"), ("numpy", "dtype"),
                   ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar")}


def read_states(path):
    with open(path, "rb") as f:
        return load_states(f)


class _RecordingUnpickler(RestrictedUnpickler):
    def find_class(self, module, name):
        self.found.add((module, name))
        return super().find_class(module, name)


def pickle_globals(path):
    """(set of (module, name) the pickle references, its protocol); our restricted unpickler must accept it."""
    with open(path, "rb") as f:
        unpickler = _RecordingUnpickler(f, encoding="latin1")
        unpickler.found = set()
        unpickler.load()
        f.seek(0)
        return unpickler.found, f.read(2)[1]


def assert_same_state(written, original, path="network"):
    w, o = written.state, original.state
    assert list(w) == (STATE_KEYS_V5 if o["version"] == 5 else STATE_KEYS_V4), path
    assert list(o) == list(w), path
    for key in ("version", "name", "build_func_name", "input_shapes", "output_shapes", "input_names", "output_names"):
        assert w.get(key) == o.get(key), "%s: %s" % (path, key)
    expected_kwargs = {k: v for k, v in o["static_kwargs"].items() if k not in NOT_KEPT_KWARGS}
    assert w["static_kwargs"] == expected_kwargs, path
    assert [n for n, _ in w["variables"]] == [n for n, _ in o["variables"]], path
    for (name, a), (_, b) in zip(w["variables"], o["variables"]):
        assert type(a) is type(b) and a.dtype == b.dtype == np.float32 and a.shape == b.shape, "%s/%s" % (path, name)
        np.testing.assert_array_equal(a, b, err_msg="%s/%s" % (path, name))
    assert list(w["components"]) == list(o["components"]), path
    for name in o["components"]:
        assert_same_state(w["components"][name], o["components"][name], "%s/%s" % (path, name))


def render(nets, seed=0):
    """G_ema and G images (const noise), and D scores of the G_ema images: the numbers to compare."""
    rnd = np.random.RandomState(seed)
    z = rnd.randn(2, nets.G_ema.z_dim).astype(np.float32)
    c = np.eye(nets.G_ema.c_dim, dtype=np.float32)[rnd.randint(nets.G_ema.c_dim, size=2)] if nets.G_ema.c_dim else None
    img = nets.G_ema(z, c, truncation_psi=0.7, noise_mode="const").numpy()
    return img, nets.G(z, c, noise_mode="const").numpy(), nets.D(img, c).numpy()


@pytest.mark.parametrize("name", ["public", "orig", "ada"])
def test_fixture_round_trip_matches_the_original_pickle(name, tmp_path):
    nets = load_fixture_networks(name) if name != "ada" else load_pickle(fixture_path("ada"))
    out = tmp_path / "network-snapshot-000000.pkl"
    save_pickle(nets, out)

    written, original = read_states(out), read_states(fixture_path(name))
    for w, o, net in zip(written, original, ("G", "D", "Gs")):
        assert_same_state(w, o, net)
        assert "tf_stylegan2" in w.state["build_module_src"]
    found, protocol = pickle_globals(out)
    assert found <= ALLOWED_GLOBALS
    assert protocol == pickle_globals(fixture_path(name))[1] == (3 if name == "ada" else 4)

    reloaded = load_pickle(out)
    for a, b in zip(render(reloaded), render(nets)):
        np.testing.assert_array_equal(a, b)


def scratch_networks(resolution=16, z_dim=32, w_dim=32, c_dim=0, layer_features=32, mapping_layers=2,
                     label_modes=("concat", "onehot"), conv_clamp=None, mbstd_group_size=4, cmap_dim=None,
                     g_architecture="skip", d_architecture="resnet", seed=0):
    """Fresh Networks(G, D, G_ema) of a training config, every official weight set to random values."""
    num_ws = 2 * int(np.log2(resolution)) - 2
    channels = dict(fmap_base=256, fmap_max=32)

    def generator(name):
        mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, num_layers=mapping_layers,
                                 layer_features=layer_features, label_mode=label_modes[0], name="mapping")
        synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=resolution, architecture=g_architecture,
                                     conv_clamp=conv_clamp, name="synthesis", **channels)
        return Generator(mapping, synthesis, name=name)

    D = Discriminator(c_dim=c_dim, img_resolution=resolution, architecture=d_architecture, conv_clamp=conv_clamp,
                      mbstd_group_size=mbstd_group_size, label_mode=label_modes[1], cmap_dim=cmap_dim,
                      mapping_layers=1 if label_modes[1] == "projection" else 0, **channels)
    nets = Networks(generator("G"), D, generator("G_ema"))
    rng = np.random.default_rng(seed)
    for net in nets:
        for var, _ in net.official_weights().values():
            var.assign(rng.normal(0, 0.3, var.shape).astype(np.float32))
    return nets


def comparable_config(net):
    """`get_config()` without names, and without the label settings of an unconditional network
    (the loader picks the format's own: ADA reads back "embed"/"projection")."""
    config = net.get_config()
    parts = [config] + [config[k] for k in ("mapping", "synthesis") if k in config]
    for part in parts:
        part.pop("name")
        if part.get("c_dim") == 0:
            part.pop("label_mode")
            part.pop("cmap_dim", None)
    return config


SCRATCH = {
    "stylegan2": dict(),
    "stylegan2-orig-conditional": dict(c_dim=3, g_architecture="orig", d_architecture="orig", layer_features=64),
    "stylegan2-resnet-skip-wide-z": dict(z_dim=48, g_architecture="resnet", d_architecture="skip"),
    "ada-conv-clamp": dict(conv_clamp=256),
    "ada-conditional": dict(c_dim=4, z_dim=48, label_modes=("embed", "projection"), conv_clamp=256,
                            mbstd_group_size=None, cmap_dim=16),
}


@pytest.mark.parametrize("name", sorted(SCRATCH))
def test_networks_from_scratch_round_trip(name, tmp_path):
    nets = scratch_networks(**SCRATCH[name])
    path = tmp_path / "net.pkl"
    save_pickle(nets, path)
    states = read_states(path)
    assert {s.state["version"] for s in states} == {5 if name.startswith("ada") else 4}
    assert pickle_globals(path)[0] <= ALLOWED_GLOBALS

    reloaded = load_pickle(path)
    for a, b in zip(reloaded, nets):
        assert comparable_config(a) == comparable_config(b)
        wa, wb = a.official_weights(), b.official_weights()
        assert list(wa) == list(wb)
        for key in wa:
            np.testing.assert_array_equal(wa[key][0].numpy(), wb[key][0].numpy(), err_msg=key)
    for a, b in zip(render(reloaded), render(nets)):
        np.testing.assert_array_equal(a, b)


def test_mixed_label_formats_are_refused(tmp_path):
    nets = scratch_networks(c_dim=2, label_modes=("concat", "projection"))
    with pytest.raises(ValueError, match="no official format"):
        save_pickle(nets, tmp_path / "net.pkl")
    assert os.listdir(tmp_path) == []


def test_build_module_src_raises_a_clear_error_when_executed():
    with pytest.raises(ImportError, match="tf-stylegan2.*load_network"):
        exec(compile(save.BUILD_MODULE_SRC, "network_module", "exec"), {})


def test_write_is_atomic(tmp_path, monkeypatch):
    nets = load_fixture_networks("orig")
    path = tmp_path / "network.pkl"
    save_pickle(nets, path)
    before = path.read_bytes()

    def failing_dump(self, obj):
        self.write(b"\x80\x04partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(save._OfficialPickler, "dump", failing_dump)
    with pytest.raises(OSError, match="No space"):
        save_pickle(nets, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["network.pkl"]
    with pytest.raises(OSError):
        save_pickle(nets, tmp_path / "missing-dir" / "network.pkl")


def test_scalars_are_numpy_float32_and_layouts_official(tmp_path):
    """noise_strength (and TF1's `lod`) are numpy float32 scalars, as `tflib.run` returns them."""
    nets = scratch_networks()
    save_pickle(nets, tmp_path / "net.pkl")
    G = read_states(tmp_path / "net.pkl")[0].state
    assert [(n, type(v)) for n, v in G["variables"]] == [("lod", np.float32), ("dlatent_avg", np.ndarray)]
    synthesis = dict(G["components"]["synthesis"].state["variables"])
    assert isinstance(synthesis["4x4/Conv/noise_strength"], np.float32)
    assert synthesis["4x4/Const/const"].shape == (1, 32, 4, 4)
    const = nets.G.synthesis.official_weights()["4x4/Const/const"][0]  # ours: [1, 4, 4, C]
    np.testing.assert_array_equal(synthesis["4x4/Const/const"], tf.transpose(const, [0, 3, 1, 2]).numpy())
