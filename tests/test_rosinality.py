"""rosinality/stylegan2-pytorch checkpoints (issue 25): every file form against outputs of rosinality's
own model.py (tests/data/rosinality, see its fixture README in the shared fixtures), export to
its format, and hostile `.pt` files.

The fixture: size 32, style_dim 64, n_mlp 8, channel_multiplier 2, channels {4: 64, 8: 64, 16: 32,
32: 16}. Forms: `checkpoint-legacy.pt` (converted form, legacy serialization) and
`checkpoint-train.pt` (train.py form, zip, no latent_avg) as torch wrote them; the converted form
in the zip format and the `'cuda:0'` form are derived from them here (re-zipped / the location
strings rewritten, nothing else changed).
"""

import json
import os
import pickle
import pickletools
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import tf_stylegan2 as sg
from tf_stylegan2 import rosinality
from tf_stylegan2.official import load as official_load, torch_pickle, torch_save
from tf_stylegan2.rosinality import load as ros_load
from conftest import DATA, nhwc

ROS = os.path.join(DATA, "rosinality")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = 1e-4
REF = dict(np.load(os.path.join(ROS, "reference.npz")))
FIXTURE = json.load(open(os.path.join(ROS, "fixture.json")))
NUM_WS, RES_OF_LAYER = 8, [4, 8, 8, 16, 16, 32, 32]


def _rezip(src, dst, pkl=lambda data: data):
    """Copy the zip `src` to `dst`, passing its data.pkl through `pkl`."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info.filename, pkl(data) if info.filename.endswith("/data.pkl") else data)
    return str(dst)


def _cuda(data):
    return data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")


@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    """{form: path} of the four file forms."""
    tmp = tmp_path_factory.mktemp("rosinality")
    legacy, train = os.path.join(ROS, "checkpoint-legacy.pt"), os.path.join(ROS, "checkpoint-train.pt")
    converted = str(tmp / "checkpoint-converted.pt")
    torch_save.save_torch_file(torch_pickle.load_torch_file(legacy), converted)
    return {"converted": converted, "train": train, "legacy": legacy,
            "cuda-location": _rezip(train, tmp / "checkpoint-cuda-location.pt", _cuda)}


_NETS = {}


def _nets(forms, form):
    if form not in _NETS:
        _NETS[form] = sg.load_network(forms[form])
        for G in (_NETS[form].G, _NETS[form].G_ema):
            G.execution = "eager"  # tiny nets, a few calls each: tracing would cost more than it saves
    return _NETS[form]


def _close(actual, expected, what):
    err = np.abs(np.asarray(actual) - expected).max()
    assert err < TOL, "%s: max-abs %.3g" % (what, err)


def _noise(key, batch):
    return [REF["%s/%d" % (key, i)].reshape(batch, r, r, 1) for i, r in enumerate(RES_OF_LAYER)]


def test_reader_reads_every_serialization_alike(forms):
    objs = {form: torch_pickle.load_torch_file(path) for form, path in forms.items()}
    assert sorted(objs["legacy"]) == sorted(objs["converted"]) == ["d", "g", "g_ema", "latent_avg"]
    assert sorted(objs["train"]) == sorted(objs["cuda-location"]) == sorted(FIXTURE["files"]["checkpoint-train.pt"]
                                                                           ["keys"])
    for form, obj in objs.items():
        for key in ("g_ema", "g", "d"):
            sd = obj[key]
            assert isinstance(sd, torch_pickle.StateDict), (form, key)
            assert form == "converted" or "_metadata" in sd.metadata, (form, key)  # torch's per-module versions
            expected = FIXTURE["state_dict"]["g_ema" if key == "g" else key]
            assert {k: list(v.shape) for k, v in sd.items()} == expected, (form, key)
            for name, value in sd.items():
                assert value.dtype == np.float32 and np.array_equal(value, objs["legacy"][key][name]), (form, name)
    rewritten = os.path.join(os.path.dirname(forms["converted"]), "rewritten-legacy.pt")
    torch_save.save_torch_file(objs["legacy"], rewritten, legacy=True)  # our writer's legacy stream
    again = torch_pickle.load_torch_file(rewritten)
    for key in ("g_ema", "g", "d"):
        assert list(again[key]) == list(objs["legacy"][key])
        assert all(np.array_equal(again[key][k], v) for k, v in objs["legacy"][key].items())
    args = objs["cuda-location"]["args"]
    assert isinstance(args, torch_pickle.ArgsNamespace) and args == FIXTURE["train_args"]
    adam = objs["train"]["g_optim"]
    assert adam["state"][0]["step"].shape == () and float(adam["state"][0]["step"]) == 1.0
    np.testing.assert_array_equal(objs["converted"]["latent_avg"], REF["latent_avg"])


@pytest.mark.parametrize("form", ["converted", "train", "legacy", "cuda-location"])
def test_every_form_matches_rosinality(forms, form):
    nets, ref = _nets(forms, form), _nets(forms, "legacy")
    G, D = nets.G_ema, nets.D
    assert (G.img_resolution, G.z_dim, G.num_ws, G.mapping.num_layers) == (32, 64, NUM_WS, 8)
    _close(G.mapping(REF["z"])[:, 0], REF["w"], "w")
    _close(G(REF["z"]), nhwc(REF["img_psi1"]), "img_psi1")
    _close(D(nhwc(REF["d_images4"])), REF["d_score_images4"], "d_score_images4")
    _close(nets.G(REF["z"][:1]), nhwc(REF["img_g_psi1"]), "img_g_psi1 (training g)")
    if "latent_avg" in FIXTURE["files"]["checkpoint-%s.pt" % form]["keys"]:
        np.testing.assert_array_equal(G.mapping.w_avg.numpy(), REF["latent_avg"])
        _close(G(REF["z"], truncation_psi=0.7), nhwc(REF["img_trunc"]), "img_trunc")
    else:  # train.py form: mean_latent estimated over 4096 z of RandomState(5), as the fixture's
        _close(G.mapping.w_avg.numpy(), REF["mean_latent"][0], "mean_latent")
        _close(G(REF["z"], truncation_psi=0.7), nhwc(REF["img_trunc_mean_latent"]), "img_trunc_mean_latent")
    for a, b in ((nets.G_ema, ref.G_ema), (nets.G, ref.G), (nets.D, ref.D)):
        for name, (var, _) in a.official_weights().items():
            if name != "dlatent_avg":
                np.testing.assert_array_equal(var.numpy(), b.official_weights()[name][0].numpy(), err_msg=name)


def test_mapping_truncation_mixing_noise_and_discriminator_of_the_converted_form(forms):
    nets = _nets(forms, "converted")
    G, D = nets.G_ema, nets.D
    wplus = G.mapping(REF["z"])
    wplus2 = G.mapping(REF["z2"])
    _close(G.mapping(REF["z2"])[:, 0], REF["w2"], "w2")
    _close(G.mapping(REF["z"], truncation_psi=0.7), REF["wplus_trunc"], "wplus_trunc (every layer)")
    for i, k in enumerate(REF["mix_inject_index"]):
        mixed = sg.mix_styles(wplus, wplus2, range(k, NUM_WS))  # rosinality's inject_index k
        _close(mixed, REF["wplus_mix%d" % i], "wplus_mix%d" % i)
        _close(G.synthesis(mixed), nhwc(REF["img_mix%d" % i]), "img_mix%d" % i)
    _close(G.style_mix(wplus, wplus2, range(3, NUM_WS)), nhwc(REF["img_mix0_from_z"]), "img_mix0_from_z")
    trunc = [G.mapping(z, truncation_psi=0.7) for z in (REF["z"], REF["z2"])]
    _close(G.style_mix(*trunc, range(3, NUM_WS)), nhwc(REF["img_mix0_trunc"]), "img_mix0_trunc")
    _close(G.synthesis(REF["wplus"]), nhwc(REF["img_wplus"]), "img_wplus")
    _close(G(REF["z"], noise=_noise("noise_shared", 1)), nhwc(REF["img_noise_shared"]), "img_noise_shared")
    _close(G.synthesis(REF["wplus"], noise=_noise("noise_shared", 1)), nhwc(REF["img_wplus_noise_shared"]),
           "img_wplus_noise_shared")
    _close(G.synthesis(REF["wplus"], noise=_noise("noise_batch", 4)), nhwc(REF["img_wplus_noise_batch"]),
           "img_wplus_noise_batch (per-sample noise)")
    _close(G(REF["z"], noise_mode="none"), nhwc(REF["img_noise_zero"]), "img_noise_zero")
    _close(G(REF["z"][:1]), nhwc(REF["img_psi1_first"]), "img_psi1_first")
    _close(nets.G.mapping(REF["z"][:1])[:, 0], REF["w_g"], "w_g")
    _close(D(nhwc(REF["d_images8"])), REF["d_score_images8"], "d_score_images8 (interleaved stddev groups)")
    _close(D(nhwc(REF["d_images8"][:4])), REF["d_score_images8_first4"], "d_score_images8_first4")
    _close(D(nhwc(REF["d_images4"][:2])), REF["d_score_images2"], "d_score_images2 (group of 2)")
    _close(D(nhwc(REF["img_psi1"])), REF["d_score_img_psi1"], "d_score_img_psi1")


def test_train_form_notes_the_estimated_truncation_centre(forms, capfd):
    nets = rosinality.load_checkpoint(forms["train"])
    err = capfd.readouterr().err
    assert "no latent_avg" in err and "4096" in err and "RandomState(5)" in err
    assert nets.G is not None and nets.D is not None


def test_generator_from_state_dict_takes_unprefixed_keys(forms):
    obj = torch_pickle.load_torch_file(forms["legacy"])
    tensors = {k: v for k, v in obj["g_ema"].items() if not k.endswith("kernel")}
    G = rosinality.generator_from_state_dict(tensors, obj["latent_avg"], name="decoder")
    assert G.name == "decoder" and G.synthesis.get_config()["fmap_base"] == 256
    np.testing.assert_array_equal(G.mapping.w_avg.numpy(), REF["latent_avg"])
    G.execution = "eager"
    _close(G(REF["z"][:1]), nhwc(REF["img_psi1_first"]), "img_psi1_first")


def _refused(obj, match):
    obj = {k: dict(v) if isinstance(v, dict) else v for k, v in obj.items()}  # networks_from_checkpoint empties it
    with pytest.raises(sg.NetworkPickleError, match=match) as info:
        ros_load.networks_from_checkpoint(obj, "x.pt")
    assert "\n" not in str(info.value)


def test_unsupported_variants_are_refused_in_one_line(forms):
    obj = torch_pickle.load_torch_file(forms["train"])
    _refused(dict(obj, args=torch_pickle.ArgsNamespace(obj["args"], arch="swagan")), "arch='swagan'.*not supported")
    _refused(dict(obj, g_ema=dict(obj["g_ema"], **{"convs.0.conv.blur.kernel": np.full((4, 4), 0.25, np.float32)})),
             "blur kernel convs.0.conv.blur.kernel")
    _refused(dict(obj, g_ema=dict(obj["g_ema"], **{"to_rgbs.0.iwt.ll": np.zeros(4, np.float32)})),
             "unexpected tensors to_rgbs.0.iwt.ll")
    _refused(dict(obj, d={k: v for k, v in obj["d"].items() if k != "final_linear.1.bias"}),
             "D: missing tensors final_linear.1.bias")
    _refused(dict(obj, g_ema=dict(obj["g_ema"], **{"style.1.bias": np.zeros(3, np.float32)})), "style.1.bias")
    _refused({"state_dict": {}, "opts": {}}, "not a rosinality")
    _refused(dict(obj, extra=1), "unexpected entries extra")


def _write_zip(path, pkl, storages=()):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        for key, data in storages:
            z.writestr("archive/data/" + key, data)
        z.writestr("archive/version", "3\n")
    return path


class _Payload:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def test_hostile_files_are_refused_in_one_line_and_nothing_runs(tmp_path, forms):
    marker = tmp_path / "executed"
    cases = {
        "reduce.pt": (_write_zip(tmp_path / "reduce.pt", pickle.dumps(
            {"g_ema": _Payload(os.system, "touch %s" % marker)}, protocol=2)), "refused to load global"),
        "eval.pt": (_write_zip(tmp_path / "eval.pt", pickle.dumps(
            {"g_ema": _Payload(eval, "open(%r, 'w')" % str(marker))}, protocol=2)), "refused to load global"),
        # a whole pickled module (torch.save(model)) names classes outside the allow-list
        "module.pt": (_write_zip(tmp_path / "module.pt", b"\x80\x02cmodel\nGenerator\nq\x00)\x81q\x01."),
                      "refused to load global model.Generator"),
        "storage-global.pt": (_write_zip(tmp_path / "storage-global.pt", b"\x80\x02(X\x07\x00\x00\x00storageq\x00"
                                         b"cos\nsystem\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQ."),
                              "refused to load global os.system"),
        "missing-storage.pt": (_write_zip(tmp_path / "missing-storage.pt", b"\x80\x02(X\x07\x00\x00\x00storage"
                                          b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQ."),
                               "lacks the storage"),
        "short-storage.pt": (_write_zip(tmp_path / "short-storage.pt", b"\x80\x02(X\x07\x00\x00\x00storage"
                                        b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ.",
                                        [("0", b"\0" * 8)]), "has 8 bytes, expected 16"),
    }
    train = open(forms["train"], "rb").read()
    legacy = open(forms["legacy"], "rb").read()
    head = b"".join(pickle.dumps(v, protocol=2) for v in (torch_save.LEGACY_MAGIC, torch_save.LEGACY_PROTOCOL,
                                                           torch_save.LEGACY_SYS_INFO))
    storage_pid = (b"\x80\x02(X\x07\x00\x00\x00storagectorch\n%s\nX\x01\x00\x00\x000X\x06\x00\x00\x00cuda:0"
                   b"\x8a\x05\x00\x00\x00\x00\x01NtQ.")  # 2**32 elements
    for name, data, match in (
            ("legacy-reduce.pt", head + pickle.dumps({"g_ema": _Payload(os.system, "touch %s" % marker)}, protocol=2),
             "refused to load global"),
            ("legacy-huge.pt", head + storage_pid % b"FloatStorage" + pickle.dumps(["0"], protocol=2),
             "claims more data than the file holds"),
            ("bfloat16.pt", head + storage_pid % b"BFloat16Storage", "torch.BFloat16Storage are not supported")):
        (tmp_path / name).write_bytes(data)
        cases[name] = (tmp_path / name, match)
    for name, data, match in (("truncated-zip.pt", train[:len(train) // 2], "not a readable PyTorch file"),
                              ("truncated-legacy.pt", legacy[:len(legacy) - 1000], "truncated"),
                              ("truncated-legacy-pickle.pt", legacy[:5000], "claims more data than the file holds"),
                              ("legacy-keys.pt", legacy.replace(b"\x80\x02]q\x00(X", b"\x80\x02]q\x00(Y", 1),
                               "not a readable PyTorch file|do not match")):
        (tmp_path / name).write_bytes(data)
        cases[name] = (tmp_path / name, match)
    for name, (path, match) in cases.items():
        with pytest.raises(sg.NetworkPickleError, match=match) as info:
            sg.load_network(path)
        assert "\n" not in str(info.value), name
    assert not marker.exists()


def test_export_passes_rosinality_structure_and_round_trips_exactly(tmp_path, forms):
    nets = _nets(forms, "train")
    path = tmp_path / "model.pt"
    call = rosinality.save_rosinality(nets, path)
    assert "channels [64, 64, 32, 16]" in call  # the fixture's reduced table: no channel_multiplier gives it
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert names[0] == "archive/data.pkl" and z.read("archive/byteorder") == b"little"
        assert z.read("archive/version") == b"3\n"
        raw = open(path, "rb").read()
        for info in z.infolist():  # storages 64-byte aligned, as torch writes them
            start = info.header_offset + 30 + int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28],
                                                             "little") + int.from_bytes(
                raw[info.header_offset + 28:info.header_offset + 30], "little")
            assert "/data/" not in info.filename or start % 64 == 0, info.filename
    globals_used = {(a, b) for a, b in _globals(zipfile.ZipFile(path).read("archive/data.pkl"))}
    assert globals_used == {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
                            ("torch", "FloatStorage")}  # all in torch.load(weights_only=True)'s allow-list
    written, source = torch_pickle.load_torch_file(path), torch_pickle.load_torch_file(forms["train"])
    assert sorted(written) == ["d", "g", "g_ema", "latent_avg"]
    for key in ("g_ema", "g", "d"):  # rosinality's strict load_state_dict: the same names and shapes
        expected = FIXTURE["state_dict"]["g_ema" if key == "g" else key]
        assert {k: list(v.shape) for k, v in written[key].items()} == expected, key
        for name, value in written[key].items():  # the bias +1 may round the last bit of a few values
            np.testing.assert_allclose(value, source[key][name], rtol=0, atol=6e-8, err_msg=name)
    _close(written["latent_avg"], REF["mean_latent"][0], "latent_avg = the estimated mean_latent")
    back = sg.load_network(path)
    for a, b in ((back.G_ema, nets.G_ema), (back.G, nets.G), (back.D, nets.D)):
        for name, (var, _) in a.official_weights().items():
            np.testing.assert_array_equal(var.numpy(), b.official_weights()[name][0].numpy(), err_msg=name)


def _globals(data):
    ops = list(pickletools.genops(data))
    return [tuple(arg.split(" ", 1)) for op, arg, _ in ops if op.name == "GLOBAL"]


def test_official_network_exports_and_renders_alike(tmp_path):
    nets = sg.load_network()  # the packaged emoji network: skip G, resnet D, z = w = 128, 2 mapping layers
    path = tmp_path / "emoji.pt"
    call = rosinality.save_rosinality(nets, path)
    assert call.startswith("channels [96, 96, 96, 96]")
    back = sg.load_network(path)
    z = sg.z_from_seeds(range(2), 128)
    for G in (back.G_ema, nets.G_ema):
        G.execution = "eager"
    _close(back.G_ema(z, truncation_psi=0.5), nets.G_ema(z, truncation_psi=0.5).numpy(), "G_ema images")
    img = nets.G_ema(z).numpy()
    _close(back.D(img), nets.D(img).numpy(), "D scores")


def test_channel_tables_no_official_rule_gives_are_read_from_the_shapes(tmp_path):
    channels = [48, 40, 24]  # resolutions 4, 8, 16: no min(fmap_base / res, fmap_max) gives these
    mapping = dict(z_dim=32, w_dim=32, num_ws=6, num_layers=3, layer_features=32)
    nets = sg.Networks(None, sg.Discriminator(img_resolution=16, channels=channels, name="D"),
                       official_load.generator_from_configs(mapping, dict(w_dim=32, img_resolution=16,
                                                                          channels=channels), "G_ema"))
    nets.G_ema.mapping.w_avg.assign(np.linspace(-1, 1, 32, dtype=np.float32))
    path = tmp_path / "table.pt"
    assert rosinality.save_rosinality(nets, path).startswith("channels [48, 40, 24]")
    back = sg.load_network(path)
    assert back.G is None and back.G_ema.synthesis.channels == channels and back.D.channels == channels
    for a, b in ((back.G_ema, nets.G_ema), (back.D, nets.D)):
        for name, (var, _) in a.official_weights().items():
            np.testing.assert_allclose(var.numpy(), b.official_weights()[name][0].numpy(), rtol=0, atol=6e-8,
                                       err_msg=name)
    z = sg.z_from_seeds(range(2), 32)
    _close(back.G_ema(z, truncation_psi=0.7), nets.G_ema(z, truncation_psi=0.7).numpy(), "images")
    rebuilt = sg.SynthesisNetwork.from_config(back.G_ema.synthesis.get_config())
    assert rebuilt.channels == channels
    with pytest.raises(ValueError, match="explicit channel table"):
        sg.save_pickle(sg.Networks(back.G_ema, back.D, back.G_ema), tmp_path / "x.pkl")


def test_rosinality_networks_become_an_official_pickle(tmp_path, forms):
    nets = _nets(forms, "legacy")
    sg.save_pickle(nets, tmp_path / "official.pkl")  # fmap_base 256, fmap_max 64 reproduce the fixture's table
    back = sg.load_network(tmp_path / "official.pkl")
    for a, b in ((back.G_ema, nets.G_ema), (back.G, nets.G), (back.D, nets.D)):
        for name, (var, _) in a.official_weights().items():
            np.testing.assert_array_equal(var.numpy(), b.official_weights()[name][0].numpy(), err_msg=name)


def test_export_refuses_what_rosinality_cannot_hold(tmp_path, forms):
    nets = _nets(forms, "legacy")
    orig = sg.Discriminator(img_resolution=32, architecture="orig", fmap_base=256, fmap_max=64)
    with pytest.raises(rosinality.UnsupportedNetworkError, match="architecture 'orig'"):
        rosinality.save_rosinality(nets._replace(D=orig), tmp_path / "x.pt")
    assert not os.listdir(tmp_path)


def test_converter_exports_rosinality(tmp_path, forms):
    out = tmp_path / "model.pt"
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-m", "converters.convert_pkl", "--network=" + forms["legacy"],
                           "--to=rosinality", "--output=" + str(out)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wrote %s" % out in proc.stdout and "Generator.channels" in proc.stdout
    obj = torch_pickle.load_torch_file(out)
    np.testing.assert_array_equal(obj["latent_avg"], REF["latent_avg"])
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 not a zip")
    proc = subprocess.run([sys.executable, "-m", "converters.convert_pkl", "--network=" + str(bad), "--to=rosinality",
                           "--output=" + str(tmp_path / "o.pt")], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "o.pt").exists()
