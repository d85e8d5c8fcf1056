"""The custom-op library (custom_ops/) against the reference ops, and its selection rules.

The module fixture builds the CPU library from source (as CI does from a clean clone; ~1 min the
first time) and loads it; where it cannot be built every test here is skipped with the reason
(`.ci/run` requires a C++ compiler); a library that builds but does not load fails under `CI=true`.
Equality tolerance: max |custom - ref| <= 1e-5 * max |ref|.
The networks against NVIDIA's outputs with these kernels: `impl="custom"` in test_networks.py,
test_run_generator.py and test_ada_fixture.py.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan2 as sg
from tf_stylegan2 import ops
from tf_stylegan2.ops import build_custom_ops, custom, dispatch
from conftest import custom_ops_problem, fixture_path, load_reference

RTOL = 1e-5


@pytest.fixture(scope="module")
def lib():
    """The loaded library. Where it cannot be built the tests skip; where it builds but does not
    load they skip too, except in CI (`CI=true`), where that fails."""
    problem = custom_ops_problem()
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true" and build_custom_ops.is_current(build_custom_ops.library_path()):
            pytest.fail("the custom-op library is built but does not load: %s" % problem)
        pytest.skip("custom ops cannot be built here: %s" % problem)
    return custom.library()


@pytest.fixture(autouse=True)
def default_selection(monkeypatch):
    """Every test starts from impl="auto" meaning auto, whatever the caller's environment says."""
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)


def assert_close(actual, expected, rtol=RTOL):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(np.abs(expected).max(initial=0.0), 1e-30)
    assert np.abs(actual - expected).max(initial=0.0) <= rtol * scale


def zeros_if_none(grads, like):
    return [tf.zeros_like(v) if g is None else g for g, v in zip(grads, like)]


# ---------------------------------------------------------------------------------------------
# upfirdn2d

# (x shape, filter shape or "1d8", up, down, pad): every pad sign, up/down 1-3, per-axis factors,
# odd/even/asymmetric kernels of widths 1-6 (the kernel specialises widths 2-4 without resampling
# along W), channel counts from 1 to 64.
UPFIRDN_CASES = [
    ((2, 7, 9, 5), (1, 1), 1, 1, (0, 0, 0, 0)),
    ((1, 8, 8, 3), (4, 4), 2, 1, (2, 1, 2, 1)),
    ((2, 8, 6, 37), (4, 4), 1, 2, (1, 1, 1, 1)),
    ((1, 9, 7, 4), (3, 2), 1, 1, (1, 0, 2, 1)),
    ((1, 10, 11, 2), (5, 3), (2, 3), (3, 2), (3, -2, -1, 4)),
    ((3, 6, 6, 1), (2, 5), 3, 3, (-3, -2, 0, 2)),
    ((1, 5, 12, 64), (1, 6), (1, 2), (2, 1), (0, 3, 2, -1)),
    ((2, 8, 8, 33), "1d8", 2, 2, (4, 3, 4, 3)),
    ((2, 9, 10, 40), (3, 3), 1, 1, (-1, 2, 1, 1)),
    ((1, 6, 7, 17), (2, 4), (1, 2), 1, (4, -1, 1, 2)),
    ((1, 3, 2, 9), (2, 4), 1, 1, (5, 4, 1, 0)),            # no output pixel sees every tap
]


def _filter(spec, rng):
    if spec == "1d8":
        return rng.standard_normal([8]).astype(np.float32)  # applied separably by ops.upfirdn2d
    return rng.standard_normal(spec).astype(np.float32)


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("case", range(len(UPFIRDN_CASES)))
def test_upfirdn2d_forward_and_gradients_match_reference(lib, case, mode):
    shape, fspec, up, down, pad = UPFIRDN_CASES[case]
    rng = np.random.default_rng(case)
    x = tf.constant(rng.standard_normal(shape), tf.float32)
    f = _filter(fspec, rng)

    def run(impl):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = ops.upfirdn2d(x, f, up=up, down=down, pad=pad, gain=1.7, impl=impl)
                loss = tf.reduce_sum(y * tf.sin(y))
            dx = inner.gradient(loss, x)
            penalty = tf.reduce_sum(dx * dx)
        return y, dx, outer.gradient(penalty, x)

    if mode == "function":
        run = tf.function(run)
    for got, want in zip(run("custom"), run("ref")):
        assert_close(got, want)


def test_upfirdn2d_wrappers_match_reference(lib):
    x = tf.constant(np.random.default_rng(1).standard_normal([2, 8, 8, 6]), tf.float32)
    w = tf.constant(np.random.default_rng(2).standard_normal([3, 3, 6, 4]), tf.float32)
    k = [1, 3, 3, 1]
    for fn in (lambda impl: ops.filter2d(x, k, impl=impl), lambda impl: ops.upsample2d(x, k, impl=impl),
               lambda impl: ops.downsample2d(x, k, impl=impl), lambda impl: ops.upsample_conv2d(x, w, k, impl=impl),
               lambda impl: ops.conv_downsample2d(x, w, k, impl=impl)):
        assert_close(fn("custom"), fn("ref"))


# ---------------------------------------------------------------------------------------------
# fused_bias_act

@pytest.mark.parametrize("act", sorted(ops.ACTIVATIONS))
def test_fused_bias_act_forward_and_two_gradient_orders_match_reference(lib, act):
    rng = np.random.default_rng(len(act))
    x = tf.constant(rng.standard_normal([3, 5, 4, 6]) * 2.5, tf.float32)
    configs = [  # (bias axis or None, alpha, gain, clamp)
        (-1, None, None, None),
        (1, 0.3, 0.7, 1.5),
        (None, None, 2.0, None),
        (0, None, None, 0.8),
    ]

    def run(impl, b, axis, alpha, gain, clamp):
        watched = [x] + ([b] if b is not None else [])
        with tf.GradientTape() as outer:
            outer.watch(watched)
            with tf.GradientTape() as inner:
                inner.watch(watched)
                y = ops.fused_bias_act(x, b, act=act, alpha=alpha, gain=gain, clamp=clamp, axis=axis, impl=impl)
                loss = tf.reduce_sum(y * tf.cos(y))
            grads = zeros_if_none(inner.gradient(loss, watched), watched)
            penalty = sum(tf.reduce_sum(g * g * (i + 1)) for i, g in enumerate(grads))
        second = zeros_if_none(outer.gradient(penalty, watched), watched)
        return [y] + grads + second

    for axis, alpha, gain, clamp in configs:
        b = None if axis is None else tf.constant(rng.standard_normal([x.shape[axis]]), tf.float32)
        axis = -1 if axis is None else axis
        for fn in (run, tf.function(run)):
            for got, want in zip(fn("custom", b, axis, alpha, gain, clamp), fn("ref", b, axis, alpha, gain, clamp)):
                assert_close(got, want)


def test_double_precision_and_third_order(lib):
    x = tf.constant(np.linspace(-4, 4, 24).reshape(2, 12), tf.float64)
    b = tf.constant([0.5] * 12, tf.float64)
    assert_close(ops.fused_bias_act(x, b, act="softplus", impl="custom"),
                 ops.fused_bias_act(x, b, act="softplus", impl="ref"), rtol=1e-12)
    images = tf.reshape(tf.concat([x] * 4, axis=1), [2, 4, 3, 4])
    assert_close(ops.upfirdn2d(images, [[1, 2], [3, 5]], up=2, pad=(1, 2, 0, 1), impl="custom"),
                 ops.upfirdn2d(images, [[1, 2], [3, 5]], up=2, pad=(1, 2, 0, 1), impl="ref"), rtol=1e-12)
    with tf.GradientTape() as t3:
        t3.watch(x)
        with tf.GradientTape() as t2:
            t2.watch(x)
            with tf.GradientTape() as t1:
                t1.watch(x)
                y = ops.fused_bias_act(x, act="tanh", impl="custom")
            g1 = t1.gradient(y, x)
        g2 = t2.gradient(g1, x)
    with pytest.raises(NotImplementedError, match="second order"):
        t3.gradient(g2, x)


# ---------------------------------------------------------------------------------------------
# Compiled calls of whole networks follow the dispatch mode

def _compiled_op_types(network):
    """Op types of every graph the network's compiled eager calls have traced."""
    return [{op.type for op in cf.graph.get_operations()}
            for fn in network._compiled._functions.values() for cf in fn._list_all_concrete_functions()]


def test_compiled_calls_are_cached_per_dispatch_mode(lib, monkeypatch):
    """A graph traced with the reference ops is not reused when the custom ops are asked for
    (and back): G.synthesis and G each trace once per mode, and the custom graph holds the
    custom ops."""
    G = sg.load_network(fixture_path("orig")).G_ema  # a private copy: fresh compiled-call caches
    ref = load_reference("orig")
    w, z = ref["w_psi1"][:2], ref["z"][:2].astype(np.float32)
    custom_ops = {"Stylegan2Upfirdn2d", "Stylegan2FusedBiasAct"}
    outputs = []
    # (mode, whether each traced graph holds custom ops, sorted): the last call reuses the first graph
    for mode, graphs in [("ref", [False]), ("custom", [False, True]), ("ref", [False, True])]:
        monkeypatch.setenv(dispatch.ENV_VAR, mode)
        outputs.append((G.synthesis(w).numpy(), G(z).numpy()))
        for network in (G.synthesis, G):
            assert sorted(bool(custom_ops & types) for types in _compiled_op_types(network)) == graphs, mode
    for custom_out, ref_out in zip(outputs[1], outputs[0]):
        assert_close(custom_out, ref_out, rtol=1e-4)


# ---------------------------------------------------------------------------------------------
# Selection rules

def _op_types(concrete_fn):
    return {op.type for op in concrete_fn.graph.get_operations()}


def test_auto_uses_custom_in_graphs_but_reference_for_xla_and_reference_only(lib):
    def model(x):
        return ops.fused_bias_act(ops.upsample2d(x, [1, 3, 3, 1]), act="lrelu")

    spec = tf.TensorSpec([1, 4, 4, 2], tf.float32)
    custom_ops = {"Stylegan2Upfirdn2d", "Stylegan2FusedBiasAct"}
    assert custom_ops <= _op_types(tf.function(model).get_concrete_function(spec))
    with dispatch.reference_only():
        assert not custom_ops & _op_types(tf.function(model).get_concrete_function(spec))

    def forced(x):
        return ops.fused_bias_act(ops.upsample2d(x, [1, 3, 3, 1], impl="custom"), act="lrelu", impl="custom")

    x = tf.random.normal([1, 4, 4, 2])
    assert_close(tf.function(forced, jit_compile=True)(x), model(x))  # compiles: no custom op inside


def test_environment_variable_sets_the_default(lib, monkeypatch):
    x = tf.zeros([1, 4, 4, 1])
    monkeypatch.setenv(dispatch.ENV_VAR, "ref")
    assert dispatch.select("upfirdn2d", "auto", x) is None
    assert dispatch.select("upfirdn2d", "custom", x) is not None
    monkeypatch.setenv(dispatch.ENV_VAR, "custom")
    assert dispatch.select("upfirdn2d", "auto", x) is not None
    assert dispatch.select("upfirdn2d", "ref", x) is None
    monkeypatch.setenv(dispatch.ENV_VAR, "fast")
    with pytest.raises(ValueError, match="TF_STYLEGAN2_OPS"):
        dispatch.select("upfirdn2d", "auto", x)


def test_fallback_without_kernel_says_so_once_on_a_gpu_only_and_custom_raises(lib, monkeypatch, capsys):
    monkeypatch.setattr(dispatch, "_FALLBACK_WARNED", [])
    x = tf.zeros([1, 4, 4, 2], tf.float16)  # the library has float32/float64 kernels only
    for _ in range(2):  # on a CPU the reference ops are as fast: nothing is said
        assert ops.fused_bias_act(x, act="lrelu").dtype == tf.float16
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(dispatch, "_device_type", lambda x: "GPU")  # the tensor as if on a GPU: no kernel there
    for _ in range(3):
        assert ops.fused_bias_act(x, act="lrelu").dtype == tf.float16
    assert capsys.readouterr().err == ("tf_stylegan2: note: using the reference ops on the GPU (no fused_bias_act "
                                       "kernel for float16 on GPU)\n")
    with pytest.raises(ValueError, match="not available"):
        ops.upfirdn2d(x, [[1.0]], impl="custom")


# ---------------------------------------------------------------------------------------------
# Bad arguments reach the kernels' checks, never a crash

def test_kernels_reject_bad_arguments(lib):
    x = tf.zeros([1, 4, 4, 2])
    up_args = dict(upx=1, upy=1, downx=1, downy=1, padx0=0, padx1=0, pady0=0, pady1=0)
    bad_upfirdn = [
        (x, tf.ones([6, 6]), {}),                          # filter larger than the input
        (x, tf.ones([3, 3]), dict(padx0=-3)),              # cropped below the filter size
        (tf.zeros([4, 4, 2]), tf.ones([1, 1]), {}),        # x not 4-D
        (x, tf.ones([3]), {}),                             # f not 2-D
        (x, tf.ones([0, 3]), {}),                          # empty filter
        (x, tf.ones([1, 1]), dict(upx=0)),                 # factor < 1
        (x, tf.ones([1, 1]), dict(pady1=1 << 30)),         # pad out of range
    ]
    for xx, f, overrides in bad_upfirdn:
        with pytest.raises(tf.errors.InvalidArgumentError):
            lib.stylegan2_upfirdn2d(xx, f, **{**up_args, **overrides})
    empty = tf.zeros([0])
    bad_bias_act = [
        (x, tf.zeros([3]), empty, empty, dict(axis=3)),            # bias length != x.shape[axis]
        (x, tf.zeros([2]), empty, empty, dict(axis=4)),            # axis out of range
        (x, tf.zeros([2, 1]), empty, empty, dict(axis=3)),         # bias not 1-D
        (x, empty, empty, empty, dict(grad=3)),                    # no such order
        (x, empty, tf.zeros([1, 4, 4]), empty, dict(grad=1)),      # xref shape
        (x, empty, x, empty, dict(grad=2)),                        # dy missing
    ]
    for xx, b, xref, dy, attrs in bad_bias_act:
        with pytest.raises(tf.errors.InvalidArgumentError):
            lib.stylegan2_fused_bias_act(xx, b, xref, dy, act="lrelu", **attrs)
    for impl in ("custom", "ref"):  # the Python API checks first: the same ValueError for both
        with pytest.raises(ValueError, match="bias shape"):
            ops.fused_bias_act(x, tf.zeros([3]), impl=impl)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 2])])
    def dynamic(v):  # shapes unknown at trace time: the kernel's own check fires at run time
        return lib.stylegan2_upfirdn2d(v, tf.ones([5, 5]), **up_args)

    with pytest.raises(tf.errors.InvalidArgumentError, match="larger than"):
        dynamic(x)


# ---------------------------------------------------------------------------------------------
# SavedModel export never contains the custom ops

class _Exported(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 3], tf.float32)])
    def __call__(self, x):
        y = ops.fused_bias_act(x, tf.constant([0.1, -0.2, 0.3]), act="lrelu", clamp=0.5)
        return ops.downsample2d(ops.upsample2d(ops.filter2d(y, [1, 2, 1]), [1, 3, 3, 1]), [1, 3, 3, 1])


def test_savedmodel_from_a_process_with_the_library_runs_without_it(lib, tmp_path):
    x = np.random.default_rng(3).standard_normal([2, 8, 8, 3]).astype(np.float32)
    module = _Exported()
    with dispatch.reference_only():
        tf.saved_model.save(module, str(tmp_path / "model"))
    expected = module(x).numpy()
    np.save(tmp_path / "x.npy", x)
    # A bare TensorFlow process: no tf_stylegan2 import, so no custom-op library.
    script = ("import numpy as np, sys, tensorflow as tf\n"
              "m = tf.saved_model.load(sys.argv[1])\n"
              "np.save(sys.argv[3], m(np.load(sys.argv[2])).numpy())\n")
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "model"), str(tmp_path / "x.npy"),
                    str(tmp_path / "y.npy")], check=True, capture_output=True, timeout=300)
    assert_close(np.load(tmp_path / "y.npy"), expected)


def test_build_is_a_no_op_when_current(lib):
    path = build_custom_ops.library_path()
    before = os.path.getmtime(path)
    assert build_custom_ops.build() == path and os.path.getmtime(path) == before
