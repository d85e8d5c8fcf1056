"""The pSp encoder's SavedModel: written by the converter app (`--encoder`), its `encode` and
`encode_decode` signatures checked in Python and through TF Serving's own loader (the C client
`tests/c/saved_model_client.c` of the `serve_signature` fixture, built against the C API in the
`tensorflow` wheel, loading with `TF_LoadSessionFromSavedModel`), against the Keras encoder and
pSp's reference outputs."""

import os

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan2 as sg
from conftest import assert_uint8_close
from psp_fixture import TOL, load_psp, nhwc, psp_path, psp_refs, run_app
from tf_stylegan2.apps import convert_pkl
from tf_stylegan2.export.encoder_saved_model import SIGNATURES


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("psp") / "converted")
    assert run_app(convert_pkl, "--encoder=" + psp_path(), "--output-dir=" + out) == 0
    return os.path.join(out, "saved_model")


@pytest.fixture(scope="module")
def loaded(export_dir):
    return tf.saved_model.load(export_dir)


@pytest.fixture(scope="module")
def inputs():
    """uint8 [4, 64, 64, 3]: pSp's PIL-resized test PNG and three fixture inputs."""
    ref = psp_refs()
    x = np.rint((nhwc(ref["x"]) * 0.5 + 0.5) * 255).astype(np.uint8)
    return np.concatenate([ref["png_resized_uint8"][np.newaxis], x])


def test_signatures_match_the_keras_encoder(loaded, inputs):
    psp, ref = load_psp(), psp_refs()
    assert set(SIGNATURES) <= set(loaded.signatures)
    w = loaded.signatures["encode"](images=tf.constant(inputs))["w"].numpy()
    np.testing.assert_allclose(w, psp.encode(inputs), atol=1e-5)
    np.testing.assert_allclose(w[:1], ref["png_codes"], **TOL)
    images = loaded.signatures["encode_decode"](images=tf.constant(inputs))["images"].numpy()
    assert images.dtype == np.uint8 and images.shape == (4, 32, 32, 3)
    assert_uint8_close(images, sg.to_uint8(psp.reconstruct(inputs)).numpy())
    assert_uint8_close(images[:1], sg.to_uint8(nhwc(ref["png_images"])).numpy())


def test_other_sizes_are_resized_in_the_graph(loaded):
    png = psp_refs()["png_uint8"]  # 90 x 100: antialiased bilinear in TF, close to PIL's filter
    w = loaded.signatures["encode"](images=tf.constant(png[np.newaxis]))["w"].numpy()
    expected = load_psp().encode(png)
    assert np.abs(w - expected).max() < 0.05 * np.std(expected)


def test_tf_serving_loader_runs_encode_decode(serve_signature, export_dir, inputs):
    images = serve_signature(export_dir, "encode_decode", images=inputs)["images"]
    assert images.dtype == np.uint8 and images.shape == (4, 32, 32, 3)
    assert_uint8_close(images[:1], sg.to_uint8(nhwc(psp_refs()["png_images"])).numpy())
    assert_uint8_close(images, sg.to_uint8(load_psp().reconstruct(inputs)).numpy())


def test_converter_refuses_encoder_with_generator_options(tmp_path, capsys):
    code = run_app(convert_pkl, "--encoder=" + psp_path(), "--verify=2", "--output-dir=" + str(tmp_path / "out"))
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--encoder writes the encoder's SavedModel only" in err[0]
    assert not os.path.exists(tmp_path / "out")
