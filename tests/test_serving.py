"""Serving proof: the converter CLI's SavedModel works without this project (as TF Serving needs),
`saved_model_cli` lists its signatures, a REST `:predict` body evaluates, and the SavedModel-backed
generator matches the Keras one."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan2 as sg
from conftest import fixture_path, load_fixture_networks, load_reference, nhwc
from tf_stylegan2.export import SavedModelGenerator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOAT_TOL = 1e-4


@pytest.fixture(scope="module")
def converted_dir(tmp_path_factory):
    """The `orig` fixture converted by the CLI (with --verify), as a user would run it."""
    out = tmp_path_factory.mktemp("convert") / "orig"
    result = subprocess.run(
        [sys.executable, "-m", "converters.convert_pkl", "--network", fixture_path("orig"), "--output-dir", str(out),
         "--verify=2"], cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    m = re.search(r"float image ([0-9.e+-]+), uint8 image (\d+) LSB", result.stdout)
    assert m and float(m.group(1)) <= FLOAT_TOL and int(m.group(2)) <= 1, result.stdout
    assert "convert: 3/3 in " in result.stderr  # on a pipe: one final progress line (the conversion takes > 1 s)
    return out


@pytest.fixture(scope="module")
def G():
    return load_fixture_networks("orig").G_ema


def _close_uint8(a, b):
    assert a.dtype == np.uint8 and a.shape == b.shape
    assert np.abs(a.astype(int) - np.asarray(b).astype(int)).max() <= 1


def test_converter_output_rebuilds_the_keras_networks(converted_dir, G):
    assert sorted(os.listdir(converted_dir)) == ["D.weights.h5", "G.weights.h5", "G_ema.weights.h5", "config.json",
                                                 "saved_model"]
    nets = sg.load_network(str(converted_dir))
    z = sg.z_from_seeds([3, 4], G.z_dim)
    np.testing.assert_array_equal(nets.G_ema(z, truncation_psi=0.5).numpy(), G(z, truncation_psi=0.5).numpy())


def test_saved_model_runs_in_a_fresh_process_without_this_project(converted_dir, G, tmp_path):
    z = sg.z_from_seeds([5, 6, 7], G.z_dim)
    w = G.mapping(z, truncation_psi=0.7).numpy()
    mask = np.arange(G.num_ws) >= 3
    np.savez(tmp_path / "inputs.npz", z=z, w=w, mask=mask)
    script = textwrap.dedent("""
        import sys

        class BlockProject:  # even an editable install of this project must not be reachable
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tf_stylegan2", "converters"):
                    raise ImportError("this process must not use " + name)
        sys.meta_path.insert(0, BlockProject())
        import numpy as np
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2
        from tensorflow.python.framework import op_def_registry
        model = tf.saved_model.load(sys.argv[1])
        proto = saved_model_pb2.SavedModel()
        proto.ParseFromString(open(sys.argv[1] + "/saved_model.pb", "rb").read())
        graph = proto.meta_graphs[0].graph_def
        ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
        unknown = sorted(op for op in ops if op_def_registry.get(op) is None)
        assert not unknown, "ops outside core TensorFlow: %s" % unknown
        x = np.load("inputs.npz")
        sig = model.signatures
        off = tf.constant(False)
        out = dict(
            serving=sig["serving_default"](z=tf.constant(x["z"]), truncation_psi=tf.constant(0.7))["images"],
            w=sig["mapping"](z=tf.constant(x["z"]), truncation_psi=tf.constant(0.7))["w"],
            synthesis=sig["synthesis"](w=tf.constant(x["w"]), random_noise=off)["images"],
            synthesis_float=sig["synthesis_float"](w=tf.constant(x["w"]), random_noise=off)["images"],
            random=sig["synthesis_float"](w=tf.constant(x["w"]), random_noise=tf.constant(True))["images"],
            style_mix=sig["style_mix"](w_row=tf.constant(x["w"][:1]), w_col=tf.constant(x["w"][1:2]),
                                       col_styles=tf.constant(x["mask"]), random_noise=off)["images"])
        assert not any(m.split(".")[0] in ("tf_stylegan2", "converters") for m in sys.modules)
        np.savez("outputs.npz", **{k: v.numpy() for k, v in out.items()})
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-I", "-c", script, str(converted_dir / "saved_model")], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "outputs.npz")
    img = G.synthesis(w, noise_mode="const").numpy()
    np.testing.assert_allclose(out["w"], w, atol=FLOAT_TOL)
    np.testing.assert_allclose(out["synthesis_float"], img, atol=FLOAT_TOL)
    _close_uint8(out["synthesis"], sg.to_uint8(img))
    _close_uint8(out["serving"], sg.to_uint8(img))
    _close_uint8(out["style_mix"], sg.to_uint8(G.style_mix(w[:1], w[1:2], mask)))
    assert np.abs(out["random"] - img).max() > 1e-2


def test_saved_model_cli_lists_the_signatures(converted_dir):
    cli = shutil.which("saved_model_cli")
    command = [cli] if cli else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    result = subprocess.run(command + ["show", "--all", "--dir", str(converted_dir / "saved_model")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout
    blocks = dict(re.findall(r"signature_def\['(\w+)'\]:\n(.*?)(?=\nsignature_def\[|\n\n|\Z)", text, re.S))
    assert set(blocks) >= {"serving_default", "mapping", "synthesis", "synthesis_float", "style_mix"}

    def tensor(block, kind, name):
        m = re.search(r"%s\['%s'\] tensor_info:\s+dtype: (\w+)\s+shape: (\([^)]*\))" % (kind, name), blocks[block])
        assert m, (block, kind, name)
        return m.group(1), m.group(2)
    assert tensor("serving_default", "inputs", "z") == ("DT_FLOAT", "(-1, 128)")
    assert tensor("serving_default", "inputs", "truncation_psi") == ("DT_FLOAT", "()")
    assert tensor("serving_default", "outputs", "images") == ("DT_UINT8", "(-1, 16, 16, 3)")
    assert tensor("mapping", "outputs", "w") == ("DT_FLOAT", "(-1, 6, 128)")
    assert tensor("synthesis", "inputs", "w") == ("DT_FLOAT", "(-1, 6, 128)")
    assert tensor("synthesis", "inputs", "random_noise") == ("DT_BOOL", "()")
    assert tensor("synthesis_float", "outputs", "images") == ("DT_FLOAT", "(-1, 16, 16, 3)")
    assert tensor("style_mix", "inputs", "col_styles") == ("DT_BOOL", "(6)")
    assert tensor("style_mix", "outputs", "images") == ("DT_UINT8", "(-1, 16, 16, 3)")


def rest_predict_body(z, truncation_psi):
    """The TF Serving REST `:predict` request body for `serving_default` (the README's example)."""
    return json.dumps({"signature_name": "serving_default",
                       "inputs": {"z": np.asarray(z).tolist(), "truncation_psi": truncation_psi}})


def test_rest_predict_body_evaluates_through_the_signature(converted_dir, G):
    z = sg.z_from_seeds([11, 12], G.z_dim)
    body = json.loads(rest_predict_body(z, 0.5))
    signature = tf.saved_model.load(str(converted_dir / "saved_model")).signatures[body["signature_name"]]
    specs = signature.structured_input_signature[1]
    assert set(body["inputs"]) == set(specs)
    inputs = {k: tf.constant(v, dtype=specs[k].dtype) for k, v in body["inputs"].items()}
    images = signature(**inputs)["images"].numpy()
    _close_uint8(images, sg.to_uint8(G(z, truncation_psi=0.5)))


def test_saved_model_generator_matches_keras(converted_dir, G):
    S = sg.load_network(str(converted_dir / "saved_model")).G_ema
    assert isinstance(S, SavedModelGenerator)
    assert (S.z_dim, S.w_dim, S.c_dim, S.num_ws, S.img_resolution, S.img_channels) == \
        (G.z_dim, G.w_dim, G.c_dim, G.num_ws, G.img_resolution, G.img_channels)
    z = sg.z_from_seeds([1, 2], G.z_dim)
    w = G.mapping(z, truncation_psi=0.6)
    np.testing.assert_allclose(S.mapping(z, truncation_psi=0.6).numpy(), w.numpy(), atol=FLOAT_TOL)
    np.testing.assert_allclose(S(z, truncation_psi=0.6).numpy(), G(z, truncation_psi=0.6).numpy(), atol=FLOAT_TOL)
    np.testing.assert_allclose(S.style_mix(w[:1], w[1:], range(2)).numpy(),
                               G.style_mix(w[:1], w[1:], range(2)).numpy(), atol=FLOAT_TOL)
    assert np.abs(S.synthesis(w, noise_mode="random").numpy() - S.synthesis(w).numpy()).max() > 1e-2
    with pytest.raises(ValueError, match="truncation_cutoff"):
        S.mapping(z, truncation_cutoff=2)
    with pytest.raises(ValueError, match="noise_mode"):
        S.synthesis(w, noise_mode="none")


def test_conditional_export_takes_labels(tmp_path):
    """The conditional StyleGAN2-ADA fixture exported: with the reference labels the SavedModel
    gives NVIDIA's full-forward psi-0.5 images."""
    from tf_stylegan2.export import export_saved_model
    ref = load_reference("ada")
    export_saved_model(load_fixture_networks("ada").G_ema, str(tmp_path / "sm"))
    S = SavedModelGenerator(str(tmp_path / "sm"))
    assert S.c_dim == 3
    z = ref["z"].astype(np.float32)
    np.testing.assert_allclose(S(z, ref["c"], truncation_psi=0.5).numpy(), nhwc(ref["img_psi0.5_full_forward"]),
                               atol=FLOAT_TOL)
    with pytest.raises(ValueError, match="conditional"):
        S.mapping(z)


def test_broken_saved_model_directory_is_refused(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"garbage")
    with pytest.raises(sg.NetworkPickleError, match="cannot load SavedModel"):
        sg.load_network(str(tmp_path))
