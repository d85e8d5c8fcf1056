"""`run_encoder.py encode` and `run_projector.py project-real-images --init=encoder:` on the pSp
fixture (`tests/data/psp`), run in this process as a user runs them: the files written, the
decoder swap, one-line errors."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

import official_writer
from conftest import read_png, run_dir_of
import tf_stylegan2 as sg
from psp_fixture import load_psp, psp_path, run_app
from tf_stylegan2.apps import run_encoder, run_projector
from tf_stylegan2.encoders import preprocess
from tf_stylegan2.images import to_uint8_rounded
from tf_stylegan2.projector import lpips, targets


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("faces")
    shutil.copy(psp_path("input.png"), d / "a.png")
    rng = np.random.RandomState(0)
    Image.fromarray(rng.randint(0, 256, [70, 50, 3]).astype(np.uint8)).save(d / "b.png")
    Image.fromarray(rng.randint(0, 256, [64, 64, 4]).astype(np.uint8), "RGBA").save(d / "c.png")
    return d


def test_encode_writes_reconstructions_latents_and_side_by_side(images_dir, tmp_path):
    result_dir = tmp_path / "results"
    assert run_app(run_encoder, "encode", "--encoder=" + psp_path(), "--images=" + str(images_dir), "--batch=2",
                   "--result-dir=" + str(result_dir)) == 0
    run_dir = run_dir_of(result_dir)
    psp = load_psp()
    for i, name in enumerate(["a", "b", "c"]):
        prefix = os.path.join(run_dir, "%04d-%s-" % (i, name))
        image = preprocess.read_rgb(os.path.join(images_dir, name + ".png"))
        w = psp.encode(image)
        with np.load(prefix + "projected_w.npz") as f:
            np.testing.assert_allclose(f["w"], w, atol=1e-5)
        np.testing.assert_allclose(np.load(prefix + "dst.npy"), w[0], atol=1e-5)
        assert np.abs(read_png(prefix + "reconstruction.png").astype(int)
                      - to_uint8_rounded(psp.decode(w)[0])).max() <= 1
        side = read_png(prefix + "side_by_side.png")
        assert side.shape == (32, 64, 3)
        np.testing.assert_array_equal(side[:, :32], preprocess.resize(image, 32))


def test_resize_outputs_and_decoder_swap(images_dir, tmp_path):
    decoder = official_writer.write(str(tmp_path / "blended.pkl"), resolution=32,
                                    G_args=dict(latent_size=32, dlatent_size=32, fmap_base=64, fmap_max=32),
                                    D_args=dict(fmap_base=64, fmap_max=32))
    result_dir = tmp_path / "results"
    assert run_app(run_encoder, "encode", "--encoder=" + psp_path(), "--images=" + str(images_dir / "a.png"),
                   "--decoder=" + decoder, "--resize-outputs", "--result-dir=" + str(result_dir)) == 0
    prefix = os.path.join(run_dir_of(result_dir), "0000-a-")
    w = np.load(prefix + "dst.npy")
    G = sg.load_network(decoder).G_ema
    pooled = sg.encoders.pool_outputs(G.synthesis(w[np.newaxis], noise_mode="const"))[0]
    assert read_png(prefix + "reconstruction.png").shape == (256, 256, 3)
    assert np.abs(read_png(prefix + "reconstruction.png").astype(int) - to_uint8_rounded(pooled)).max() <= 1


@pytest.mark.parametrize("case", ["decoder_mismatch", "no_images", "not_psp"])
def test_bad_input_is_one_line(images_dir, tmp_path, capsys, case):
    args = ["encode", "--encoder=" + psp_path(), "--images=" + str(images_dir), "--result-dir=" + str(tmp_path / "r")]
    if case == "decoder_mismatch":
        args.append("--decoder=" + official_writer.write(str(tmp_path / "g8.pkl"), resolution=8,
                                                         G_args=dict(latent_size=32, dlatent_size=32, fmap_base=64,
                                                                     fmap_max=32), D_args=dict(fmap_base=64)))
        message = "the decoder takes 4 ws of 32, the encoder gives 8 of 32"
    elif case == "no_images":
        args[2] = "--images=" + str(tmp_path / "missing")
        message = "no image files found"
    else:
        args[1] = "--encoder=" + str(images_dir / "a.png")
        message = str(images_dir / "a.png") + ": "
    assert run_app(run_encoder, *args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("run_encoder.py: error: ") and message in err[0], err
    assert not os.path.exists(tmp_path / "r")


def test_projector_init_from_the_encoder(tmp_path):
    vgg16 = str(tmp_path / "vgg16.weights.h5")
    lpips.random_vgg16(0).save_weights(vgg16)
    result_dir = tmp_path / "results"
    assert run_app(run_projector, "project-real-images", "--init=encoder:" + psp_path(),
                   "--images=" + psp_path("input.png"), "--num-steps=1", "--num-snapshots=1", "--w-avg-samples=100",
                   "--vgg16=" + vgg16, "--result-dir=" + str(result_dir)) == 0
    target, _ = targets.load_image(psp_path("input.png"), 32)
    with np.load(os.path.join(run_dir_of(result_dir), "image0000-projected_w.npz")) as f:
        # step 1 runs at learning rate 0 (the ramp-up): the result is the encoder's code
        np.testing.assert_allclose(f["w"], load_psp().encode(to_uint8_rounded(target[0])), atol=1e-5)


def test_projector_init_needs_w_plus(tmp_path, capsys):
    assert run_app(run_projector, "project-real-images", "--init=encoder:" + psp_path(), "--space=w",
                   "--images=" + psp_path("input.png"), "--result-dir=" + str(tmp_path / "r")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "use --space=w+" in err[0], err
