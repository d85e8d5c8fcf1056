"""The StyleGAN2-ADA TF fixture (tests/data/ada) against NVIDIA's outputs (its reference.npz).

The pickle is StyleGAN2-ADA TF's own format (Network state version 5 with input/output shapes
and names), conditional with 3 labels, resnet G, skip D, minibatch-stddev groups of 2 and an
active conv_clamp of 256 (two channels are pushed past it; `*_noclamp` are the same networks
without the clamp). Labels follow `reference.json` "labels": the seed at position i has class
i % 3. Every comparison runs on the reference ops and on the custom ops (`impl`).
"""

import os

import numpy as np
import pytest

import tf_stylegan2 as sg
from conftest import (assert_uint8_close, copy_with, fixture_path, load_fixture_networks, load_reference, nhwc,
                      official_uint8)
from test_run_generator import read_png, run_app, run_dir_of
from tf_stylegan2.official.unpickler import load_states_from_bytes

IMG_ATOL = 1e-4
W_ATOL = 1e-4
D_ATOL = 1e-4


@pytest.fixture(scope="module")
def nets():
    return load_fixture_networks("ada")


@pytest.fixture(scope="module")
def ref():
    return load_reference("ada")


def render_each(fn, n):
    """`fn(i) -> [1, ...]` for i < n, one sample per call as the reference -> `[n, ...]`."""
    return np.concatenate([np.asarray(fn(i)) for i in range(n)])


def test_the_fixture_is_a_version_5_ada_pickle_with_the_features_under_test(nets, ref):
    with open(fixture_path("ada"), "rb") as f:
        states = load_states_from_bytes(f.read())
    assert [s.state["version"] for s in states] == [5, 5, 5]
    assert states[1].state["build_func_name"] == "D_main"
    G, D = nets.G_ema, nets.D
    assert (G.c_dim, G.synthesis.architecture, G.synthesis.conv_clamp) == (3, "resnet", 256)
    assert G.mapping.label_mode == "embed"
    assert (D.c_dim, D.architecture, D.conv_clamp, D.mbstd_group_size, D.label_mode) == (3, "skip", 256, 2,
                                                                                        "projection")
    np.testing.assert_array_equal(ref["c"], np.eye(3, dtype=np.float32)[ref["classes"]])
    np.testing.assert_array_equal(ref["classes"], np.arange(len(ref["seeds"])) % 3)


def test_mapping_with_labels(nets, ref, impl):
    G = nets.G_ema
    z, c = ref["z"].astype(np.float32), ref["c"]
    np.testing.assert_array_equal(z, sg.z_from_seeds(ref["seeds"], G.z_dim))
    for psi in ("1", "0.5"):
        w = render_each(lambda i: G.mapping(z[i:i + 1], c[i:i + 1], truncation_psi=float(psi)), len(z))
        np.testing.assert_allclose(w, ref["w_psi" + psi], atol=W_ATOL)
    np.testing.assert_array_equal(G.mapping.w_avg.numpy(), ref["w_avg"])
    np.testing.assert_allclose(nets.G.mapping(z, c).numpy(), ref["G_training_w_psi1"], atol=W_ATOL)
    with pytest.raises(ValueError, match="conditional"):
        G.mapping(z)


@pytest.mark.parametrize("psi", ["1", "0.5"])
def test_images_per_psi_single_batched_and_uint8(nets, ref, impl, psi):
    G = nets.G_ema
    w = ref["w_psi" + psi]
    img = render_each(lambda i: G.synthesis(w[i:i + 1]), len(w))
    np.testing.assert_allclose(img, nhwc(ref["img_psi" + psi]), atol=IMG_ATOL)
    assert_uint8_close(sg.to_uint8(img).numpy(), ref["img_psi%s_uint8_nhwc" % psi])
    if psi == "1":
        np.testing.assert_allclose(G.synthesis(w).numpy(), nhwc(ref["img_psi1_batched"]), atol=IMG_ATOL)


def test_full_forward_training_generator_and_noise_none(nets, ref, impl):
    z, c = ref["z"].astype(np.float32), ref["c"]
    full = render_each(lambda i: nets.G_ema(z[i:i + 1], c[i:i + 1], truncation_psi=0.5), len(z))
    np.testing.assert_allclose(full, nhwc(ref["img_psi0.5_full_forward"]), atol=IMG_ATOL)
    training = render_each(lambda i: nets.G(z[i:i + 1], c[i:i + 1]), len(z))
    np.testing.assert_allclose(training, nhwc(ref["G_training_img_psi1"]), atol=IMG_ATOL)
    none = render_each(lambda i: nets.G_ema.synthesis(ref["w_psi1"][i:i + 1], noise_mode="none"), len(z))
    np.testing.assert_allclose(none, nhwc(ref["img_psi1_noise_none"]), atol=IMG_ATOL)


@pytest.mark.parametrize("psi", [1.0, 0.5])
def test_tf1_seeded_noise_with_labels(nets, ref, impl, psi):
    G = nets.G_ema
    for i, buf in enumerate(G.synthesis.noise_buffers):
        np.testing.assert_array_equal(buf.numpy()[0, :, :, 0], ref["noise_const/noise%d" % i])

    def render(i):
        z, noise = sg.seeded_noise(int(ref["seeds"][i]), G.z_dim, G.synthesis.num_noise)
        return G.synthesis(G.mapping(z, ref["c"][i:i + 1], truncation_psi=psi), noise=noise)

    img = render_each(render, len(ref["seeds"]))
    np.testing.assert_allclose(img, nhwc(ref["img_psi%g_tf_seeded_noise" % psi]), atol=IMG_ATOL)


@pytest.mark.parametrize("key", ["mix", "mix_b"])
def test_style_mixing_with_labels(nets, ref, impl, key):
    G = nets.G_ema
    c = np.eye(3, dtype=np.float32)
    w_rows = G.mapping(sg.z_from_seeds(ref["mix_row_seeds"], G.z_dim), c[ref["mix_row_classes"]]).numpy()
    w_cols = G.mapping(sg.z_from_seeds(ref["mix_col_seeds"], G.z_dim), c[ref["mix_col_classes"]]).numpy()
    img = np.stack([np.concatenate([G.style_mix(w_rows[r:r + 1], w_cols[j:j + 1], ref[key + "_col_styles"]).numpy()
                                    for j in range(len(w_cols))]) for r in range(len(w_rows))])
    np.testing.assert_allclose(img, ref[key + "_img"].transpose(0, 1, 3, 4, 2), atol=IMG_ATOL)


def test_conv_clamp_is_active_and_matches_the_unclamped_reference(nets, ref, impl):
    """Without the clamp the same weights give NVIDIA's `*_noclamp` outputs, which differ from the
    clamped ones by far more than the tolerance: the clamp changes what the reference compares."""
    synthesis = copy_with(nets.G_ema.synthesis, sg.SynthesisNetwork, conv_clamp=None)
    noclamp = render_each(lambda i: synthesis(ref["w_psi1"][i:i + 1]), len(ref["seeds"]))
    np.testing.assert_allclose(noclamp, nhwc(ref["img_psi1_noclamp"]), atol=IMG_ATOL)
    assert np.abs(ref["img_psi1_noclamp"] - ref["img_psi1"]).max() > 100 * IMG_ATOL
    D = copy_with(nets.D, sg.Discriminator, conv_clamp=None)
    img, c = nhwc(ref["img_psi1"]), ref["c"]
    scores = render_each(lambda i: D(img[i:i + 1], c[i:i + 1]), len(img))
    np.testing.assert_allclose(scores, ref["D_score_img_psi1_noclamp"], atol=D_ATOL)
    assert np.abs(ref["D_score_img_psi1_noclamp"] - ref["D_score_img_psi1"]).max() > 100 * D_ATOL


def test_discriminator_scores_with_labels_and_mbstd_groups(nets, ref, impl):
    """Groups of 2 (the pickle's mbstd_group_size) for batches of 4 and 8; the group-4 result of
    the same images is a different number (checked with a copy whose group size is 4)."""
    D = nets.D
    img, c = nhwc(ref["img_psi1"]), ref["c"]
    np.testing.assert_allclose(render_each(lambda i: D(img[i:i + 1], c[i:i + 1]), 4), ref["D_score_img_psi1"],
                               atol=D_ATOL)
    np.testing.assert_allclose(D(img, c).numpy(), ref["D_score_img_psi1_batch4"], atol=D_ATOL)
    next_c = np.eye(3, dtype=np.float32)[(ref["classes"] + 1) % 3]
    np.testing.assert_allclose(render_each(lambda i: D(img[i:i + 1], next_c[i:i + 1]), 4),
                               ref["D_score_img_psi1_next_class"], atol=D_ATOL)
    assert np.abs(ref["D_score_img_psi1_next_class"] - ref["D_score_img_psi1"]).max() > 100 * D_ATOL

    rnd, rnd_c = nhwc(ref["D_random_images"]), ref["D_random_c"]
    np.testing.assert_array_equal(rnd_c, np.eye(3, dtype=np.float32)[np.arange(8) % 3])
    single = render_each(lambda i: D(rnd[i:i + 1], rnd_c[i:i + 1]), 8)
    np.testing.assert_allclose(single, ref["D_score_random_single"], atol=D_ATOL)
    np.testing.assert_allclose(D(rnd[:4], rnd_c[:4]).numpy(), ref["D_score_random_batch4"], atol=D_ATOL)
    batch8 = D(rnd, rnd_c).numpy()
    np.testing.assert_allclose(batch8, ref["D_score_random_batch8_tf_group2"], atol=D_ATOL)
    np.testing.assert_allclose(batch8, ref["D_score_random_batch8_legacy_groupN"], atol=D_ATOL)
    group4 = copy_with(D, sg.Discriminator, mbstd_group_size=4)(rnd, rnd_c).numpy()
    np.testing.assert_allclose(group4, ref["D_score_random_batch8_tf_group4"], atol=D_ATOL)
    assert np.abs(batch8 - ref["D_score_random_batch8_tf_group4"]).max() > 10 * D_ATOL


def test_generate_images_with_a_class(ref, tmp_path, impl):
    """run_generator.py generate-images --class on the conditional pickle: seeds 0 and 5 have
    class 0 in the reference, so their PNGs are NVIDIA's const-noise psi-1 images."""
    index = [i for i, k in enumerate(ref["classes"]) if k == 0]
    seeds = [int(ref["seeds"][i]) for i in index]
    assert run_app("generate-images", "--network", fixture_path("ada"), "--seeds", ",".join(map(str, seeds)),
                   "--class", 0, "--truncation-psi", 1, "--noise-mode", "const", "--result-dir", tmp_path) == 0
    out = run_dir_of(tmp_path)
    pngs = [read_png(os.path.join(out, "seed%04d.png" % s)) for s in seeds]
    assert_uint8_close(pngs, official_uint8(ref["img_psi1"][index]))
