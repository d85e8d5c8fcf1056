"""TF Serving's own loader: a C program (`tests/c/serve_saved_model.c`) compiled against the C API
shipped in the `tensorflow` wheel loads the exported SavedModel with tag `serve` through
`TF_LoadSessionFromSavedModel` (the session-based SavedModelBundle path TF Serving uses), runs the
`serving_default` signature on the `public` fixture's z with psi 0.5, and must give NVIDIA's
reference images within 1 LSB.
"""

import os
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from conftest import assert_uint8_close, load_fixture_networks, load_reference
from tf_stylegan2.export.saved_model import export_saved_model

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "c", "serve_saved_model.c")
TAG = "serve"


def c_compiler():
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def serving_tensor_names(export_dir):
    """The `serving_default` signature's graph tensors (z, truncation_psi, images), read from the
    MetaGraphDef tagged `serve` as TF Serving reads them."""
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    (meta_graph,) = [m for m in proto.meta_graphs if TAG in m.meta_info_def.tags]
    signature = meta_graph.signature_def["serving_default"]
    return signature.inputs["z"].name, signature.inputs["truncation_psi"].name, signature.outputs["images"].name


@pytest.fixture(scope="module")
def serving_program(tmp_path_factory):
    cc = c_compiler()
    if cc is None:
        pytest.skip("no C compiler (cc, gcc or clang; or $CC) to build the TF C API client")
    lib = tf.sysconfig.get_lib()
    exe = str(tmp_path_factory.mktemp("c") / "serve_saved_model")
    command = [cc, "-std=c11", "-Wall", "-Werror", "-I" + tf.sysconfig.get_include(), SOURCE, "-o", exe, "-L" + lib,
               "-l:libtensorflow_cc.so.2", "-l:libtensorflow_framework.so.2", "-Wl,-rpath," + lib]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return exe


def test_tf_serving_loader_gives_the_reference_images(serving_program, tmp_path):
    ref = load_reference("public")
    G = load_fixture_networks("public").G_ema
    export_dir = str(tmp_path / "saved_model")
    export_saved_model(G, export_dir)
    z = ref["z"].astype(np.float32)
    z.tofile(str(tmp_path / "z.f32"))
    out = str(tmp_path / "images.u8")
    args = [serving_program, export_dir, TAG, *serving_tensor_names(export_dir), str(tmp_path / "z.f32"),
            str(len(z)), str(G.z_dim), "0.5", out]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    expected = ref["img_psi0.5_uint8_nhwc"]
    assert result.stdout.split() == [str(d) for d in expected.shape]
    images = np.fromfile(out, np.uint8).reshape(expected.shape)
    assert_uint8_close(images, expected)
    assert np.abs(images.astype(int) - expected).max() <= 1
