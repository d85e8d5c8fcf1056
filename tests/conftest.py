"""Shared fixtures: the official-format test networks, their reference outputs, the op implementation.

`tests/data/{public,orig,ada}` are pickles in NVIDIA's exact byte format with outputs computed by
NVIDIA's stylegan2-ada-pytorch (see each `reference.json`). `public` and `orig` are StyleGAN2 TF1
pickles (Network state version 4); `ada` is a StyleGAN2-ADA TF pickle (version 5 states,
conditional, resnet G / skip D, active conv_clamp), tested in `test_ada_fixture.py`.
"""

import glob
import os
import random
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(TESTS, "data")
FIXTURES = ("public", "orig")
IMPLS = ("ref", "custom")


def fixture_path(name, filename="network.pkl"):
    return os.path.join(DATA, name, filename)


def load_reference(name):
    """A fixture's `reference.npz` as a dict of arrays."""
    with np.load(fixture_path(name, "reference.npz")) as f:
        return {k: f[k] for k in f.files}


def pytest_addoption(parser):
    parser.addoption("--order", default="file", metavar="file|reverse|random:SEED",
                     help="run the collected tests in file order (default), reversed, or shuffled with a seed: "
                          "the suite must pass in any order")


def pytest_collection_modifyitems(config, items):
    order = config.getoption("--order")
    if order == "reverse":
        items.reverse()
    elif order.startswith("random:"):
        random.Random(int(order.split(":", 1)[1])).shuffle(items)
    elif order != "file":
        raise pytest.UsageError("--order must be file, reverse or random:SEED, got %r" % order)


_NETWORKS = {}


def load_fixture_networks(name):
    """Networks of a fixture, loaded once per test session (treat as read-only)."""
    import tf_stylegan2 as sg
    if name not in _NETWORKS:
        _NETWORKS[name] = sg.load_network(fixture_path(name))
    return _NETWORKS[name]


@pytest.fixture(scope="session", params=FIXTURES)
def fixture_name(request):
    return request.param


@pytest.fixture(scope="session")
def nets(fixture_name):
    return load_fixture_networks(fixture_name)


@pytest.fixture(scope="session")
def ref(fixture_name):
    return load_reference(fixture_name)


def custom_ops_problem():
    """None when the custom-op library is built (building it if needed) and loaded, else why not."""
    from tf_stylegan2.ops import custom
    return custom.load(build=True)


@pytest.fixture(params=IMPLS)
def impl(request, monkeypatch):
    """Run the test once on the reference ops and once on the custom-op kernels.

    Sets `TF_STYLEGAN2_OPS` (what impl="auto" means) for the test, so the comparison never depends
    on whether an earlier test happened to load the library. "custom" is skipped, with the reason,
    only where the library cannot be built (`.ci/run` requires a compiler, so never in CI).
    """
    from tf_stylegan2.ops import dispatch
    if request.param == "custom":
        problem = custom_ops_problem()
        if problem is not None:
            pytest.skip("custom ops cannot be built here: %s" % problem)
    monkeypatch.setenv(dispatch.ENV_VAR, request.param)
    return request.param


def copy_with(network, cls, **changes):
    """A network of class `cls` built from `network`'s config with `changes`, holding its weights."""
    clone = cls(**dict(network.get_config(), **changes))
    weights = clone.official_weights()
    for name, (var, _) in network.official_weights().items():
        weights[name][0].assign(var)
    return clone


def nhwc(x):
    """NCHW reference arrays -> NHWC."""
    return np.asarray(x).transpose(0, 2, 3, 1)


def official_uint8(img_nchw):
    """Reference float images (NCHW) -> uint8 NHWC by the official saturating cast (truncation)."""
    return np.clip(nhwc(img_nchw) * 127.5 + 128, 0, 255).astype(np.uint8)


def assert_uint8_close(actual, expected):
    """uint8 images (any shape, a whole batch at once) at most 1 LSB off, on at most
    max(2, 0.1 %) of all values: a float result within 1e-4 of the reference can still truncate
    to the other side of an integer where the reference lies within 1e-4 of one."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    diff = np.abs(actual.astype(np.int32) - expected.astype(np.int32))
    assert diff.max(initial=0) <= 1, diff.max()
    assert np.count_nonzero(diff) <= max(2, 0.001 * diff.size), (np.count_nonzero(diff), diff.size)


def run_in_process(module, *args):
    """Run an app module's `main()` in this process with `args` (str()-ed) as its command line and
    `<module name>.py` as argv[0], absl's flags reset first -> its exit status (0 on success)."""
    from absl import flags
    flags.FLAGS.unparse_flags()
    argv = sys.argv
    sys.argv = [module.__name__.rsplit(".", 1)[-1] + ".py"] + [str(a) for a in args]
    try:
        module.main()
    except SystemExit as e:
        return e.code or 0
    finally:
        sys.argv = argv
    return 0


def run_dir_of(result_dir):
    """The one run directory (`NNNNN-<name>`) an app made in `result_dir`."""
    dirs = sorted(glob.glob(os.path.join(str(result_dir), "[0-9]" * 5 + "-*")))
    assert len(dirs) == 1, dirs
    return dirs[0]


def read_png(path):
    """An image file -> its uint8 array (HW or HWC as stored)."""
    from PIL import Image
    return np.asarray(Image.open(path))


_SOCKET_GUARD = textwrap.dedent("""\
    # Installed by tests/conftest.py offline_env(): every network connection fails and is logged.
    import os
    import socket

    def _blocked(*args, **kwargs):
        with open(os.environ["TF_STYLEGAN2_TEST_NETWORK_LOG"], "a") as f:
            f.write("blocked network access %r\\n" % (args[1:2],))
        raise OSError("network access blocked by the test")

    socket.socket.connect = socket.socket.connect_ex = _blocked
    socket.create_connection = socket.getaddrinfo = _blocked
    """)


def offline_env(directory, pythonpath):
    """Environment for a subprocess without network access: a `sitecustomize` socket guard (first on
    PYTHONPATH, before `pythonpath`) makes every connection fail and logs it to `<directory>/network.log`,
    and both proxy spellings point at a closed port. Returns (env overrides, log path)."""
    guard = os.path.join(str(directory), "socket_guard")
    os.makedirs(guard, exist_ok=True)
    with open(os.path.join(guard, "sitecustomize.py"), "w") as f:
        f.write(_SOCKET_GUARD)
    log = os.path.join(str(directory), "network.log")
    env = {"PYTHONPATH": os.pathsep.join([guard, pythonpath]), "TF_STYLEGAN2_TEST_NETWORK_LOG": log}
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env[name] = "http://127.0.0.1:9"
    env.update(no_proxy="", NO_PROXY="")
    return env, log


def _build_c_client(directory):
    """`tests/c/saved_model_client.c` compiled against the C API in the `tensorflow` wheel -> the
    executable's path; skips the test where there is no C compiler (cc, gcc, clang or $CC)."""
    import tensorflow as tf
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc, gcc or clang; or $CC) to build the TF C API client")
    lib, exe = tf.sysconfig.get_lib(), os.path.join(str(directory), "saved_model_client")
    command = [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-I" + tf.sysconfig.get_include(),
               os.path.join(TESTS, "c", "saved_model_client.c"), "-o", exe, "-L" + lib,
               "-l:libtensorflow_cc.so.2", "-l:libtensorflow_framework.so.2", "-Wl,-rpath," + lib]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return exe


@pytest.fixture(scope="session")
def serve_signature(tmp_path_factory):
    """TF Serving's own loader as a function: `serve_signature(export_dir, name, **feeds)` runs the
    signature `name` of the SavedModel's MetaGraphDef tagged `serve` in the C client (built once per
    session; `TF_LoadSessionFromSavedModel`, the session-based SavedModelBundle path TF Serving uses),
    feeding arrays by input key (their own dtypes and shapes), and returns every output of the
    signature by key, with the dtype and shape the C API reported."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2
    client = _build_c_client(tmp_path_factory.mktemp("c_client"))

    def serve(export_dir, name, **feeds):
        proto = saved_model_pb2.SavedModel()
        with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
            proto.ParseFromString(f.read())
        (meta_graph,) = [m for m in proto.meta_graphs if "serve" in m.meta_info_def.tags]
        signature = meta_graph.signature_def[name]
        work = tmp_path_factory.mktemp("serve_" + name)
        args = [client, export_dir, "serve"]
        for i, (key, value) in enumerate(feeds.items()):
            value, path = np.asarray(value), str(work / ("feed%d" % i))
            value.tofile(path)
            args += ["feed", signature.inputs[key].name, str(tf.as_dtype(value.dtype).as_datatype_enum),
                     ",".join(str(d) for d in value.shape) or "scalar", path]
        keys = sorted(signature.outputs)
        for i, key in enumerate(keys):
            args += ["fetch", signature.outputs[key].name, str(work / ("fetch%d" % i))]
        result = subprocess.run(args, capture_output=True, text=True, timeout=300,
                                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        assert result.returncode == 0, result.stderr[-3000:]
        lines = result.stdout.splitlines()
        assert len(lines) == len(keys), result.stdout
        outputs = {}
        for i, (key, line) in enumerate(zip(keys, lines)):
            dtype, *shape = (int(v) for v in line.split())
            outputs[key] = np.fromfile(str(work / ("fetch%d" % i)), tf.as_dtype(dtype).as_numpy_dtype).reshape(shape)
        return outputs

    return serve
