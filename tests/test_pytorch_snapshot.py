"""StyleGAN2-ADA PyTorch snapshots (`network-snapshot-*.pkl`) read without PyTorch, and version-5 TF pickles.

`tests/data/{orig,ada}/network-ada-pytorch.pkl` are the fixtures' networks re-saved by NVIDIA's
stylegan2-ada-pytorch code (`legacy.py` then `pickle.dump` of the snapshot dict); their embedded
module source is a stand-in that raises if executed. References: `reference.npz` next to them.
"""

import importlib.abc
import io
import os
import pickle
import pickletools
import struct
import sys
import zipfile

import numpy as np
import pytest

import tf_stylegan2 as sg
from tf_stylegan2 import converted
from tf_stylegan2.export.convert import convert_network
from tf_stylegan2.official import load as official_load
from tf_stylegan2.official import pytorch_snapshot, torch_pickle
from tf_stylegan2.official.unpickler import NetworkPickleError, load_object

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
W_ATOL, IMG_ATOL, D_ATOL = 1e-5, 1e-4, 1e-4
# The D minibatch-stddev group each snapshot stores: orig (converted by legacy.py) the whole batch, ada 2.
D_SCORE_KEY = {"orig": "D_score_random_batch8_legacy_groupN", "ada": "D_score_random_batch8_tf_group2"}
_NETS = {}


def snapshot_path(name):
    return os.path.join(DATA, name, "network-ada-pytorch.pkl")


def snapshot_nets(name):
    if name not in _NETS:
        _NETS[name] = sg.load_network(snapshot_path(name))
    return _NETS[name]


def nhwc(x):
    return np.asarray(x).transpose(0, 2, 3, 1)


@pytest.fixture(scope="module", params=["orig", "ada"])
def case(request):
    with np.load(os.path.join(DATA, request.param, "reference.npz")) as f:
        ref = {k: f[k] for k in f.files}
    return request.param, snapshot_nets(request.param), ref


def test_snapshot_reproduces_reference_outputs(case):
    name, nets, ref = case
    G, c = nets.G_ema, ref.get("c")
    np.testing.assert_allclose(G.mapping.w_avg.numpy(), ref["w_avg"], atol=0)
    for psi in ("1", "0.5"):
        w = G.mapping(ref["z"], c, truncation_psi=float(psi)).numpy()
        np.testing.assert_allclose(w, ref["w_psi" + psi], atol=W_ATOL)
        np.testing.assert_allclose(G.synthesis(w).numpy(), nhwc(ref["img_psi" + psi]), atol=IMG_ATOL)
    np.testing.assert_allclose(G.synthesis(ref["w_psi1"], noise_mode="none").numpy(),
                               nhwc(ref["img_psi1_noise_none"]), atol=IMG_ATOL)
    for i, buf in enumerate(G.synthesis.noise_buffers):
        np.testing.assert_array_equal(buf.numpy()[0, :, :, 0], ref["noise_const/noise%d" % i])
    w_train = nets.G.mapping(ref["z"], c).numpy()
    np.testing.assert_allclose(w_train, ref["G_training_w_psi1"], atol=W_ATOL)
    np.testing.assert_allclose(nets.G.synthesis(w_train).numpy(), nhwc(ref["G_training_img_psi1"]), atol=IMG_ATOL)
    score = nets.D(nhwc(ref["D_random_images"]), ref.get("D_random_c")).numpy()
    np.testing.assert_allclose(score, ref[D_SCORE_KEY[name]], atol=D_ATOL)


def test_snapshot_weights_equal_the_tf_pickle_they_were_converted_from(case):
    """legacy.py converted the TF pickle to these snapshots: the inverse mapping must give back every
    official variable (names, layouts, flips, the +1 of mod_bias)."""
    name, nets, _ = case
    tf_nets = sg.load_network(os.path.join(DATA, name, "network.pkl"))
    for key in ("G", "D", "G_ema"):
        ours, theirs = getattr(nets, key).official_weights(), getattr(tf_nets, key).official_weights()
        assert ours.keys() == theirs.keys()
        for var_name in ours:
            np.testing.assert_allclose(ours[var_name][0].numpy(), theirs[var_name][0].numpy(), atol=1e-6,
                                       err_msg="%s %s" % (key, var_name))


def test_snapshot_extras_and_configs():
    raw = official_load.read_pickle(snapshot_path("ada"))
    snap = pytorch_snapshot.read_snapshot(raw)
    assert snap.augment_p == pytest.approx(0.25)
    assert snap.training_set_kwargs["resolution"] == 16
    mapping_cfg, synthesis_cfg = pytorch_snapshot.generator_configs(snap.G_ema)
    assert (mapping_cfg["c_dim"], mapping_cfg["label_mode"], synthesis_cfg["architecture"],
            synthesis_cfg["conv_clamp"]) == (3, "embed", "resnet", 256)
    d_cfg = pytorch_snapshot.discriminator_config(snap.D)
    assert (d_cfg["architecture"], d_cfg["label_mode"], d_cfg["mbstd_group_size"]) == ("skip", "projection", 2)
    # The StyleGAN3 repository's networks_stylegan2.Generator takes the synthesis kwargs directly.
    kwargs = snap.G_ema.state["_init_kwargs"]
    flat = dict(kwargs, **kwargs.pop("synthesis_kwargs"), fused_modconv_default="inference_only")
    snap.G_ema.state["_init_kwargs"] = flat
    assert pytorch_snapshot.generator_configs(snap.G_ema) == (mapping_cfg, synthesis_cfg)
    flat["mapping_kwargs"] = dict(flat["mapping_kwargs"], mystery_knob=1)
    with pytest.raises(NetworkPickleError, match="mystery_knob"):
        pytorch_snapshot.generator_configs(snap.G_ema)


class _ImportBlocker(importlib.abc.MetaPathFinder):
    """Fails any import of PyTorch or NVIDIA's code packages."""

    BLOCKED = ("torch", "torch_utils", "dnnlib", "training", "legacy")

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.BLOCKED:
            raise AssertionError("the loader imported %s" % fullname)
        return None


def test_torch_is_never_imported():
    blocker = _ImportBlocker()
    sys.meta_path.insert(0, blocker)
    try:
        nets = official_load.load_pickle(snapshot_path("ada"))
    finally:
        sys.meta_path.remove(blocker)
    assert nets.G_ema.c_dim == 3
    assert not [m for m in sys.modules if m.split(".")[0] in _ImportBlocker.BLOCKED]


def _with_module_src(data, source):
    """The fixture with its (single, memoised) module_src string replaced by `source`, padded to the
    same length so frame sizes stay valid."""
    ops = list(pickletools.genops(data))
    pos = next(pos for (op, arg, pos) in ops if isinstance(arg, str) and arg.startswith("# Stand-in module source"))
    old_len = data[pos + 1]
    assert data[pos] == ord(pickle.SHORT_BINUNICODE) and len(source) <= old_len
    new = source.encode("ascii").ljust(old_len, b"#")
    return data[:pos + 2] + new + data[pos + 2 + old_len:]


def test_module_src_is_never_executed(tmp_path):
    marker = tmp_path / "executed"
    data = open(snapshot_path("ada"), "rb").read()
    evil = _with_module_src(data, "open(%r, 'w').write('x')\n#" % str(marker))
    assert evil != data and str(marker).encode() in evil
    path = tmp_path / "evil-src.pkl"
    path.write_bytes(evil)
    nets = sg.load_network(path)
    assert nets.G_ema.img_resolution == 16 and not marker.exists()


def _storage_blob(values):
    """A float32 storage in torch.save's legacy stream, as `Storage.__reduce__` writes it."""
    out = io.BytesIO()
    for obj in (torch_pickle._LEGACY_MAGIC, torch_pickle._LEGACY_PROTOCOL,
                {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        out.write(pickle.dumps(obj, protocol=2))
    out.write(b"\x80\x02(X\x07\x00\x00\x00storageq\x00ctorch\nFloatStorage\nq\x01X\x01\x00\x00\x000q\x02"
              b"X\x03\x00\x00\x00cpuq\x03" + pickle.dumps(len(values), protocol=2)[2:-1] + b"Ntq\x04Q.")
    out.write(pickle.dumps(["0"], protocol=2))
    out.write(struct.pack("<q", len(values)) + np.asarray(values, "<f4").tobytes())
    return out.getvalue()


def test_storage_streams_legacy_and_zip_and_strided_tensors():
    values = np.arange(12, dtype=np.float32)
    storage = torch_pickle._load_from_bytes(_storage_blob(values))
    np.testing.assert_array_equal(storage, values)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02(X\x07\x00\x00\x00storageq\x00ctorch\nFloatStorage\nq\x01"
                                       b"X\x01\x00\x00\x000q\x02X\x03\x00\x00\x00cpuq\x03K\x0ctq\x04Q.")
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", values.tobytes())
    np.testing.assert_array_equal(torch_pickle._load_from_bytes(zipped.getvalue()), values)
    rebuild = torch_pickle._rebuild_tensor_v2
    np.testing.assert_array_equal(rebuild(storage, 2, (2, 5), (5, 1)), values[2:12].reshape(2, 5))
    np.testing.assert_array_equal(rebuild(storage, 0, (4, 3), (1, 4)), values.reshape(3, 4).T)  # transposed view
    assert rebuild(storage, 7, (), ()) == 7
    for args in [(0, (4, 4), (4, 1)), (11, (2,), (1,)), (-1, (2,), (1,)), (0, (2, 2), (2,)), (0.5, (2,), (1,))]:
        with pytest.raises(NetworkPickleError):
            rebuild(storage, *args)


def _refused(data, match=None):
    with pytest.raises(NetworkPickleError, match=match) as info:
        official_load.networks_from_snapshot(pytorch_snapshot.read_snapshot(
            load_object(io.BytesIO(data), torch_pickle.ALLOWED)))
    assert "\n" not in str(info.value).strip()


class _Reduce:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def test_hostile_globals_and_structures_are_refused(tmp_path):
    marker = str(tmp_path / "executed")
    _refused(pickle.dumps({"G": _Reduce(os.system, "touch " + marker)}), "refused to load global")
    _refused(pickle.dumps({"G": _Reduce(eval, "open(%r, 'w')" % marker)}), "refused to load global")
    # A storage stream whose own pickle names a dangerous global.
    blob = _storage_blob([1.0]).replace(b"ctorch\nFloatStorage\n", b"cos\nsystem\n\x85R")
    with pytest.raises(NetworkPickleError, match="inside a tensor storage"):
        torch_pickle._load_from_bytes(blob)
    # Persistent objects of another kind, or modules this port does not implement, are named.
    data = open(snapshot_path("ada"), "rb").read()
    _refused(data.replace(b"\x8c\x05class", b"\x8c\x05other"), "persistent object of an unsupported kind")
    _refused(data.replace(b"\x8c\x10SynthesisNetwork", b"\x8c\x10SynthesisInputXX"), "SynthesisInputXX")
    _refused(pickle.dumps({"G": 1, "D": 2}), "lacks the networks")
    cyclic = torch_pickle.PersistentModule("Generator", {})
    cyclic.state["_modules"] = {"synthesis": cyclic}  # a pickle can build this with a memo reference
    with pytest.raises(NetworkPickleError, match="deeper than"):
        pytorch_snapshot.read_snapshot({"G": cyclic, "D": cyclic, "G_ema": cyclic})
    assert not os.path.exists(marker)


def _fuzz_positions(data, rng, n):
    """Byte offsets worth flipping: pickle opcodes and the headers of the tensor storage streams."""
    opcode_pos, blob_heads = [], []
    for op, arg, pos in pickletools.genops(data):
        opcode_pos.append(pos)
        if isinstance(arg, bytes) and len(arg) > 100:
            start = pos + 1 + (1 if op.name == "SHORT_BINBYTES" else 4)
            blob_heads.extend(range(start, start + 200))
    pool = np.array(opcode_pos + blob_heads)
    return rng.choice(pool, size=n)


def test_fuzzed_snapshots_fail_cleanly():
    data = open(snapshot_path("ada"), "rb").read()
    rng = np.random.default_rng(18)
    trials, parsed = 300, 0
    positions = _fuzz_positions(data, rng, trials)
    for trial in range(trials):
        mutated = bytearray(data)
        if trial % 5 == 0:
            mutated = mutated[:int(rng.integers(0, len(data)))]
        else:
            mutated[positions[trial]] ^= 1 << int(rng.integers(0, 8))
        try:
            snap = pytorch_snapshot.read_snapshot(load_object(io.BytesIO(bytes(mutated)), torch_pickle.ALLOWED))
            for key, kind in (("G", "G"), ("D", "D"), ("G_ema", "G")):
                pytorch_snapshot.network_spec(getattr(snap, key), kind, key)
        except NetworkPickleError as e:
            assert str(e) and "\n" not in str(e).strip()
            continue
        parsed += 1
        if parsed <= 3:  # the networks build, or the error names what is wrong
            try:
                official_load.networks_from_snapshot(snap)
            except NetworkPickleError as e:
                assert "\n" not in str(e).strip()
    assert 0 < parsed < trials


def test_version5_protocol3_tf_pickle():
    path = os.path.join(DATA, "ada", "network.pkl")
    data = open(path, "rb").read()
    assert data[:2] == b"\x80\x03"  # protocol 3, as StyleGAN2-ADA TF writes it
    states = official_load.read_pickle(path)
    assert {s.state["version"] for s in states} == {5}
    with np.load(os.path.join(DATA, "ada", "reference.npz")) as f:
        z, c, img = f["z"], f["c"], f["img_psi1"]
    G = sg.load_network(path).G_ema
    np.testing.assert_allclose(G.synthesis(G.mapping(z, c)).numpy(), nhwc(img), atol=IMG_ATOL)


def test_converter_turns_a_snapshot_into_a_converted_directory_and_saved_model(tmp_path):
    out = tmp_path / "converted"
    report = convert_network(snapshot_path("ada"), str(out), verify_seeds=2)
    assert report["float_max_abs"] < 1e-4 and report["uint8_max_abs"] <= 1
    reloaded = converted.load(str(out))
    nets = snapshot_nets("ada")
    z = np.random.default_rng(0).standard_normal([2, nets.G_ema.z_dim]).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[[1, 2]]
    np.testing.assert_array_equal(reloaded.G_ema(z, c).numpy(), nets.G_ema(z, c).numpy())
