"""pSp's GradualStyleEncoder against pSp's own outputs (the `tests/data/psp` fixture, see
`psp_fixture.py`): the backbone taps, the pyramid maps, the codes, the resampling helpers and the
PNG preprocessing."""

import numpy as np
import pytest

from psp_fixture import TOL, nhwc, psp_path, psp_refs
from tf_stylegan2.encoders import preprocess, resampling
from tf_stylegan2.encoders.psp_weights import encoder_config, encoder_from_state_dict
from tf_stylegan2.official.torch_pickle import load_torch_file
from tf_stylegan2.official.unpickler import NetworkPickleError


def encoder_tensors(path=None):
    state = load_torch_file(path or psp_path())["state_dict"]
    return {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}


@pytest.fixture(scope="module")
def encoder():
    return encoder_from_state_dict(encoder_tensors())


def test_architecture_is_read_from_the_weights():
    config = encoder_config(encoder_tensors())
    assert config == dict(input_width=16, input_nc=3, depths=[16, 24, 32, 40], fpn_width=40, style_dim=32,
                          n_styles=8, coarse_convs=2, se=True)


def test_taps_pyramid_and_codes_match_psp(encoder):
    ref = psp_refs()
    assert encoder.input_size == 64
    features = encoder.features(nhwc(ref["x"]))
    for key in ("c1", "c2", "c3", "p2", "p1"):
        np.testing.assert_allclose(features[key].numpy(), nhwc(ref[key]), err_msg=key, **TOL)
    np.testing.assert_allclose(features["codes"].numpy(), ref["codes_raw"], **TOL)


def test_every_weight_is_used_and_batch_counters_are_ignored():
    tensors = encoder_tensors()
    counters = {k for k in tensors if k.endswith(".num_batches_tracked")}
    assert counters
    encoder_from_state_dict(tensors)
    assert set(tensors) == counters  # all others were consumed


@pytest.mark.parametrize("mutation, message", [
    (lambda t: t.pop("styles.3.linear.bias"), "missing weights styles.3.linear.bias"),
    (lambda t: t.update({"styles.0.extra": np.zeros([1], np.float32)}), "unexpected weights styles.0.extra"),
    (lambda t: [t.pop(k) for k in list(t) if k.startswith("body.23.")], "expected IR-50's 24 body units"),
    (lambda t: t.update({"latlayer2.weight": np.zeros([40, 23, 1, 1], np.float32)}), "latlayer2.weight has shape"),
    (lambda t: t.update({"input_layer.2.weight": np.zeros([16], np.int64)}), "holds int64 values"),
])
def test_malformed_state_dicts_are_refused_in_one_line(mutation, message):
    tensors = encoder_tensors()
    mutation(tensors)
    with pytest.raises(NetworkPickleError, match=message) as e:
        encoder_from_state_dict(tensors)
    assert "\n" not in str(e.value)


def test_adaptive_pool_is_psps_face_pool():
    ref = psp_refs()
    images = nhwc(ref["images"])
    for size in (16, 8):
        pooled = resampling.adaptive_avg_pool(images, size).numpy()
        np.testing.assert_allclose(pooled, nhwc(ref["images_pool%d" % size]), atol=1e-6)


@pytest.mark.parametrize("n_in, n_out", [(4, 8), (8, 16), (5, 9), (3, 1)])
def test_align_corners_matrix_samples_the_corner_aligned_positions(n_in, n_out):
    m = resampling.align_corners_matrix(n_in, n_out)
    source = np.arange(n_in, dtype=np.float32) ** 2
    pos = np.linspace(0, n_in - 1, n_out) if n_out > 1 else np.zeros([1])
    np.testing.assert_allclose(m @ source, np.interp(pos, np.arange(n_in), source), rtol=1e-6)


def test_adaptive_pool_matrix_windows():
    m = resampling.adaptive_pool_matrix(188, 112)  # pSp's ID-loss pool: non-integer windows
    i = 5
    lo, hi = (i * 188) // 112, -((-(i + 1) * 188) // 112)
    assert np.flatnonzero(m[i]).tolist() == list(range(lo, hi))
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-6)


def test_png_preprocessing_matches_psps_transform():
    ref = psp_refs()
    image = preprocess.read_rgb(psp_path("input.png"))
    np.testing.assert_array_equal(image, ref["png_uint8"])
    resized = preprocess.resize(image, 64)
    np.testing.assert_array_equal(resized, ref["png_resized_uint8"])
    x = preprocess.encoder_inputs(image, 64)
    np.testing.assert_array_equal(x, nhwc(ref["png_x"]))


def test_encoder_inputs_refuse_what_does_not_fit():
    with pytest.raises(ValueError, match="must already be 64x64"):
        preprocess.encoder_inputs(np.zeros([1, 32, 32, 3], np.float32), 64)
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        preprocess.encoder_inputs(np.zeros([1, 64, 64, 4], np.uint8), 64)
    with pytest.raises(ValueError, match="uint8 or floats"):
        preprocess.encoder_inputs(np.zeros([1, 64, 64, 3], np.int32), 64)
