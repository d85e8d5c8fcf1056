"""StyleGAN (v1) pickles (`tf_stylegan2.stylegan1`) against NVIDIA's TF1 outputs (tests/data/stylegan1):
mapping, truncation, images, style mixing, D scores, the flipped fused kernel, saving back, refusals,
the generator apps, projector, SeFa and the SavedModel."""

import os
import types

import numpy as np
import pytest

import official_writer
import tf_stylegan2 as sg
from conftest import DATA, assert_uint8_close, nhwc, official_uint8
from test_run_generator import read_png, run_app, run_dir_of
from tf_stylegan2 import converted, editing, generation, projector
from tf_stylegan2.export.saved_model import export_saved_model
from tf_stylegan2.official.load import read_pickle
from tf_stylegan2.official.unpickler import validate_states
from tf_stylegan2.projector import lpips
from tf_stylegan2.stylegan1 import StyleGAN1Discriminator, StyleGAN1Generator, StyleGAN1Synthesis

HERE = os.path.join(DATA, "stylegan1")
FIXTURES = {"public": ("network.pkl", "reference.npz", 2019), "config-a": ("network-config-a.pkl",
                                                                            "reference-config-a.npz", 2020)}
ATOL = 1e-4  # images, dlatents and D scores (measured: images <= 1.4e-5, dlatents <= 3.3e-6, D <= 2.4e-7)


def _load(name):
    pkl, npz, seed = FIXTURES[name]
    path = os.path.join(HERE, pkl)
    with np.load(os.path.join(HERE, npz)) as f:
        ref = {k: f[k] for k in f.files}
    return types.SimpleNamespace(name=name, path=path, nets=sg.load_network(path), ref=ref, seed=seed)


_CACHE = {}


@pytest.fixture(scope="module", params=sorted(FIXTURES))
def v1(request):
    if request.param not in _CACHE:
        _CACHE[request.param] = _load(request.param)
    return _CACHE[request.param]


@pytest.fixture(scope="module")
def small():
    """The 64x64 config-a network (the cheaper one for app and projector runs)."""
    if "config-a" not in _CACHE:
        _CACHE["config-a"] = _load("config-a")
    return _CACHE["config-a"]


def d_inputs(seed, resolution, n=8, channels=3):
    """The fixture's D inputs (README formula), NHWC."""
    rd = np.random.RandomState(seed + 2)
    blocks = rd.uniform(-0.7, 0.7, [n, channels, 8, 8])
    img = np.kron(blocks, np.ones([resolution // 8, resolution // 8]))
    img = img + rd.uniform(-0.3, 0.3, [n, channels, resolution, resolution])
    return nhwc(img.astype(np.float32))


def close(actual, expected, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=0, atol=atol)


def test_loads_as_stylegan1_networks_with_the_stylegan2_api(v1):
    G, D, Gs = v1.nets
    assert isinstance(G, StyleGAN1Generator) and isinstance(Gs, StyleGAN1Generator)
    assert isinstance(D, StyleGAN1Discriminator)
    num_ws, w_dim = v1.ref["dlatents"].shape[1:]
    assert (Gs.z_dim, Gs.w_dim, Gs.num_ws, Gs.c_dim) == (v1.ref["z"].shape[1], w_dim, num_ws, 0)
    assert Gs.synthesis.num_noise == num_ws
    assert (Gs.default_truncation_psi, Gs.default_truncation_cutoff) == (0.7, 8)
    assert generation.default_truncation_psi(Gs) == 0.7


def test_mapping_and_truncation_match_nvidia(v1):
    G, _, Gs = v1.nets
    z, ref = v1.ref["z"], v1.ref
    close(Gs.mapping(z), ref["dlatents"])
    close(G.mapping(z), ref["G_dlatents"])
    close(Gs.mapping(z, truncation_psi=0.7), ref["dlatents_trunc_default"])
    close(Gs.mapping(z, truncation_psi=0.5, truncation_cutoff=4), ref["dlatents_trunc_psi05_cut4"])
    close(Gs.mapping(z, truncation_psi=0.5, truncation_cutoff=None), ref["dlatents"])  # v1: cutoff None = off


def test_images_match_nvidia(v1):
    """Truncation variants and per-layer mixing rendered as one batch (one traced graph)."""
    G, _, Gs = v1.nets
    z, ref = v1.ref["z"], v1.ref
    ws = [Gs.mapping(z[:1], truncation_psi=1.0), Gs.mapping(z[:1], truncation_psi=0.5, truncation_cutoff=None),
          Gs.mapping(z[:1], truncation_psi=0.5, truncation_cutoff=4), ref["mix_dlatents"]]
    expected = [ref[k] for k in ("images_psi1", "images_psi05_cutNone", "images_psi05_cut4", "images_synthesis_mix")]
    close(Gs.synthesis(np.concatenate(ws)), nhwc(np.concatenate(expected)))  # mix: a different w per layer
    close(G(z[:1], truncation_psi=1.0), nhwc(ref["G_images_psi1"]))


def test_uint8_images_match_pretrained_example(v1):
    """`Gs(z)` without arguments truncates as NVIDIA's `Gs.run` (psi 0.7, cutoff 8)."""
    _, _, Gs = v1.nets
    z = v1.ref["z"]
    images = Gs(z)
    close(images, nhwc(v1.ref["images_default"]))
    assert_uint8_close(sg.to_uint8(images).numpy(), v1.ref["images_uint8_default"])
    assert_uint8_close(sg.to_uint8(Gs.synthesis(Gs.mapping(z))).numpy(), v1.ref["images_uint8_psi1"])


def test_discriminator_scores_match_nvidia(v1):
    D = v1.nets.D
    images = d_inputs(v1.seed, D.img_resolution)
    for n in (8, 4, 2):  # minibatch-stddev groups of min(4, n)
        close(D(images[:n]), v1.ref["D_scores_random_n%d" % n], atol=1e-5)
    close(D(nhwc(v1.ref["images_default"])), v1.ref["D_scores_images_default"], atol=1e-5)


def test_fused_upsampling_at_128_uses_the_flipped_kernel():
    """NVIDIA's fused Conv0_up (>= 128 px) equals upsample + conv with the flipped kernel; its
    `fused_scale=False` graph (a diagnostic key) is the unflipped one, far from the pickle's images."""
    public = _CACHE.get("public") or _load("public")
    Gs, ref = public.nets.G_ema, public.ref
    unfused = StyleGAN1Synthesis(**dict(Gs.synthesis.get_config(), fused_scale=False))
    for (name, (var, _)) in Gs.synthesis.official_weights().items():
        unfused.official_weights()[name][0].assign(var)
    ws = Gs.mapping(ref["z"][:1])
    close(unfused(ws), nhwc(ref["images_psi1_fused_scale_false"]))
    assert np.abs(nhwc(ref["images_psi1_fused_scale_false"]) - nhwc(ref["images_psi1"])).max() > 0.1


def _states(path):
    return validate_states(read_pickle(path))


def _flatten(state, prefix=""):
    s = state.state
    out = {prefix: (s["version"], s["name"], s["build_func_name"], s["static_kwargs"],
                    [(n, np.asarray(v).tobytes(), np.shape(v)) for n, v in s["variables"]])}
    for key, comp in s["components"].items():
        out.update(_flatten(comp, prefix + "/" + key))
    return out


def test_save_pickle_writes_nvidias_v1_format_and_round_trips(v1, tmp_path):
    path = str(tmp_path / "resaved.pkl")
    sg.save_pickle(v1.nets, path)
    written = [_flatten(s) for s in _states(path)]
    original = [_flatten(s) for s in _states(v1.path)]
    for ours, theirs in zip(written, original):
        assert list(ours) == list(theirs)  # components in NVIDIA's order (synthesis, mapping)
        for key in ours:
            version, name, func, kwargs, variables = ours[key]
            assert version == 3  # NVlabs/stylegan's state version, whatever the source's
            assert (name, func, kwargs, variables) == theirs[key][1:]  # names, order, values, static kwargs
    again = sg.load_network(path)
    z = v1.ref["z"]
    np.testing.assert_array_equal(again.G_ema(z).numpy(), v1.nets.G_ema(z).numpy())


def test_converted_directory_round_trips(small, tmp_path):
    converted.save(small.nets, str(tmp_path), source=small.path)
    again = sg.load_network(str(tmp_path))
    assert isinstance(again.G_ema, StyleGAN1Generator) and isinstance(again.D, StyleGAN1Discriminator)
    for ours, theirs in zip(again, small.nets):
        assert ours.get_config() == theirs.get_config()
        for (name, (a, _)), (_, (b, _)) in zip(ours.official_weights().items(), theirs.official_weights().items()):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def _state_tree(net):
    """A loaded `NetworkState` tree as official_writer Networks (to modify and pickle again)."""
    s = dict(net.state)
    s["components"] = {k: _state_tree(c) for k, c in s["components"].items()}
    s["variables"] = [(n, np.array(v)) for n, v in s["variables"]]
    return official_writer.Network(s)


def _mutated(tmp_path, mutate):
    G, D, Gs = (_state_tree(s) for s in _states(os.path.join(HERE, "network-config-a.pkl")))
    mutate(G._state, D._state, Gs._state)
    path = str(tmp_path / "mutated.pkl")
    with open(path, "wb") as f:
        f.write(official_writer.dumps((G, D, Gs)))
    return path


def _g_kwargs(**changes):
    def mutate(G, D, Gs):
        for state in (G, Gs):
            for s in (state, state["components"]["synthesis"]._state, state["components"]["mapping"]._state):
                s["static_kwargs"].update(changes)
                if s["build_func_name"] != "G_mapping":
                    s["static_kwargs"].pop("dlatent_broadcast", None)
    return mutate


def _set_lod(value):
    def mutate(G, D, Gs):
        Gs["variables"] = [(n, np.float32(value) if n == "lod" else v) for n, v in Gs["variables"]]
    return mutate


def _d_kwargs(**changes):
    return lambda G, D, Gs: D["static_kwargs"].update(changes)


REFUSALS = [
    (_g_kwargs(use_styles=False), "use_styles=False"),
    (_g_kwargs(const_input_layer=False), "const_input_layer=False"),
    (_g_kwargs(use_pixel_norm=True), "use_pixel_norm=True"),
    (_g_kwargs(nonlinearity="relu"), "nonlinearity='relu'"),
    (_g_kwargs(blur_filter="121"), "blur_filter='121'"),
    (_g_kwargs(structure="cubic"), "structure='cubic'"),
    (_g_kwargs(dtype="float16"), "dtype='float16'"),
    (_g_kwargs(fancy_option=1), "unsupported static kwargs fancy_option"),
    (_g_kwargs(resolution=2 ** 20, fmap_base=2 ** 20, dlatent_broadcast=38), "missing variable synthesis/noise37"),
    (_g_kwargs(fmap_max=10 ** 6, fmap_base=10 ** 9), "shape"),
    (_g_kwargs(resolution="64"), "unsupported StyleGAN network configuration"),
    (_g_kwargs(truncation_cutoff="8"), "truncation_cutoff='8' is not a number"),
    (_d_kwargs(mbstd_num_features=32), "4x4/Conv/weight"),
    (_d_kwargs(mbstd_num_features=10 ** 7), "mbstd_num_features=10000000 does not divide"),
    (_g_kwargs(mapping_layers=10 ** 9), "mapping_layers=1000000000 is not supported"),
    (_d_kwargs(nonlinearity="relu"), "D_basic"),
    (_set_lod(1.25), "lod=1.25"),
    (lambda G, D, Gs: D.update(build_func_name="D_stylegan2"), "'D_stylegan2' is not supported"),
    (lambda G, D, Gs: Gs["components"]["synthesis"]._state.update(build_func_name="G_synthesis_stylegan2"),
     "'G_synthesis_stylegan2' is not supported"),
    (lambda G, D, Gs: G.update(version=5), "Network version 5"),
    (lambda G, D, Gs: Gs["components"].pop("mapping"), "expected components mapping and synthesis"),
]


@pytest.mark.parametrize("mutate,message", REFUSALS, ids=[m for _, m in REFUSALS])
def test_unsupported_or_hostile_v1_pickles_are_refused_in_one_line(tmp_path, mutate, message):
    path = _mutated(tmp_path, mutate)
    with pytest.raises(sg.NetworkPickleError) as e:
        sg.load_network(path)
    assert message in str(e.value) and "\n" not in str(e.value)


def _make_conditional(label_size, seed=7):
    """config-a turned into a conditional v1 network as NVIDIA's G_mapping / D_basic build one:
    `LabelConcat/weight [label_size, latent_size]` first, Dense0 fed by `latent_size * 2`, D's
    Dense1 with `label_size` outputs (new random values for these)."""
    rng = np.random.RandomState(seed)

    def mutate(G, D, Gs):
        for state in (G, Gs):
            mapping = state["components"]["mapping"]._state
            for s in (state, state["components"]["synthesis"]._state, mapping):
                s["static_kwargs"]["label_size"] = label_size
            variables = dict(mapping["variables"])
            latent, fmaps = variables["Dense0/weight"].shape
            variables["Dense0/weight"] = rng.randn(2 * latent, fmaps).astype(np.float32) * 100
            mapping["variables"] = ([("LabelConcat/weight", rng.randn(label_size, latent).astype(np.float32))]
                                    + list(variables.items()))
        D["static_kwargs"]["label_size"] = label_size
        variables = dict(D["variables"])
        variables["4x4/Dense1/weight"] = rng.randn(variables["4x4/Dense1/weight"].shape[0], label_size).astype(
            np.float32)
        variables["4x4/Dense1/bias"] = rng.randn(label_size).astype(np.float32) * 0.2
        D["variables"] = list(variables.items())
    return mutate


def numpy_v1_mapping(mapping, z, c):
    """NVIDIA's G_mapping in NumPy: concat([z, c @ LabelConcat]), pixel norm, v1 dense layers."""
    x = np.concatenate([z, c @ mapping.label_layer.weight.numpy()], axis=1).astype(np.float64)
    x = x / np.sqrt(np.mean(x ** 2, axis=1, keepdims=True) + 1e-8)
    for layer in mapping.dense_layers:
        w, b = layer.weight.numpy().astype(np.float64), layer.bias.numpy().astype(np.float64)
        x = x @ (w * np.sqrt(2) / np.sqrt(w.shape[0]) * 0.01) + b * 0.01
        x = np.maximum(x, 0.2 * x)
    return x


def test_conditional_v1_networks_embed_and_select_labels(tmp_path):
    nets = sg.load_network(_mutated(tmp_path, _make_conditional(3)))
    Gs, D = nets.G_ema, nets.D
    assert Gs.c_dim == D.c_dim == 3
    z = np.random.RandomState(0).randn(4, Gs.z_dim).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[[0, 1, 2, 1]]
    w = Gs.mapping(z, c).numpy()
    close(w, np.repeat(numpy_v1_mapping(Gs.mapping, z, c)[:, np.newaxis], Gs.num_ws, axis=1), atol=1e-5)
    img = Gs(z, c).numpy()
    for k in range(3):  # D's score for label k is Dense1's output k: an unconditional D with that column
        single = StyleGAN1Discriminator(**dict(D.get_config(), c_dim=0))
        for name, (var, _) in D.official_weights().items():
            value = var.numpy()
            single.official_weights()[name][0].assign(value[..., k:k + 1] if name.startswith("4x4/Dense1") else value)
        onehot = np.eye(3, dtype=np.float32)[[k] * 4]
        close(D(img, onehot), single(img), atol=1e-6)
    with pytest.raises(ValueError, match="conditional"):
        Gs.mapping(z)
    path = str(tmp_path / "resaved.pkl")
    sg.save_pickle(nets, path)
    again = sg.load_network(path)
    np.testing.assert_array_equal(again.G_ema.mapping(z, c).numpy(), w)
    out = tmp_path / "out"
    assert run_app("generate-images", "--network", path, "--seeds", "5", "--class", "2", "--noise-mode", "const",
                   "--result-dir", out) == 0
    expected = sg.to_uint8(Gs(sg.z_from_seed(5, Gs.z_dim), np.eye(3, dtype=np.float32)[[2]])).numpy()
    assert_uint8_close(_pngs(out, ["seed0005.png"]), expected)
    assert run_app("generate-images", "--network", path, "--seeds", "5", "--result-dir", out) != 0


def test_fine_tuning_a_v1_network_is_refused(small):
    from tf_stylegan2.training import loop
    ds = types.SimpleNamespace(name="data", resolution=64, num_channels=3, label_dim=0)
    with pytest.raises(loop.TrainingError, match=r"StyleGAN \(v1\) network: training v1 networks") as e:
        loop._load_resume_networks(small.path, ds, cond=False)
    assert "\n" not in str(e.value)


def _pngs(directory, names):
    run_dir = run_dir_of(directory)
    return [read_png(os.path.join(run_dir, n)) for n in names]


def test_generate_images_app_writes_nvidias_images_with_the_v1_defaults(small, tmp_path):
    """`generate-images` without --truncation-psi truncates as `Gs.run` (psi 0.7, cutoff 8)."""
    seeds = [10, 11, 12]  # the fixture's z seeds
    assert run_app("generate-images", "--network", small.path, "--seeds", "10-12", "--noise-mode", "const",
                   "--result-dir", tmp_path) == 0
    assert_uint8_close(_pngs(tmp_path, ["seed%04d.png" % s for s in seeds]), small.ref["images_uint8_default"])


def test_style_mixing_app_mixes_nvidias_truncated_latents(small, tmp_path):
    assert run_app("style-mixing-example", "--network", small.path, "--row-seeds", "10", "--col-seeds", "11,12",
                   "--col-styles", "0-3", "--result-dir", tmp_path) == 0
    w = small.ref["dlatents_trunc_default"]  # NVIDIA's G_style truncation of seeds 10, 11, 12
    Gs = small.nets.G_ema
    mixed = w[[0, 0]].copy()
    mixed[:, :4] = w[1:, :4]
    expected = np.concatenate([small.ref["images_uint8_default"], sg.to_uint8(Gs.synthesis(mixed)).numpy()])
    names = ["10-10.png", "11-11.png", "12-12.png", "10-11.png", "10-12.png"]
    assert_uint8_close(_pngs(tmp_path, names), expected)


def test_latent_apps_render_per_layer_latents(small, tmp_path):
    """generate-from-latents renders NVIDIA's per-layer W+ (mix_dlatents); mix-latents with weight 1 on
    every layer gives its first latent back."""
    w = small.ref["mix_dlatents"]
    np.save(str(tmp_path / "a.npy"), w[0])
    np.save(str(tmp_path / "b.npy"), w[1])
    assert run_app("generate-from-latents", "--network", small.path, "--latents", tmp_path / "a.npy",
                   "--result-dir", tmp_path / "from") == 0
    expected = official_uint8(small.ref["images_synthesis_mix"][:1])
    assert_uint8_close(_pngs(tmp_path / "from", ["a.png"]), expected)
    assert run_app("mix-latents", "--network", small.path, "--latent1", tmp_path / "a.npy", "--latent2",
                   tmp_path / "b.npy", "--weights", "1", "--result-dir", tmp_path / "mix") == 0
    assert_uint8_close(_pngs(tmp_path / "mix", ["dst.mixing.png"]), expected)


def test_seeded_noise_follows_the_v1_buffers(small):
    """TF1 generate-images draws every buffer `noise{i}` [1, 1, r, r] after z: v1 has one per layer, 4x4 first."""
    Gs = small.nets.G_ema
    (batch, images), = generation.render_seeds(Gs, [3], truncation_psi=1.0, noise_mode="seeded")
    rnd = np.random.RandomState(3)
    z = rnd.randn(1, Gs.z_dim).astype(np.float32)
    noise = [rnd.randn(1, 1, r, r).astype(np.float32).reshape(1, r, r, 1)
             for r in (4, 4, 8, 8, 16, 16, 32, 32, 64, 64)]
    np.testing.assert_array_equal(images, sg.to_uint8(Gs.synthesis(Gs.mapping(z), noise=noise)).numpy())


@pytest.mark.parametrize("space", ["w", "w+"])
def test_projector_moves_towards_a_generated_image(small, space):
    """Gradients reach w (or W+) and the noise through v1's synthesis. Measured (random VGG16, 20 steps,
    target z seed 10 at psi 0.7): distance ratio last/first 0.73 (w) and 0.65 (w+), image MSE 0.21 ->
    0.18 / 0.13. Asserted with margin: ratio < 0.85, MSE lower."""
    Gs = small.nets.G_ema
    hp = projector.OFFICIAL._replace(num_steps=20, w_avg_samples=1000)
    proj = projector.Projector(Gs, projector.PerceptualDistance(lpips.random_vgg16(0)), space=space,
                               hyperparameters=hp)
    target = Gs.synthesis(Gs.mapping(small.ref["z"][:1], truncation_psi=0.7)).numpy()
    proj.start(target)
    before = proj.images()
    results = list(proj.run(target))
    assert results[-1].distance < 0.85 * results[0].distance
    assert np.mean((proj.images() - target) ** 2) < np.mean((before - target) ** 2)
    w = proj.w()
    assert w.shape == (1, Gs.num_ws, Gs.w_dim)
    assert (np.abs(w - w[:, :1]).max() == 0) == (space == "w")
    assert [n.shape for n in proj.noise()] == [b.shape for b in Gs.synthesis.noise_buffers]


def test_sefa_factorises_the_stylemod_weights(small):
    Gs = small.nets.G_ema
    layers = Gs.synthesis.styled_layers()
    assert len(editing.modulated_conv_layers(Gs)) == Gs.num_ws
    stacked = np.concatenate([layer.style.weight.numpy().T for layer in layers]).astype(np.float64)
    directions, values = editing.sefa_directions(Gs)
    _, s, vt = np.linalg.svd(stacked, full_matrices=False)
    np.testing.assert_allclose(values, s, rtol=1e-5)
    np.testing.assert_allclose(np.abs(directions @ vt.T), np.eye(len(s)), atol=1e-5)


def test_saved_model_serves_nvidias_images_through_the_c_api(small, serve_signature, tmp_path):
    """TF Serving's loader (the `serve_signature` C client) runs `serving_default` with psi 0.7: v1's
    cutoff 8 is part of the exported mapping."""
    export_dir = str(tmp_path / "saved_model")
    export_saved_model(small.nets.G_ema, export_dir)
    images = serve_signature(export_dir, "serving_default", z=small.ref["z"].astype(np.float32),
                             truncation_psi=np.float32(0.7))["images"]
    expected = small.ref["images_uint8_default"]
    assert images.dtype == np.uint8
    assert_uint8_close(images, expected)
    served = sg.load_network(export_dir).G_ema  # the apps read v1's default psi from the SavedModel
    assert generation.default_truncation_psi(served) == pytest.approx(0.7)
    assert run_app("generate-images", "--network", export_dir, "--seeds", "10-12", "--noise-mode", "const",
                   "--result-dir", tmp_path / "apps") == 0
    assert_uint8_close(_pngs(tmp_path / "apps", ["seed%04d.png" % s for s in (10, 11, 12)]), expected)
