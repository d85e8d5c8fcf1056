"""`sg.load_encoder` on pSp checkpoints (`tests/data/psp`, see test_psp_encoder.py) against pSp's
own outputs: W+ codes and decoded images in both `latent_avg` forms, the PNG path, face_pool,
the decoder swap, the projector started from an encoder's code, and refused files."""

import collections
import os
import zipfile

import numpy as np
import pytest

import tf_stylegan2 as sg
from psp_fixture import TOL, load_psp, nhwc, psp_path, psp_refs
from tf_stylegan2 import projector
from tf_stylegan2.encoders import PSPEncoder
from tf_stylegan2.networks import Generator, MappingNetwork, SynthesisNetwork
from tf_stylegan2.official.torch_pickle import load_torch_file
from tf_stylegan2.official.torch_save import save_torch_file
from tf_stylegan2.official.unpickler import NetworkPickleError
from tf_stylegan2.projector import lpips


@pytest.fixture(scope="module")
def psp():
    return load_psp()


def random_generator(resolution=32, w_dim=32):
    num_ws = 2 * int(np.log2(resolution)) - 2
    return Generator(MappingNetwork(z_dim=w_dim, w_dim=w_dim, num_ws=num_ws, num_layers=2, layer_features=w_dim,
                                    name="mapping"),
                     SynthesisNetwork(w_dim=w_dim, img_resolution=resolution, fmap_base=256, fmap_max=32,
                                      name="synthesis"))


def test_attributes_come_from_the_checkpoint(psp):
    assert (psp.input_size, psp.n_styles, psp.w_dim) == (64, 8, 32)
    assert psp.start_from_latent_avg and psp.opts["dataset_type"] == "ffhq_encode"
    assert psp.latent_avg.shape == (8, 32)
    assert (psp.decoder.num_ws, psp.decoder.w_dim, psp.decoder.img_resolution) == (8, 32, 32)


@pytest.mark.parametrize("form", ["2d", "1d"])
def test_codes_and_images_match_psp(form):
    ref = psp_refs()
    path, codes, images = ((psp_path(), ref["codes"], ref["images"]) if form == "2d" else
                           (psp_path("psp-narrow-latentavg1d.pt"), ref["la1d_codes"], ref["la1d_images"]))
    psp = load_psp(os.path.basename(path))
    np.testing.assert_array_equal(psp.latent_avg, ref["latent_avg"] if form == "2d" else ref["la1d_latent_avg"])
    x = nhwc(ref["x"])
    w = psp.encode(x)
    np.testing.assert_allclose(w, codes, **TOL)
    np.testing.assert_allclose(psp.reconstruct(x).numpy(), nhwc(images), **TOL)


def test_png_path_matches_psp(psp):
    ref = psp_refs()
    w = psp.encode(ref["png_uint8"])  # uint8 at any size: pSp's PIL resize and normalisation
    np.testing.assert_allclose(w, ref["png_codes"], **TOL)
    images = psp.decode(w).numpy()
    np.testing.assert_allclose(images, nhwc(ref["png_images"]), **TOL)
    lsb = np.abs(sg.to_uint8(images).numpy().astype(int) - sg.to_uint8(nhwc(ref["png_images"])).numpy())
    assert lsb.max() <= 1


def test_resize_outputs_is_psps_face_pool(psp):
    ref = psp_refs()
    pooled = psp.reconstruct(nhwc(ref["x"][:2]), resize_outputs=True).numpy()
    assert pooled.shape == (2, 256, 256, 3)  # 32 -> 256: 8x nearest replication, as pSp's loss_y_hat
    np.testing.assert_allclose(pooled[:, ::8, ::8], nhwc(ref["images"][:2]), **TOL)


def test_decoder_swap_and_mismatch(psp):
    other = random_generator()
    swapped = sg.load_encoder(psp_path(), decoder=other)
    assert swapped.decoder is other
    x = nhwc(psp_refs()["x"][:1])
    np.testing.assert_array_equal(swapped.encode(x), psp.encode(x))
    with pytest.raises(ValueError, match="the decoder takes 10 ws of 32, the encoder gives 8 of 32") as e:
        sg.load_encoder(psp_path(), decoder=random_generator(64))
    assert "\n" not in str(e.value)


def test_projector_starts_from_the_encoders_code(psp):
    target = psp.decode(psp.encode(psp_refs()["png_uint8"])).numpy() * 0.5
    w = psp.encode(sg.to_uint8(target[0]).numpy())
    proj = projector.Projector(psp.decoder, projector.PerceptualDistance(lpips.random_vgg16(0)), space="w+",
                               hyperparameters=projector.OFFICIAL._replace(num_steps=1, w_avg_samples=100))
    proj.start(target, w)
    np.testing.assert_array_equal(proj.w(), w)
    np.testing.assert_allclose(proj.images(), psp.decode(w).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="space 'w\\+'"):
        projector.Projector(psp.decoder, proj.distance, space="w",
                            hyperparameters=proj.hp).start(target, w)


def checkpoint(**changes):
    obj = load_torch_file(psp_path())
    obj = {"state_dict": collections.OrderedDict(obj["state_dict"]), "opts": dict(obj["opts"]),
           "latent_avg": obj["latent_avg"]}
    for key, value in changes.items():
        if value is None:
            obj.pop(key)
        elif key == "opts":
            obj["opts"].update(value)
        else:
            obj[key] = value
    return obj


@pytest.mark.parametrize("changes, message", [
    (dict(opts={"encoder_type": "ResNetBackboneEncoder"}), "encoder type 'ResNetBackboneEncoder' is not supported"),
    (dict(opts={"encoder_type": "BackboneEncoderUsingLastLayerIntoW", "learn_in_w": True}),
     "encoder type 'BackboneEncoderUsingLastLayerIntoW' is not supported"),
    (dict(opts={"learn_in_w": True}), "learn_in_w=True with a GradualStyleEncoder"),
    (dict(opts={"output_size": 64}), "8 style heads, but output_size 64 needs 10"),
    (dict(opts={"output_size": 48}), "output_size 48 is not a power of two"),
    (dict(latent_avg=np.zeros([7, 32], np.float32)), r"latent_avg of shape \[7, 32\] does not fit 8 styles of 32"),
    (dict(latent_avg=None), "latent_avg of shape None"),
    (dict(opts=None), "is not a pSp checkpoint"),
])
def test_unsupported_checkpoints_are_refused_in_one_line(tmp_path, changes, message):
    path = str(tmp_path / "psp.pt")
    save_torch_file(checkpoint(**changes), path)
    with pytest.raises(NetworkPickleError, match=message) as e:
        sg.load_encoder(path)
    assert "\n" not in str(e.value)


def test_e4e_checkpoint_adds_its_deltas_to_head_0(tmp_path):
    """encoder4editing: same file form and heads; style i = head 0 + head i (i >= 1), then latent_avg."""
    ref = psp_refs()
    obj = checkpoint(opts={"encoder_type": "Encoder4Editing", "stylegan_size": 32})
    del obj["opts"]["output_size"]
    path = str(tmp_path / "e4e.pt")
    save_torch_file(obj, path)
    e4e = sg.load_encoder(path)
    heads = ref["codes_raw"]
    expected = np.concatenate([heads[:, :1], heads[:, 1:] + heads[:, :1]], axis=1) + ref["latent_avg"]
    np.testing.assert_allclose(e4e.encode(nhwc(ref["x"])), expected, **TOL)


def test_missing_output_size_means_1024_as_psp(tmp_path):
    obj = checkpoint()
    del obj["opts"]["output_size"]
    path = str(tmp_path / "old.pt")
    save_torch_file(obj, path)
    with pytest.raises(NetworkPickleError, match="output_size 1024 needs 18"):
        sg.load_encoder(path)


def respell_global(path, old, new):
    """Rewrite the checkpoint's object pickle with every global `old` ("module\nname") spelled `new`."""
    with zipfile.ZipFile(path) as z:
        records = {info.filename: z.read(info) for info in z.infolist()}
    (pkl,) = [name for name in records if name.endswith("/data.pkl")]
    assert b"c" + old + b"\n" in records[pkl]  # protocol 2's GLOBAL opcode
    records[pkl] = records[pkl].replace(b"c" + old + b"\n", b"c" + new + b"\n")
    with zipfile.ZipFile(path, "w") as z:
        for name, data in records.items():
            z.writestr(name, data)


def test_hostile_file_is_refused_without_running_anything(tmp_path):
    path = str(tmp_path / "hostile.pt")
    save_torch_file(checkpoint(), path)
    respell_global(path, b"torch._utils\n_rebuild_tensor_v2", b"os\nsystem")
    with pytest.raises(NetworkPickleError, match="os.system") as e:
        sg.load_encoder(path)
    assert "\n" not in str(e.value)


def test_encoder_without_decoder_refuses_to_decode(psp):
    bare = PSPEncoder(psp.encoder, None, psp.latent_avg)
    with pytest.raises(ValueError, match="no decoder"):
        bare.reconstruct(psp_refs()["png_uint8"])
