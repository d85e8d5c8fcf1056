"""Hostile and broken input: malicious pickles, fuzzed files, wrong file kinds, bad CLI targets.

Every case must end in a clean `NetworkPickleError` with a one-line message (or, for a fuzzed file,
networks with finite outputs): never code execution, another exception type, a crash or a hang.
"""

import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import official_writer
import tf_stylegan2 as sg
from tf_stylegan2.official import unpickler

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tiny_pickle():
    """A complete official-format (G, D, Gs) pickle of a few KB."""
    small = dict(fmap_base=16, fmap_max=4, latent_size=8, dlatent_size=8, mapping_layers=1)
    return official_writer.dumps(official_writer.build(resolution=8, G_args=small,
                                                       D_args=dict(fmap_base=16, fmap_max=4), seed=7))


def _assert_one_line_message(error):
    message = str(error).strip()
    assert message and "\n" not in message, repr(message)


def _refused(data):
    with pytest.raises(sg.NetworkPickleError) as e:
        unpickler.load_states_from_bytes(data)
    _assert_one_line_message(e.value)


class _Evil:
    """Pickles as `func(*args)` via REDUCE."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("func, args", [
    (os.system, ("touch {marker}",)),
    (subprocess.call, (["touch", "{marker}"],)),
    (subprocess.Popen, (["touch", "{marker}"],)),
    (eval, ("open({marker!r}, 'w')",)),
    (exec, ("open({marker!r}, 'w')",)),
    (__import__, ("os",)),
])
def test_reduce_of_dangerous_callables_is_refused(tmp_path, func, args):
    marker = str(tmp_path / "executed")
    evil = _Evil(func, *[a.format(marker=marker) if isinstance(a, str) else [x.format(marker=marker) for x in a]
                         for a in args])
    for protocol in (0, 2, 4):
        _refused(pickle.dumps(evil, protocol=protocol))
        _refused(pickle.dumps((evil,), protocol=protocol))
    assert not os.path.exists(marker)


def test_inst_and_obj_opcodes_are_refused(tmp_path):
    marker = str(tmp_path / "executed")
    inst = b"(S'touch " + marker.encode() + b"'\nios\nsystem\n."          # INST os.system
    obj = b"(cos\nsystem\nS'touch " + marker.encode() + b"'\no."          # OBJ  os.system
    inst_network = b"(idnnlib.tflib.network\nNetwork\n."                 # INST of the allowed class
    for data in (inst, obj, inst_network):
        _refused(data)
    assert not os.path.exists(marker)


def test_globals_nested_inside_arrays_are_refused(tmp_path):
    marker = str(tmp_path / "executed")
    reconstruct = np.ndarray.__reduce__(np.zeros(1, np.float32))[0]

    class ArrayWithEvilData:  # numpy's own reduction, with an os.system call where the raw bytes go
        def __reduce__(self):
            return (reconstruct, (np.ndarray, (0,), b"b"),
                    (1, (2,), np.dtype("float32"), False, _Evil(os.system, "touch " + marker)))
    _refused(pickle.dumps([("weight", ArrayWithEvilData())], protocol=4))
    # Object arrays, structured dtypes and other array subtypes are refused too.
    _refused(pickle.dumps(np.array([1, "a"], dtype=object), protocol=4))
    _refused(pickle.dumps(np.zeros(2, dtype=[("a", "f4")]), protocol=4))
    _refused(pickle.dumps(np.ma.masked_array([1.0, 2.0]), protocol=4))
    assert not os.path.exists(marker)


def test_network_with_constructor_arguments_is_refused():
    class Network:
        def __reduce__(self):
            return (official_writer.Network, ("payload",))
    _refused(official_writer.dumps((Network(),)))


def test_wrong_structures_are_refused():
    for obj in ([1, 2], {"a": 1}, (), "text", 3.5, (1, 2, 3)):
        _refused(pickle.dumps(obj, protocol=4))


def test_fuzzed_pickles_are_refused_with_a_message_or_give_finite_outputs(tmp_path):
    """200 truncations and 1-3 bit flips of a tiny official pickle, each loaded like a user's file
    (`sg.load_network`). Every refusal is a `NetworkPickleError` with a one-line message (any other
    exception fails the test). Every file that loads gives networks whose G and D outputs are
    finite, unless the flip itself put a non-finite value into a weight."""
    data = _tiny_pickle()
    rng = np.random.default_rng(1234)
    path = tmp_path / "network.pkl"
    z = np.random.RandomState(0).randn(2, 8).astype(np.float32)
    outcomes = {"refused": 0, "finite": 0, "non-finite weights": 0}
    for trial in range(200):
        mutated = bytearray(data)
        if trial % 4 == 0:
            mutated = mutated[:int(rng.integers(0, len(data)))]
        else:
            for _ in range(int(rng.integers(1, 4))):
                i = int(rng.integers(0, len(data)))
                mutated[i] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(mutated))
        try:
            nets = sg.load_network(str(path))
        except sg.NetworkPickleError as e:
            _assert_one_line_message(e)
            outcomes["refused"] += 1
            continue
        if not all(np.isfinite(v.numpy()).all() for net in nets for v in net.weights):
            outcomes["non-finite weights"] += 1
            continue
        for G in (nets.G, nets.G_ema):
            G.execution = "eager"
            img = G(z, truncation_psi=0.7).numpy()
            assert img.shape == (2, 8, 8, 3) and np.isfinite(img).all(), trial
            assert np.isfinite(nets.D(img).numpy()).all(), trial
        outcomes["finite"] += 1
    assert min(outcomes.values()) > 0 and outcomes["finite"] > 50, outcomes


def test_pytorch_zip_pickle_is_refused(tmp_path):
    path = tmp_path / "network-snapshot.pkl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"G_ema": None}, protocol=2))
        z.writestr("archive/version", "3\n")
    with pytest.raises(sg.NetworkPickleError, match="PyTorch file, but not a rosinality"):
        sg.load_network(path)


def test_legacy_pytorch_pickle_is_refused(tmp_path):
    data = io.BytesIO()
    data.write(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.")  # torch's legacy magic number, then its globals
    data.write(b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x00.")
    path = tmp_path / "legacy.pt"
    path.write_bytes(data.getvalue())
    with pytest.raises(sg.NetworkPickleError) as e:
        sg.load_network(path)
    _assert_one_line_message(e.value)


def test_directory_and_missing_file_are_refused(tmp_path):
    with pytest.raises(sg.NetworkPickleError, match="directory"):
        sg.load_network(tmp_path)
    with pytest.raises(sg.NetworkPickleError, match="cannot read"):
        sg.load_network(tmp_path / "missing.pkl")


def _convert_cli(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m", "converters.convert_pkl"] + args, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _error_lines(stderr):
    return [line for line in stderr.splitlines() if "error:" in line]


def test_cli_bad_inputs_give_one_line_errors_and_write_nothing(tmp_path):
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Evil(os.system, "touch " + str(tmp_path / "executed")), protocol=4))
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    cases = [(["--network=%s" % evil, "--output_dir=%s" % (tmp_path / "out1")], "refused to load global"),
             (["--network=%s" % (tmp_path / "missing.pkl"), "--output_dir=%s" % (tmp_path / "out2")], "cannot read"),
             (["--network=%s" % os.path.join(REPO, "tests", "data", "orig", "network.pkl"),
               "--output_dir=%s" % (blocker / "out3")], "")]
    for args, message in cases:
        result = _convert_cli(args, cwd=str(tmp_path))
        assert result.returncode == 1, result.stderr
        errors = _error_lines(result.stderr)
        assert len(errors) == 1 and message in errors[0], result.stderr
        assert "Traceback" not in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["a_file", "evil.pkl"]
