"""Converter: every official pickle kind -> Keras networks -> converted directory, and network sources
(paths, URLs through a local HTTP server, `gdrive:` aliases, the download cache)."""

import http.server
import os
import threading

import numpy as np
import pytest

import official_writer
import tf_stylegan2 as sg
from tf_stylegan2 import converted, sources
from tf_stylegan2.export.convert import convert_network
from tf_stylegan2.official.load import generator_from_state
from tf_stylegan2.official.unpickler import load_states_from_bytes
from conftest import fixture_path

SMALL_G = dict(latent_size=32, dlatent_size=32, mapping_layers=2)
# (name, writer kwargs). config-e / config-f differ in fmap_base (8192 / 16384); scaled down 64x here.
KINDS = [
    ("stylegan2-config-f-skip-resnet-8", dict(resolution=8, G_args=dict(fmap_base=256, fmap_max=32, **SMALL_G),
                                               D_args=dict(fmap_base=256, fmap_max=32))),
    ("stylegan2-config-e-resnet-skip-16", dict(resolution=16, G_args=dict(fmap_base=128, fmap_max=32,
                                                                          architecture="resnet", **SMALL_G),
                                                D_args=dict(fmap_base=128, fmap_max=32, architecture="skip"))),
    ("stylegan2-config-f-orig-orig-32", dict(resolution=32, G_args=dict(fmap_base=256, fmap_max=16,
                                                                        architecture="orig", **SMALL_G),
                                              D_args=dict(fmap_base=256, fmap_max=16, architecture="orig"))),
    ("stylegan2-conditional-labelconcat-8", dict(resolution=8, label_size=4,
                                                 G_args=dict(fmap_base=128, fmap_max=16, **SMALL_G),
                                                 D_args=dict(fmap_base=128, fmap_max=16))),
    # NVIDIA's StyleGAN2-ADA TF format itself (version-5 states, conditional, fp16 layers, conv_clamp, mbstd 2)
    ("ada-tf-fixture-resnet-skip-16", dict(fixture="ada", resolution=16, flavour="ada", label_size=3,
                                           G_args=dict(architecture="resnet", conv_clamp=256),
                                           D_args=dict(architecture="skip"))),
]


def _inputs(G, n=2):
    z = sg.z_from_seeds(range(n), G.z_dim)
    c = np.eye(G.c_dim, dtype=np.float32)[np.arange(n) % G.c_dim] if G.c_dim else None
    return z, c


@pytest.mark.parametrize("kind", [k for k, _ in KINDS])
def test_every_pickle_kind_loads_and_round_trips_through_the_converted_directory(tmp_path, kind):
    kwargs = dict(KINDS)[kind]
    path = fixture_path(kwargs["fixture"]) if "fixture" in kwargs else official_writer.write(
        str(tmp_path / "network.pkl"), **kwargs)
    nets = sg.load_network(path)
    G = nets.G_ema
    assert G.img_resolution == kwargs["resolution"] and G.c_dim == kwargs.get("label_size", 0)
    assert G.synthesis.architecture == kwargs["G_args"].get("architecture", "skip")
    assert nets.D.architecture == kwargs["D_args"].get("architecture", "resnet")
    assert G.mapping.label_mode == ("embed" if kwargs.get("flavour") == "ada" else "concat")
    assert G.synthesis.conv_clamp == kwargs["G_args"].get("conv_clamp")

    out = tmp_path / "converted"
    out.mkdir()
    converted.save(nets, str(out), source=path)
    back = sg.load_network(str(out))
    z, c = _inputs(G)
    for a, b in zip(nets, back):
        assert a.get_config() == b.get_config()
        for va, vb in zip(a.weights, b.weights):
            np.testing.assert_array_equal(va.numpy(), vb.numpy())
    img = G(z, c, truncation_psi=0.7)
    np.testing.assert_array_equal(back.G_ema(z, c, truncation_psi=0.7).numpy(), img.numpy())
    np.testing.assert_array_equal(back.D(img, c).numpy(), nets.D(img, c).numpy())


def test_labelconcat_generators_depend_on_the_label():
    """StyleGAN2 TF1 `LabelConcat` (no fixture has it; the ADA `LabelEmbed` is in test_ada_fixture.py)."""
    states = official_writer.build(resolution=8, label_size=3, G_args=dict(fmap_base=64, fmap_max=8, **SMALL_G),
                                   D_args=dict(fmap_base=64))
    G = generator_from_state(load_states_from_bytes(official_writer.dumps(states))[2].state, "G_ema")
    z = np.repeat(sg.z_from_seed(1, G.z_dim), 3, axis=0)
    w = G.mapping(z, np.eye(3, dtype=np.float32)).numpy()
    assert np.abs(w[0] - w[1]).max() > 1e-3 and np.abs(w[1] - w[2]).max() > 1e-3
    with pytest.raises(ValueError, match="conditional"):
        G.mapping(z)


def _mutated_pickle(mutate, **kwargs):
    states = official_writer.build(**dict(dict(resolution=8, G_args=dict(fmap_base=64, fmap_max=8, **SMALL_G),
                                               D_args=dict(fmap_base=64, fmap_max=8)), **kwargs))
    mutate(*(net._state for net in states))
    return official_writer.dumps(states)


def _comp(state, name):
    return state["components"][name]._state


def _load_bytes(tmp_path, data):
    path = tmp_path / "network.pkl"
    path.write_bytes(data)
    return sg.load_network(str(path))


@pytest.mark.parametrize("mutate, message", [
    (lambda G, D, Gs: _comp(Gs, "synthesis")["static_kwargs"].update(use_wavelets=True), "use_wavelets"),
    (lambda G, D, Gs: D["static_kwargs"].update(mbstd_groups=2), "mbstd_groups"),
    (lambda G, D, Gs: _comp(G, "mapping")["variables"].append(("Dense9/weight", np.zeros(2, np.float32))),
     "Dense9/weight"),
    (lambda G, D, Gs: _comp(Gs, "synthesis")["variables"].pop(), "8x8/ToRGB/bias"),
    (lambda G, D, Gs: _comp(Gs, "synthesis").update(build_func_name="G_synthesis_stylegan_revised"),
     "G_synthesis_stylegan_revised"),
    (lambda G, D, Gs: D.update(build_func_name="D_basic"), "D_basic"),
    (lambda G, D, Gs: G["static_kwargs"].update(dtype="float16"), "float16"),
])
def test_unknown_kwargs_variables_and_functions_stop_the_import_naming_them(tmp_path, mutate, message):
    with pytest.raises(sg.NetworkPickleError, match=message):
        _load_bytes(tmp_path, _mutated_pickle(mutate))


@pytest.mark.parametrize("D_args, message", [
    (dict(mbstd_group_size=1), "mbstd_group_size"),
    (dict(use_spectral_norm=True), "use_spectral_norm"), (dict(use_pagan=True), "use_pagan"),
])
def test_unsupported_ada_discriminators_are_named(tmp_path, D_args, message):
    data = _mutated_pickle(lambda G, D, Gs: D["static_kwargs"].update({"mbstd_group_size": 4, **D_args}),
                           flavour="ada")
    with pytest.raises(sg.NetworkPickleError, match=message):
        _load_bytes(tmp_path, data)


def test_convert_network_writes_atomically_and_replaces_an_existing_output(tmp_path):
    path = official_writer.write(str(tmp_path / "network.pkl"), resolution=8, D_args=dict(fmap_base=64, fmap_max=8),
                                 G_args=dict(fmap_base=64, fmap_max=8, **SMALL_G))
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    assert convert_network(path, str(out), saved_model=False) == {}
    assert sorted(os.listdir(out)) == ["D.weights.h5", "G.weights.h5", "G_ema.weights.h5", "config.json"]
    with pytest.raises(sg.NetworkPickleError):
        convert_network(str(tmp_path / "missing.pkl"), str(out), saved_model=False)
    assert sorted(os.listdir(tmp_path)) == ["network.pkl", "out"]
    assert sorted(os.listdir(out)) == ["D.weights.h5", "G.weights.h5", "G_ema.weights.h5", "config.json"]


def test_broken_converted_directories_are_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"format": "something else"}')
    with pytest.raises(sg.NetworkPickleError, match="not a tf_stylegan2"):
        sg.load_network(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(sg.NetworkPickleError, match="cannot read"):
        sg.load_network(str(tmp_path))


# --- network sources: URLs, aliases, cache --------------------------------------------------------

class _Server:
    """HTTP server on 127.0.0.1 serving `files` {path: bytes} with Range support.

    `mode`: "ok", "short" (announces the full size, sends half, closes), "no_length" (no
    Content-Length), "oversized" (announces fewer bytes than a Range request returns) or
    "bad_range" (answers a Range request with a Content-Range of another start).
    """

    def __init__(self, files):
        self.files, self.mode, self.requests = files, "ok", []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = int(self.headers["Range"][6:-1]) if self.headers.get("Range") else 0
                body = data[start:]
                self.send_response(206 if start else 200)
                if start:
                    total = len(data) - 7 if server.mode == "oversized" else len(data)
                    first = 0 if server.mode == "bad_range" else start
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (first, len(data) - 1, total))
                if server.mode != "no_length":
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2] if server.mode == "short" else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def tiny_pickle():
    return official_writer.dumps(official_writer.build(
        resolution=8, G_args=dict(fmap_base=16, fmap_max=4, latent_size=8, dlatent_size=8, mapping_layers=1),
        D_args=dict(fmap_base=16, fmap_max=4)))


@pytest.fixture
def server(tiny_pickle):
    s = _Server({"/stylegan2/networks/tiny.pkl": tiny_pickle})
    yield s
    s.close()


def test_url_is_downloaded_once_into_the_cache(tmp_path, server, tiny_pickle):
    url = server.url + "/stylegan2/networks/tiny.pkl"
    nets = sg.load_network(url, cache_dir=str(tmp_path))
    assert nets.G_ema.z_dim == 8
    cached = sources.cached_path(url, str(tmp_path))
    assert open(cached, "rb").read() == tiny_pickle
    sg.load_network(url, cache_dir=str(tmp_path))
    assert len(server.requests) == 1


def test_gdrive_alias_and_cache_environment_variable(tmp_path, server, monkeypatch):
    assert sources.alias_url("gdrive:networks/stylegan2-ffhq-config-f.pkl") == \
        "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-ffhq-config-f.pkl"
    with pytest.raises(ValueError, match="gdrive:networks"):
        sources.alias_url("gdrive:other/../x.pkl")
    monkeypatch.setattr(sources, "GDRIVE_URL", server.url + "/stylegan2/networks/")
    monkeypatch.setenv(sources.CACHE_ENV, str(tmp_path / "env-cache"))
    assert sources.cache_dir() == str(tmp_path / "env-cache")
    assert sg.load_network("gdrive:networks/tiny.pkl").G_ema.w_dim == 8
    assert os.listdir(tmp_path / "env-cache")[0].endswith("_tiny.pkl")


def test_short_download_leaves_no_cache_entry_and_resumes(tmp_path, server, tiny_pickle):
    url = server.url + "/stylegan2/networks/tiny.pkl"
    server.mode = "short"
    with pytest.raises(OSError, match="resume"):
        sg.load_network(url, cache_dir=str(tmp_path))
    cached = sources.cached_path(url, str(tmp_path))
    assert not os.path.exists(cached) and os.path.getsize(cached + ".part") == len(tiny_pickle) // 2
    server.mode = "ok"
    sg.load_network(url, cache_dir=str(tmp_path))
    assert server.requests[-1] == ("/stylegan2/networks/tiny.pkl", "bytes=%d-" % (len(tiny_pickle) // 2))
    assert open(cached, "rb").read() == tiny_pickle and not os.path.exists(cached + ".part")


@pytest.mark.parametrize("mode, path, message", [
    ("no_length", "/stylegan2/networks/tiny.pkl", "Content-Length"),
    ("ok", "/stylegan2/networks/missing.pkl", "HTTP 404"),
])
def test_unverifiable_or_failed_downloads_are_errors(tmp_path, server, mode, path, message):
    server.mode = mode
    with pytest.raises(OSError, match=message):
        sg.load_network(server.url + path, cache_dir=str(tmp_path))
    assert not [name for name in os.listdir(tmp_path) if not name.endswith(".part")]


@pytest.mark.parametrize("mode, message", [("oversized", "larger than announced"), ("bad_range", "Content-Range")])
def test_inconsistent_resume_discards_the_partial_file(tmp_path, server, mode, message):
    url = server.url + "/stylegan2/networks/tiny.pkl"
    server.mode = "short"
    with pytest.raises(OSError):
        sg.load_network(url, cache_dir=str(tmp_path))
    server.mode = mode
    with pytest.raises(OSError, match=message):
        sg.load_network(url, cache_dir=str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_ada_conditional_discriminator_projects_the_label(tmp_path):
    """StyleGAN2-ADA `D_main` with labels: score = sum(features * cmap) / sqrt(cmap_dim), cmap from
    `LabelEmbed` (normalised) and `Mapping{i}` (lr multiplier 0.1); mbstd over the whole minibatch."""
    D_args = dict(fmap_base=64, fmap_max=8, mapping_layers=2, mapping_fmaps=6)
    path = official_writer.write(str(tmp_path / "network.pkl"), resolution=8, flavour="ada", label_size=3,
                                 G_args=dict(fmap_base=64, fmap_max=8, **SMALL_G), D_args=D_args)
    D = sg.load_network(path).D
    assert (D.label_mode, D.cmap_dim, D.mbstd_group_size) == ("projection", 6, None)
    with open(path, "rb") as f:
        arrays = dict(load_states_from_bytes(f.read())[1].state["variables"])

    c = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    e = c @ (arrays["LabelEmbed/weight"] / np.sqrt(3)) + arrays["LabelEmbed/bias"]
    e = e / np.sqrt(np.mean(e ** 2, axis=1, keepdims=True) + 1e-8)
    for i in range(2):
        e = e @ (arrays["Mapping%d/weight" % i] * 0.1 / np.sqrt(6)) + arrays["Mapping%d/bias" % i] * 0.1
        e = np.where(e >= 0, e, 0.2 * e) * np.sqrt(2)
    np.testing.assert_allclose(D.cmap(c).numpy(), e, rtol=1e-5, atol=1e-5)

    img = np.random.RandomState(0).uniform(-1, 1, [4, 8, 8, 3]).astype(np.float32)
    features = D.features(img).numpy()
    np.testing.assert_allclose(D(img, c).numpy(), np.sum(features * e, axis=1, keepdims=True) / np.sqrt(6),
                               rtol=1e-5, atol=1e-5)
    # one minibatch-stddev group of 4: a sample's features depend on the other three
    assert np.abs(D.features(img[:2]).numpy() - features[:2]).max() > 1e-6
