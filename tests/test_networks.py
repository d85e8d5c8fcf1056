"""The Keras networks against NVIDIA's reference outputs (tests/data/*/reference.npz).

Every comparison with NVIDIA's outputs runs on the reference ops and on the custom ops (`impl`).
"""

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan2 as sg
from tf_stylegan2.ops import dispatch
from conftest import assert_uint8_close, copy_with, fixture_path, load_reference, nhwc

IMG_ATOL = 1e-4
W_ATOL = 1e-4


def render_each(fn, n):
    """Evaluate `fn(i) -> [1, H, W, C]` for i < n (batch 1, as the reference) -> [n, H, W, C]."""
    return np.concatenate([np.asarray(fn(i)) for i in range(n)])


def set_fused(G, fused):
    for layer in G.synthesis._flatten_layers():
        if hasattr(layer, "fused_modconv"):
            layer.fused_modconv = fused


def test_mapping_matches_reference(nets, ref, impl):
    z = ref["z"].astype(np.float32)
    np.testing.assert_allclose(nets.G_ema.mapping(z).numpy(), ref["w_psi1"], atol=W_ATOL)
    np.testing.assert_allclose(nets.G_ema.mapping(z, truncation_psi=0.5).numpy(), ref["w_psi0.5"], atol=W_ATOL)
    np.testing.assert_allclose(nets.G_ema.mapping.w_avg.numpy(), ref["w_avg"], atol=0)
    assert nets.G_ema.num_ws == ref["w_psi1"].shape[1]


@pytest.mark.parametrize("psi", ["1", "0.5"])
def test_images_single_and_uint8(nets, ref, psi, impl):
    G = nets.G_ema
    w = ref["w_psi" + psi]
    img = render_each(lambda i: G.synthesis(w[i:i + 1]), len(w))
    np.testing.assert_allclose(img, nhwc(ref["img_psi" + psi]), atol=IMG_ATOL)
    assert_uint8_close(sg.to_uint8(img).numpy(), ref["img_psi%s_uint8_nhwc" % psi])


def test_images_batched_full_forward_and_noise_none(nets, ref, impl):
    G = nets.G_ema
    z = ref["z"].astype(np.float32)
    np.testing.assert_allclose(G.synthesis(ref["w_psi1"]).numpy(), nhwc(ref["img_psi1_batched"]), atol=IMG_ATOL)
    full = render_each(lambda i: G(z[i:i + 1], truncation_psi=0.5), len(z))
    np.testing.assert_allclose(full, nhwc(ref["img_psi0.5_full_forward"]), atol=IMG_ATOL)
    none = render_each(lambda i: G.synthesis(ref["w_psi1"][i:i + 1], noise_mode="none"), len(z))
    np.testing.assert_allclose(none, nhwc(ref["img_psi1_noise_none"]), atol=IMG_ATOL)


def test_noise_buffers_are_the_stored_noise(nets, ref):
    for i, buf in enumerate(nets.G_ema.synthesis.noise_buffers):
        np.testing.assert_array_equal(buf.numpy()[0, :, :, 0], ref["noise_const/noise%d" % i])


@pytest.mark.parametrize("psi", [1.0, 0.5])
def test_tf1_seeded_noise_convention(nets, ref, psi, impl):
    G = nets.G_ema

    def render(i):
        z, noise = sg.seeded_noise(int(ref["seeds"][i]), G.z_dim, G.synthesis.num_noise)
        np.testing.assert_array_equal(z, ref["z"][i:i + 1].astype(np.float32))
        return G.synthesis(G.mapping(z, truncation_psi=psi), noise=noise)

    img = render_each(render, len(ref["seeds"]))
    np.testing.assert_allclose(img, nhwc(ref["img_psi%g_tf_seeded_noise" % psi]), atol=IMG_ATOL)


def test_training_generator_is_distinct(nets, ref, impl):
    z = ref["z"].astype(np.float32)
    G = nets.G
    np.testing.assert_allclose(G.mapping(z).numpy(), ref["G_training_w_psi1"], atol=W_ATOL)
    img = render_each(lambda i: G(z[i:i + 1]), len(z))
    np.testing.assert_allclose(img, nhwc(ref["G_training_img_psi1"]), atol=IMG_ATOL)
    assert np.abs(img - nhwc(ref["img_psi1"])).max() > 10 * IMG_ATOL


@pytest.mark.parametrize("key", ["mix", "mix_b"])
def test_style_mixing(nets, ref, key, impl):
    G = nets.G_ema
    w_rows = G.mapping(sg.z_from_seeds(ref["mix_row_seeds"], G.z_dim)).numpy()
    w_cols = G.mapping(sg.z_from_seeds(ref["mix_col_seeds"], G.z_dim)).numpy()
    styles = ref[key + "_col_styles"]
    for r in range(len(w_rows)):
        for c in range(len(w_cols)):
            img = G.style_mix(w_rows[r:r + 1], w_cols[c:c + 1], styles)
            np.testing.assert_allclose(img[0], nhwc(ref[key + "_img"][r])[c], atol=IMG_ATOL)


def test_discriminator_scores(nets, ref, impl):
    D = nets.D
    single = render_each(lambda i: D(nhwc(ref["img_psi1"][i:i + 1])), len(ref["img_psi1"]))
    np.testing.assert_allclose(single, ref["D_score_img_psi1"], atol=1e-4)
    np.testing.assert_allclose(D(nhwc(ref["img_psi1"][:4])).numpy(), ref["D_score_img_psi1_batch4"], atol=1e-4)
    rnd = nhwc(ref["D_random_images"])
    np.testing.assert_allclose(render_each(lambda i: D(rnd[i:i + 1]), 8), ref["D_score_random_single"], atol=1e-4)
    np.testing.assert_allclose(D(rnd[:4]).numpy(), ref["D_score_random_batch4"], atol=1e-4)
    np.testing.assert_allclose(D(rnd).numpy(), ref["D_score_random_batch8_tf_group4"], atol=1e-4)
    # TF groups of 4 differ from one group of 8 (the legacy ADA conversion): guard against the wrong grouping
    assert np.abs(D(rnd).numpy() - ref["D_score_random_batch8_legacy_groupN"]).max() > 2e-4
    # mbstd_group_size=None (StyleGAN2-ADA D_main's default) is one group of the whole minibatch
    whole = copy_with(D, sg.Discriminator, mbstd_group_size=None)(rnd).numpy()
    np.testing.assert_allclose(whole, ref["D_score_random_batch8_legacy_groupN"], atol=1e-4)


def test_fused_and_nonfused_modconv_agree(nets, ref, impl):
    G = nets.G_ema
    w = ref["w_psi1"][:3]
    try:
        set_fused(G, True)
        fused = G.synthesis(w).numpy()
    finally:
        set_fused(G, "auto")
    np.testing.assert_allclose(fused, G.synthesis(w).numpy(), atol=1e-5)
    np.testing.assert_allclose(fused, nhwc(ref["img_psi1_batched"][:3]), atol=IMG_ATOL)


def test_eager_function_and_xla_agree(impl):
    G = sg.load_network(fixture_path("orig")).G_ema
    G.execution = "eager"
    ref = load_reference("orig")
    z = ref["z"][:2].astype(np.float32)
    eager = G(z, truncation_psi=0.5).numpy()
    graph = tf.function(lambda t: G(t, truncation_psi=0.5))(z).numpy()
    with dispatch.reference_only():
        xla = tf.function(lambda t: G(t, truncation_psi=0.5), jit_compile=True)(z).numpy()
    for got in (eager, graph, xla):
        np.testing.assert_allclose(got, nhwc(ref["img_psi0.5_full_forward"][:2]), atol=IMG_ATOL)


def directional_derivatives(loss, values, eps=1e-2, seed=0):
    """(analytic, central-difference) derivatives of `loss(values)` along one random unit direction
    per entry of `values` (a list of float32 arrays)."""
    rng = np.random.RandomState(seed)
    variables = [tf.Variable(v) for v in values]
    with tf.GradientTape() as tape:
        value = loss(variables)
    grads = tape.gradient(value, variables)
    out = []
    for k, (v, g) in enumerate(zip(values, grads)):
        d = rng.randn(*v.shape)
        d = (d / np.linalg.norm(d)).astype(np.float32)
        shifted = lambda sign: [u + sign * eps * d if j == k else u for j, u in enumerate(values)]
        numeric = (float(loss(shifted(1))) - float(loss(shifted(-1)))) / (2 * eps)
        out.append((float(np.sum(g.numpy() * d)), numeric))
    return out


def test_gradients_wrt_w_and_noise_match_finite_differences(nets, ref, impl):
    """d sum(img * probe) / d w and / d each noise input, along a random unit direction each,
    against central differences. Float32 with eps 1e-2: rounding gives ~1e-3 absolute error and
    the lrelu kinks crossed a few percent (measured: at most 4 %, 0.004)."""
    G = nets.G_ema
    res = G.img_resolution
    probe = np.random.RandomState(1).randn(2, res, res, G.img_channels).astype(np.float32)
    values = [ref["w_psi1"][:2]] + [b.numpy() for b in G.synthesis.noise_buffers]
    loss = lambda v: tf.reduce_sum(G.synthesis(v[0], noise=v[1:]) * probe)
    for analytic, numeric in directional_derivatives(loss, values):
        assert abs(analytic - numeric) <= 0.05 * abs(analytic) + 2e-3, (analytic, numeric)


def test_truncation_cutoff_and_noise_modes(nets, ref, impl):
    G = nets.G_ema
    z = ref["z"][:2].astype(np.float32)
    w = G.mapping(z, truncation_psi=0.5, truncation_cutoff=3).numpy()
    np.testing.assert_allclose(w[:, :3], ref["w_psi0.5"][:2, :3], atol=W_ATOL)
    np.testing.assert_allclose(w[:, 3:], ref["w_psi1"][:2, 3:], atol=W_ATOL)
    a, b = G.synthesis(w, noise_mode="random").numpy(), G.synthesis(w, noise_mode="random").numpy()
    assert np.abs(a - b).max() > 1e-3
    explicit = G.synthesis(w, noise=[v.numpy()[:, :, :, 0] for v in G.synthesis.noise_buffers]).numpy()
    np.testing.assert_allclose(explicit, G.synthesis(w).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(w, noise_mode="loud")


def test_config_round_trip_rebuilds_the_same_network(nets, ref):
    G = nets.G_ema
    clone = sg.Generator.from_config(G.get_config())
    for name, (var, _) in G.official_weights().items():
        clone.official_weights()[name][0].assign(var)
    z = ref["z"][:1].astype(np.float32)
    np.testing.assert_allclose(clone(z).numpy(), G(z).numpy(), atol=1e-6)
    D2 = sg.Discriminator(**nets.D.get_config())
    assert sorted(D2.official_weights()) == sorted(nets.D.official_weights())


def test_channel_rule_and_layer_counts():
    from tf_stylegan2.networks.common import channels_rule
    nf_f, nf_e = channels_rule(16384), channels_rule(8192)
    assert [nf_f(r - 1) for r in range(2, 11)] == [512, 512, 512, 512, 512, 256, 128, 64, 32]
    assert [nf_e(r - 1) for r in range(6, 11)] == [256, 128, 64, 32, 16]
    syn = sg.SynthesisNetwork(img_resolution=64, fmap_base=256, fmap_max=32, architecture="resnet")
    assert syn.num_ws == 10 and syn.num_noise == 9
    assert syn(np.zeros([1, 10, 512], np.float32)).shape == (1, 64, 64, 3)
    D = sg.Discriminator(img_resolution=64, fmap_base=256, fmap_max=32, architecture="skip")
    assert D(np.zeros([2, 64, 64, 3], np.float32)).shape == (2, 1)
    with pytest.raises(ValueError, match="power of two"):
        sg.SynthesisNetwork(img_resolution=48)


def test_conditional_label_modes():
    for mode in ("concat", "embed"):
        m = sg.MappingNetwork(z_dim=16, c_dim=3, w_dim=8, num_ws=4, num_layers=2, layer_features=8, label_mode=mode)
        c = np.eye(3, dtype=np.float32)
        w = m(np.ones([3, 16], np.float32), c).numpy()
        assert w.shape == (3, 4, 8) and np.abs(w[0] - w[1]).max() > 0
        with pytest.raises(ValueError, match="conditional"):
            m(np.ones([3, 16], np.float32))
