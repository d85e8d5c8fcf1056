"""The loss terms of `tf_stylegan2.training.losses` against NVIDIA's stylegan2-ada-pytorch
`StyleGAN2Loss` (`tests/data/public/training_reference.{npz,json}`, whose `conventions` this
test follows: the pickle's training G and D, batch 4, const noise, the stored inputs).

Tolerances (from the fixture's contract): values within 1e-4 relative; the gradient of each
loss's sum w.r.t. each trainable variable, in the official layout, within relative L2
`max(1e-3, 3 * sens)`, `sens` being the tensor's measured kink sensitivity (leaky-ReLU sign
changes make gradients of gradients jump). Run with the reference ops and the custom ops.
"""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2.networks.common import to_official
from tf_stylegan2.ops import custom, dispatch
from tf_stylegan2.training import losses
from conftest import fixture_path, load_fixture_networks

VALUE_RTOL = 1e-4
LOSSES = ("d_logistic", "r1_penalty", "g_nonsaturating", "path_lengths")


@pytest.fixture(scope="module")
def reference():
    with np.load(fixture_path("public", "training_reference.npz")) as f:
        arrays = {k: f[k] for k in f.files}
    with open(fixture_path("public", "training_reference.json")) as f:
        meta = json.load(f)
    return arrays, meta


@pytest.fixture(scope="module")
def nets():
    return load_fixture_networks("public")


@pytest.fixture(params=["ref-eager", "ref-function", "custom-function"])
def mode(request, monkeypatch, nets):
    """(ops implementation, execution, custom-kernel selections made): op by op (G's compiled
    graphs bypassed, they may hold other ops), or one `tf.function` traced for the test (as the
    training loop runs them)."""
    impl, execution = request.param.split("-")
    if execution == "eager":
        monkeypatch.setattr(nets.G, "execution", "eager")
    if impl == "custom" and shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("no C++ compiler: the custom ops cannot be built here")
    if impl == "custom":
        assert custom.load(build=True) is None
    monkeypatch.setenv(dispatch.ENV_VAR, impl)
    selected = []
    select = dispatch.select

    def recording_select(op_name, impl_arg, x):
        fn = select(op_name, impl_arg, x)
        selected.append(fn is not None)
        return fn

    monkeypatch.setattr(dispatch, "select", recording_select)
    return impl, execution, selected


def trainable_official(net, prefixes=("",)):
    """`{official name: (variable, layout)}` of a network's trainable variables under `prefixes`."""
    return {name: (var, layout) for name, (var, layout) in net.official_weights().items()
            if var.trainable and name.startswith(prefixes)}


def loss_and_grads(fn, net, prefixes=("",), execution="eager"):
    """`fn()` -> `[N]` losses, and the gradient of their sum per official name, official layout."""
    weights = trainable_official(net, prefixes)

    def run():
        with tf.GradientTape() as tape:
            values = fn()
            total = tf.reduce_sum(values)
        return values, tape.gradient(total, [var for var, _ in weights.values()])

    values, grads = run() if execution == "eager" else tf.function(run)()
    # None: a variable the loss does not depend on (R1 and D's Output/bias); the reference stores zeros.
    return values.numpy(), {name: to_official(np.zeros(var.shape, np.float32) if g is None else g.numpy(), layout)
                            for (name, (var, layout)), g in zip(weights.items(), grads)}


def compute(name, nets, ref, execution):
    G, D = nets.G, nets.D
    if name == "d_logistic":
        return loss_and_grads(lambda: losses.d_logistic(D, ref["real_img"], ref["fake_img"]), D, ("",), execution)
    if name == "r1_penalty":
        return loss_and_grads(lambda: losses.r1_penalty(D, ref["real_img"]), D, ("",), execution)
    if name == "g_nonsaturating":
        return loss_and_grads(lambda: losses.g_nonsaturating(D, G(ref["z"], noise_mode="const")), G,
                              ("mapping/", "synthesis/"), execution)
    return loss_and_grads(lambda: losses.path_lengths(G, ref["ws"], ref["pl_noise"], noise_mode="const"), G,
                          ("synthesis/",), execution)


def meta_batch(meta):
    return int(meta["conventions"]["batch"].split("N=")[1].split(";")[0])


def rel_l2(actual, expected):
    return np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-30)


@pytest.mark.parametrize("name", LOSSES)
def test_loss_values_and_gradients_match_nvidia(name, mode, nets, reference):
    ref, meta = reference
    impl, execution, selected = mode
    values, grads = compute(name, nets, ref, execution)
    assert selected and all(used_custom == (impl == "custom") for used_custom in selected)
    assert values.shape == ref[name].shape == (meta_batch(meta),)
    np.testing.assert_allclose(values, ref[name], rtol=VALUE_RTOL, atol=0)

    net = "D" if name in ("d_logistic", "r1_penalty") else "G"
    prefix = "grad/%s/%s/" % (name, net)
    expected = {k[len(prefix):]: ref[k] for k in ref if k.startswith(prefix)}
    assert sorted(grads) == sorted(expected)
    failures = []
    for var_name, g in grads.items():
        tol = max(1e-3, 3 * float(ref["sens/%s/%s/%s" % (name, net, var_name)]))
        err = rel_l2(g, expected[var_name])
        assert g.shape == expected[var_name].shape, var_name
        if not err <= tol:
            failures.append("%s: rel L2 %.3g > %.3g" % (var_name, err, tol))
    assert not failures, failures


def test_fixture_inputs_follow_the_stated_conventions(nets, reference):
    """The stored inputs are the documented RandomState draws, and our mapping gives the stored ws."""
    ref, meta = reference
    n, h, w = ref["real_img"].shape[:3]
    rnd = np.random.RandomState(int(meta["seed"]))
    for key, draw in (("real_img", lambda: rnd.uniform(-1, 1, [n, h, w, 3])),
                      ("fake_img", lambda: rnd.uniform(-1, 1, [n, h, w, 3])),
                      ("z", lambda: rnd.randn(n, nets.G.z_dim)), ("z2", lambda: rnd.randn(n, nets.G.z_dim)),
                      ("pl_noise", lambda: rnd.randn(n, h, w, 3) / np.sqrt(h * w))):
        np.testing.assert_array_equal(draw().astype(np.float32), ref[key], err_msg=key)
    np.testing.assert_allclose(nets.G.mapping(ref["z2"], None), ref["ws"], rtol=1e-5, atol=1e-5)
