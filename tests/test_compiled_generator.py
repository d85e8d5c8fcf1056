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
from tf_stylegan2.layers import equalized, modulated
from tf_stylegan2.layers.modulated import ToRGBLayer
from tf_stylegan2.networks.common import PRECISIONS
from conftest import copy_with, fixture_path, load_reference, nhwc
from precision_reference import assert_rounds_like_reference, recorded_output_dtypes, rounding_reference

IMG_ATOL = 1e-4
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def G():
    """A private copy of the smallest fixture generator (these tests change its execution mode)."""
    return sg.load_network(fixture_path("orig")).G_ema


@pytest.fixture(scope="module")
def orig_ref():
    return load_reference("orig")


def traces(network):
    return sum(fn.experimental_get_tracing_count() for fn in network._compiled._functions.values())


@pytest.mark.parametrize("execution", ["eager", "function", "xla"])
def test_execution_modes_match_reference(G, orig_ref, execution, impl):
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


def test_gradients_through_the_compiled_call_equal_eager_ones(G, orig_ref):
    """d loss / d (w, noise) through the cached graph equals plain eager autodiff (which
    test_networks.py checks against finite differences)."""
    w = tf.Variable(orig_ref["w_psi1"][:1])
    noise = [tf.Variable(tf.identity(b)) for b in G.synthesis.noise_buffers]
    probe = np.random.RandomState(2).randn(1, G.img_resolution, G.img_resolution, 3).astype(np.float32)
    grads = {}
    for execution in ("function", "eager"):
        G.execution = execution
        try:
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(G.synthesis(w, noise=noise) * probe)
            grads[execution] = [g.numpy() for g in tape.gradient(loss, [w] + noise)]
        finally:
            G.execution = "auto"
    for compiled, eager in zip(grads["function"], grads["eager"]):
        assert np.abs(eager).max() > 1e-3
        np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-5 * np.abs(eager).max())


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


@pytest.fixture(scope="module")
def public_G():
    """A private copy of the public fixture's generator (32 px: every block below float32)."""
    return sg.load_network(fixture_path("public")).G_ema


REDUCED_DTYPES = {"bf16": tf.bfloat16, "fp16": tf.float16}


def _synthesis(public_G, conv_clamp=None, bias_probe=False):
    """A fresh copy of the fixture's synthesis network (its own compiled graphs, traced at its first
    call); `bias_probe` pushes one 16x16 Conv1 channel far past 256 (its bias + 400)."""
    net = copy_with(public_G.synthesis, sg.SynthesisNetwork, conv_clamp=conv_clamp)
    if bias_probe:
        bias = net.official_weights()["16x16/Conv1/bias"][0]
        bias.assign(bias + np.eye(bias.shape[0], dtype=np.float32)[0] * 400)
    return net


@pytest.fixture(scope="module")
def references(public_G):
    """`(precision, bias_probe) -> (float32 image with conv_clamp 256, the rounding reference's image)`
    on 2 fixture latents, each computed once."""
    w = load_reference("public")["w_psi1"][:2]
    cache = {}

    def get(precision, bias_probe):
        if (precision, bias_probe) not in cache:
            want = _synthesis(public_G, 256, bias_probe)(w).numpy()
            with rounding_reference():
                reference = _synthesis(public_G, 256, bias_probe)(w, precision=precision).numpy()
            cache[precision, bias_probe] = want, reference
        return cache[precision, bias_probe]
    return get


def _reduced(public_G, precision, bias_probe):
    """(image computed in `precision` with no conv_clamp given, {layer: output dtype}) on the same latents."""
    w = load_reference("public")["w_psi1"][:2]
    with recorded_output_dtypes() as dtypes:
        image = _synthesis(public_G, None, bias_probe)(w, precision=precision).numpy()
    return image, dict(dtypes)


def _assert_block_dtypes(dtypes, precision):
    """32 px: every layer but the 4x4 block's computes in `precision` (StyleGAN2-ADA's num_fp16_res = 4)."""
    assert len(dtypes) == 2 + 3 * 3
    assert dtypes == {name: tf.float32 if name.startswith("4x4") else REDUCED_DTYPES[precision] for name in dtypes}


@pytest.mark.parametrize("precision", sorted(REDUCED_DTYPES))
def test_reduced_precision_rounds_like_the_reference(public_G, references, precision):
    """The public fixture (32 px: its 8, 16 and 32 px blocks below float32) in bf16 / fp16: each
    layer's output dtype, and the image's deviation from float32 between 1x and 8x the rounding
    reference's (precision_reference.py: derived bound; measured bf16 4.1x-4.2x, fp16 2.7x)."""
    image, dtypes = _reduced(public_G, precision, bias_probe=False)
    _assert_block_dtypes(dtypes, precision)
    assert_rounds_like_reference(image, *references(precision, False))
    with pytest.raises(ValueError, match="precision"):
        public_G(load_reference("public")["z"][:1], precision="int8")


@pytest.mark.parametrize("precision", sorted(REDUCED_DTYPES))
def test_reduced_precision_clamps_convolution_outputs_at_256(public_G, references, precision):
    """A 16x16 conv channel pushed far past 256 (bias + 400): below float32 it is clamped at 256,
    so the image rounds like the reference with conv_clamp=256 (measured: bf16 3.1x with oneDNN,
    4.7x with Eigen, fp16 2.8x its deviation) and not like float32 without a clamp."""
    image, _ = _reduced(public_G, precision, bias_probe=True)
    want, reference = references(precision, True)
    unclamped = _synthesis(public_G, None, bias_probe=True)(load_reference("public")["w_psi1"][:2]).numpy()
    assert np.abs(want - unclamped).max() > 0.5 * np.abs(want).max()  # the clamp changes the image
    assert_rounds_like_reference(image, want, reference)


def _compute_to_rgb_in_float32(monkeypatch):
    """ToRGB layers built with Keras autocast on: Keras casts their input to float32."""
    init = ToRGBLayer.__init__
    monkeypatch.setattr(ToRGBLayer, "__init__", lambda self, *args, **kwargs: init(self, *args, **dict(kwargs,
                                                                                                      autocast=True)))


def _drop_the_clamp(monkeypatch):
    """Layers below float32 use their own conv_clamp (None here) instead of 256."""
    for module in (equalized, modulated):
        monkeypatch.setattr(module, "effective_clamp", lambda conv_clamp, dtype: conv_clamp)


# fault: (precision, bias probe, injection, the check that must fail)
FAULTS = {
    "clamp missing": ("bf16", True, _drop_the_clamp, "bound"),
    "ToRGB left in float32": ("bf16", False, _compute_to_rgb_in_float32, "dtypes"),
    "bf16 computed as float16": ("bf16", False, lambda mp: mp.setitem(PRECISIONS, "bf16", tf.float16), "bound"),
    "fp16 computed as bfloat16": ("fp16", False, lambda mp: mp.setitem(PRECISIONS, "fp16", tf.bfloat16), "bound"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_reduced_precision_checks_fail_on_injected_faults(public_G, references, monkeypatch, fault):
    """The checks above are sharp: each injected fault fails one (the references computed without it)."""
    precision, bias_probe, inject, check = FAULTS[fault]
    want, reference = references(precision, bias_probe)
    inject(monkeypatch)
    image, dtypes = _reduced(public_G, precision, bias_probe)
    with pytest.raises(AssertionError):
        if check == "dtypes":
            _assert_block_dtypes(dtypes, precision)
        else:
            assert_rounds_like_reference(image, want, reference)


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
