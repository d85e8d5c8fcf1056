"""Keras conventions: every layer and network is Keras-serializable (package `tf_stylegan2`), `.keras`
files round-trip with identical outputs (stored noise and w_avg included) through Keras alone,
`Generator.export` writes a Keras SavedModel export, the converter's `G_ema.keras`, and the
deferred weight creation used when weights come from a file."""

import contextlib
import os
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan2 as sg
from tf_stylegan2 import converted, layers, sources
from tf_stylegan2.export.convert import KERAS_FILE, convert_network
from tf_stylegan2.layers.initialization import aligned_empty, deferred_initialization
from tf_stylegan2.official import load as official_load

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _fixture(name):
    return sg.load_network(os.path.join(DATA, name, "network.pkl"))


@pytest.fixture(scope="module")
def ada():
    return _fixture("ada")  # conditional, resnet G, skip D with label projection, conv_clamp


def keras_load(path):
    """`keras.saving.load_model(path)` with this package's loaders made to fail: Keras rebuilds alone."""
    def refuse(*args, **kwargs):
        raise AssertionError("a tf_stylegan2 loader was called")
    with contextlib.ExitStack() as stack:
        for module, name in ((sg, "load_network"), (sources, "load_network"), (official_load, "load_pickle"),
                             (converted, "load")):
            stack.enter_context(mock.patch.object(module, name, refuse))
        return keras.saving.load_model(path)


def _layer_cases():
    rng = np.random.default_rng(0)
    x8 = rng.standard_normal([2, 8, 8, 4]).astype(np.float32)
    w = rng.standard_normal([2, 6]).astype(np.float32)
    return [
        (layers.DenseLayer(5, 3, activation="lrelu", lr_multiplier=0.1, bias_init=1.0, name="dense"),
         (rng.standard_normal([2, 5]).astype(np.float32),)),
        (layers.Conv2dLayer(4, 6, 3, activation="lrelu", down=2, conv_clamp=64.0, name="conv"), (x8,)),
        (layers.Conv2dLayer(4, 6, 1, bias=False, up=2, resample_filter=[1, 2, 1], name="skip"), (x8,)),
        (layers.MinibatchStddev(2, 2, name="mbstd"), (x8,)),
        (layers.SynthesisLayer(4, 5, 6, up=2, conv_clamp=256.0, fused_modconv=False, name="syn"), (x8, w)),
        (layers.ToRGBLayer(4, 3, 6, conv_clamp=128.0, name="rgb"), (x8, w)),
        (layers.ConstInput(4, name="const"), (tf.constant(2),)),
    ]


def test_every_layer_deserializes_by_registered_name_with_its_full_config():
    for layer, inputs in _layer_cases():
        layer.build(None)
        for v in layer.weights:
            v.assign(np.random.default_rng(1).standard_normal(v.shape).astype(np.float32))
        blob = keras.saving.serialize_keras_object(layer)
        assert blob["registered_name"] == "tf_stylegan2>" + type(layer).__name__
        clone = keras.saving.deserialize_keras_object(blob)
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
        if not clone.built:
            clone.build(None)
        clone.set_weights(layer.get_weights())
        np.testing.assert_array_equal(clone(*inputs).numpy(), layer(*inputs).numpy())


def _round_trip(model, tmp_path, name):
    path = str(tmp_path / (name + ".keras"))
    model.save(path)
    loaded = keras_load(path)
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    assert [v.path for v in loaded.weights] == [v.path for v in model.weights]
    for a, b in zip(loaded.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    return loaded


@pytest.mark.parametrize("fixture", ["orig", "ada"])
def test_generator_keras_file_round_trip(tmp_path, fixture):
    G = (_fixture(fixture)).G_ema
    loaded = _round_trip(G, tmp_path, "G_ema")
    np.testing.assert_array_equal(loaded.mapping.w_avg.numpy(), G.mapping.w_avg.numpy())
    for a, b in zip(loaded.synthesis.noise_buffers, G.synthesis.noise_buffers):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    z = np.random.default_rng(2).standard_normal([3, G.z_dim]).astype(np.float32)
    c = np.eye(G.c_dim, dtype=np.float32)[[0, 1, 2]] if G.c_dim else None
    for psi in (1.0, 0.5):
        np.testing.assert_array_equal(loaded(z, c, truncation_psi=psi).numpy(), G(z, c, truncation_psi=psi).numpy())


def test_discriminator_and_sub_networks_keras_files(tmp_path, ada):
    D = _round_trip(ada.D, tmp_path, "D")
    img = np.random.default_rng(3).uniform(-1, 1, [4, 16, 16, 3]).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    np.testing.assert_array_equal(D(img, c).numpy(), ada.D(img, c).numpy())
    mapping = _round_trip(ada.G_ema.mapping, tmp_path, "mapping")
    z = np.random.default_rng(4).standard_normal([4, 64]).astype(np.float32)
    ws = ada.G_ema.mapping(z, c, truncation_psi=0.7).numpy()
    np.testing.assert_array_equal(mapping(z, c, truncation_psi=0.7).numpy(), ws)
    synthesis = _round_trip(ada.G_ema.synthesis, tmp_path, "synthesis")
    np.testing.assert_array_equal(synthesis(ws).numpy(), ada.G_ema.synthesis(ws).numpy())


def test_generator_export_is_a_plain_tf_saved_model(tmp_path, ada, monkeypatch):
    monkeypatch.setenv("TF_STYLEGAN2_OPS", "custom")  # export must still trace the reference ops only
    path = str(tmp_path / "export")
    ada.G_ema.export(path, verbose=False)
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        assert b"Stylegan2" not in f.read()
    monkeypatch.delenv("TF_STYLEGAN2_OPS")
    served = tf.saved_model.load(path)
    z = np.random.default_rng(5).standard_normal([2, 64]).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[[2, 0]]
    np.testing.assert_allclose(served.serve(z, c).numpy(), ada.G_ema(z, c).numpy(), atol=1e-5)


def test_converter_writes_a_keras_file(tmp_path):
    source = os.path.join(DATA, "orig", "network.pkl")
    nets = sg.load_network(source)
    out = tmp_path / "converted"
    convert_network(source, str(out), saved_model=False, keras_file=True)
    G = keras_load(str(out / KERAS_FILE))
    z = np.random.default_rng(6).standard_normal([2, G.z_dim]).astype(np.float32)
    np.testing.assert_array_equal(G(z).numpy(), nets.G_ema(z).numpy())


def test_deferred_initialization_creates_weights_from_given_values_only():
    weight = np.arange(15, dtype=np.float32).reshape(5, 3)
    with deferred_initialization() as values:
        dense = layers.DenseLayer(5, 3, bias_init=2.0, lr_multiplier=0.5)
        dense.build()
        values.set(dense.weight, weight)
        with pytest.raises(ValueError, match="shape"):
            values.set(dense.bias, np.zeros([4], np.float32))
    np.testing.assert_array_equal(dense.weight.numpy(), weight)
    np.testing.assert_array_equal(dense.bias.numpy(), np.full([3], 4.0, np.float32))  # its initializer
    outside = layers.DenseLayer(2, 2)
    outside.build()
    with pytest.raises(ValueError, match="not created inside"):
        with deferred_initialization() as values:
            values.set(outside.weight, np.zeros([2, 2], np.float32))
    with pytest.raises(RuntimeError, match="boom"):
        with deferred_initialization():
            abandoned = layers.Conv2dLayer(4, 4, 3)
            abandoned.build()
            raise RuntimeError("boom")
    assert not np.any(abandoned.weight.numpy())  # created as zeros: no random numbers drawn


def test_deferred_values_become_variable_memory_at_most_once():
    """An aligned writable buffer becomes the first variable's memory; a second variable given the
    same memory gets a copy, so training one never changes the other."""
    shared = aligned_empty(4 * 6).view(np.float32).reshape(2, 3)
    shared[...] = np.arange(6, dtype=np.float32).reshape(2, 3)
    with deferred_initialization() as values:
        a, b = layers.DenseLayer(2, 3, bias=False), layers.DenseLayer(2, 3, bias=False)
        a.build()
        b.build()
        values.set(a.weight, shared)
        values.set(b.weight, shared)
    a.weight.assign_add(tf.ones([2, 3]))
    b.weight.assign_sub(tf.ones([2, 3]))
    np.testing.assert_array_equal(a.weight.numpy(), np.arange(6).reshape(2, 3) + 1)
    np.testing.assert_array_equal(b.weight.numpy(), np.arange(6).reshape(2, 3) - 1)
