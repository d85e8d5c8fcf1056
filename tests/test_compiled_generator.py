"""The fast path: compiled dispatch of eager G / G.synthesis calls, polyphase up-convolution,
reduced precision, and the generator benchmark's arithmetic (speed itself is in benchmarks/)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan2 as sg
from tf_stylegan2 import ops
from conftest import fixture_path, nhwc

IMG_ATOL = 1e-4
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def G():
    """A private copy of the smallest fixture generator (these tests change its execution mode)."""
    return sg.load_network(fixture_path("orig")).G_ema


@pytest.fixture(scope="module")
def orig_ref():
    with np.load(fixture_path("orig", "reference.npz")) as f:
        return {k: f[k] for k in f.files}


def traces(network):
    return sum(fn.experimental_get_tracing_count() for fn in network._compiled._functions.values())


@pytest.mark.parametrize("execution", ["eager", "function", "xla"])
def test_execution_modes_match_reference(G, orig_ref, execution):
    G.execution = execution
    try:
        z = orig_ref["z"].astype(np.float32)
        expected = nhwc(orig_ref["img_psi0.5_full_forward"])
        # batch 1: the top layers run fused; batch 2: non-fused
        np.testing.assert_allclose(G(z[:1], truncation_psi=0.5).numpy(), expected[:1], atol=IMG_ATOL)
        np.testing.assert_allclose(G(z[1:3], truncation_psi=0.5).numpy(), expected[1:3], atol=IMG_ATOL)
        np.testing.assert_allclose(G.synthesis(orig_ref["w_psi1"][:2]).numpy(), nhwc(orig_ref["img_psi1_batched"][:2]),
                                   atol=IMG_ATOL)
    finally:
        G.execution = "auto"


def test_repeated_shapes_do_not_retrace(G, orig_ref):
    z = orig_ref["z"].astype(np.float32)
    G(z[:2], truncation_psi=0.5)
    G.synthesis(orig_ref["w_psi1"][:2])
    before = traces(G), traces(G.synthesis)
    for psi in (0.5, 0.7, tf.constant(0.3)):           # psi is a tensor input, not a trace key
        G(z[2:4], truncation_psi=psi)
    G.synthesis(orig_ref["w_psi1"][2:4])
    assert (traces(G), traces(G.synthesis)) == before
    G(z[:3], truncation_psi=0.5)                       # a new batch shape traces once
    assert traces(G) == before[0] + 1


def test_fused_setting_and_noise_override_reach_the_compiled_graph(G, orig_ref):
    w = orig_ref["w_psi1"][:2]
    layers = [l for l in G.synthesis._flatten_layers() if hasattr(l, "fused_modconv")]
    nonfused = G.synthesis(w).numpy()
    count = traces(G.synthesis)
    try:
        for layer in layers:
            layer.fused_modconv = True
        fused = G.synthesis(w).numpy()
        assert traces(G.synthesis) == count + 1
    finally:
        for layer in layers:
            layer.fused_modconv = "auto"
    np.testing.assert_allclose(fused, nonfused, atol=1e-5)
    zero = [np.zeros([2, b.shape[1], b.shape[2]], np.float32) for b in G.synthesis.noise_buffers]
    np.testing.assert_allclose(G.synthesis(w, noise=zero).numpy(), G.synthesis(w, noise_mode="none").numpy(), atol=1e-6)


def test_gradients_flow_through_the_compiled_call(G, orig_ref):
    w = tf.Variable(orig_ref["w_psi1"][:1])
    noise = [tf.Variable(tf.identity(b)) for b in G.synthesis.noise_buffers]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(G.synthesis(w, noise=noise)))
    grads = tape.gradient(loss, [w] + noise)
    assert all(g is not None and np.abs(g.numpy()).max() > 0 for g in grads)


@pytest.mark.parametrize("ksize", [1, 2, 3, 4])
def test_polyphase_up_conv_equals_zero_insertion(ksize):
    """upsample_conv2d (polyphase) == zero insertion + correlation + FIR, for any kernel size,
    also grouped over a batch unknown at trace time (channels known only at run time)."""
    rng = np.random.RandomState(ksize)
    x = rng.randn(2, 5, 4, 3).astype(np.float32)
    w = rng.randn(ksize, ksize, 3, 2).astype(np.float32)
    up = ops.upfirdn2d(x, np.ones([1, 1], np.float32), up=2, pad=(ksize - 1, ksize - 2) * 2, impl="ref")
    conv = tf.nn.conv2d(up, w, 1, "VALID")
    p = 2 - (ksize - 1)
    fir = ops.setup_filter([1, 3, 3, 1]) * 4
    expected = ops.upfirdn2d(conv, fir, pad=((p + 1) // 2 + 1, p // 2 + 1) * 2, impl="ref").numpy()
    np.testing.assert_allclose(ops.upsample_conv2d(x, w, k=[1, 3, 3, 1]).numpy(), expected, atol=1e-4)

    @tf.function(input_signature=[tf.TensorSpec([1, 5, 4, None]), tf.TensorSpec([ksize, ksize, 3, None])])
    def grouped(xg, wg):
        return ops.upsample_conv2d(xg, wg, k=[1, 3, 3, 1], groups=2)

    yg = grouped(np.concatenate([x[:1], x[1:]], -1), np.concatenate([w, w], -1)).numpy()
    np.testing.assert_allclose(np.concatenate([yg[..., :2], yg[..., 2:]]), expected, atol=1e-4)


@pytest.mark.parametrize("precision, max_diff", [("bf16", 0.05), ("fp16", 0.01)])
def test_reduced_precision_is_close_to_fp32(G, orig_ref, precision, max_diff):
    z = orig_ref["z"][:2].astype(np.float32)
    diff = np.abs(G(z, precision=precision).numpy() - G(z).numpy())
    assert 0 < diff.max() < max_diff
    with pytest.raises(ValueError, match="precision"):
        G(z, precision="int8")


def test_benchmark_counts_flops_and_reports_json(G):
    """One short benchmark run on the fixture network; its per-layer GFLOP against the
    convolution arithmetic written out here."""
    cmd = [sys.executable, os.path.join(ROOT, "benchmarks", "bench_generator.py"), "--network", fixture_path("orig"),
           "--modes=function", "--batch-sizes=1", "--repeats=1", "--profile", "--profile-batch=1", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    run, = result["runs"]
    assert run["images_per_s"] > 0 and 0 < run["fraction_of_peak"] and run["peak_rss_mb"] > 0
    profiled = {row["layer"]: row["gflop"] for row in result["profile"]["layers"]}
    for block in G.synthesis.blocks:
        res = 2 ** block["res"]
        for key, conv_res in (("conv0", res // 2), ("conv1", res)):
            if key in block:
                layer = block[key]
                convolution = 2 * conv_res ** 2 * 9 * layer.in_channels * layer.out_channels / 1e9
                assert convolution <= profiled[layer.name] < 1.25 * convolution + 1e-4
    bad = subprocess.run(cmd[:2] + ["--preset=config-f-256", "--network=x.pkl"], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].startswith("bench_generator: error:")


def test_auto_fused_modconv_rule():
    from tf_stylegan2.layers.modulated import choose_fused
    assert choose_fused("auto", (1, 1024, 1024, 32), (3, 3, 32, 32))         # activations >> weight
    assert not choose_fused("auto", (1, 4, 4, 512), (3, 3, 512, 512))        # weight >> activations
    assert not choose_fused("auto", (4, 1024, 1024, 32), (3, 3, 32, 32))     # would be a grouped conv
    assert not choose_fused("auto", (None, 64, 64, 32), (3, 3, 32, 32))
    assert choose_fused(True) and not choose_fused(False)
    with pytest.raises(ValueError, match="fused_modconv"):
        choose_fused("yes")
