"""Mixed-precision training (issue 12): StyleGAN2-ADA's `num_fp16_res` (the 4 highest resolutions of
G's synthesis and of D below float32, conv_clamp 256) in bfloat16 (CPUs, TPUs) and float16 (GPUs;
both run on this CPU), against float32; the options that record it; the float32 snapshot; and the
XLA-compiled training phases (`--xla`) against the graph ones.

Tiny 16 px networks, 4 minibatches of 4 images with every phase at its real frequency.
"""

import contextlib
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan2 as sg
from tf_stylegan2.networks import Discriminator
from tf_stylegan2.official import Networks, save_pickle
from tf_stylegan2.training import loop, options
from tf_stylegan2.training.trainer import Trainer
from conftest import copy_with, load_fixture_networks, load_reference, nhwc
from precision_reference import (ROUNDINGS_PER_LAYER, assert_rounds_like_reference, deviation_ratios,
                                 rounding_reference)

RES = 16
TINY = dict(data="none", batch=4, cbase=512, cmax=64, map=2, gamma=1.0, aug="noaug", metrics=[], seed=0)
DATASET = SimpleNamespace(name="tiny", resolution=RES, num_channels=3, label_dim=0, num_images=64)
MINIBATCHES = 4
REDUCED = ("bf16", "fp16")

# The bounds: at most ROUNDINGS_PER_LAYER x the deviation of precision_reference.rounding_reference()
# (derived there; docs/development.md, "Tolerances"), which rounds the same way on every CPU.


def _trainer(precision, xla=False, draws=None):
    opts = options.training_options(dict(TINY, precision=precision, xla=xla), DATASET)
    keras.utils.set_random_seed(0)
    return Trainer(*loop.build_networks(opts), opts, seed=0, draws=draws)


def _reals():
    return tf.constant(np.random.RandomState(1).uniform(-1, 1, [4, RES, RES, 3]).astype(np.float32))


def _train(trainer, minibatches, reals):
    """The loop's schedule (G reg every 4th, D reg every 16th minibatch) -> per-minibatch
    `{phase/stat key: [sum, sum of squares, count]}`."""
    history = []
    for i in range(minibatches):
        stats = {}
        phases = [("g_main", ())] + ([("g_reg", ())] if i % 4 == 0 else []) + [("d_main", (reals, None))] + \
                 ([("d_reg", (reals, None))] if i % 16 == 0 else [])
        for name, args in phases:
            stats.update({"%s/%s" % (name, k): v.numpy() for k, v in getattr(trainer, name)(*args).items()})
        trainer.update_ema(tf.constant(0.9))
        history.append(stats)
    return history


@pytest.fixture(scope="module")
def runs():
    """`name -> (trainer, per-minibatch stats, G_ema images of 4 fixed latents)` from one init, each
    trained once, when first asked for: "fp32", "bf16", "fp16", and "<precision>-reference" (under
    `rounding_reference()`)."""
    z = np.random.RandomState(2).randn(4, 512).astype(np.float32)
    cache = {}

    def get(name):
        if name not in cache:
            precision, _, reference = name.partition("-")
            with rounding_reference() if reference else contextlib.nullcontext():
                trainer = _trainer(precision)
                history = _train(trainer, MINIBATCHES, _reals())
                cache[name] = trainer, history, trainer.G_ema(z).numpy()
        return cache[name]
    return get


def test_options_record_mixed_precision():
    opts = options.training_options(dict(TINY), DATASET)  # ADA presets: mixed precision, conv_clamp 256
    assert (opts["num_fp16_res"], opts["precision"]) == (4, "auto")
    assert opts["G_kwargs"]["synthesis"]["conv_clamp"] == 256 and opts["D_kwargs"]["conv_clamp"] == 256
    for args in (dict(TINY, fp32=True), dict(TINY, precision="fp32"), dict(TINY, cfg=None, config="config-f")):
        opts = options.training_options(args, DATASET)
        assert (opts["num_fp16_res"], opts["precision"]) == (0, "fp32")
        assert opts["G_kwargs"]["synthesis"]["conv_clamp"] is None and opts["D_kwargs"]["conv_clamp"] is None
        assert options.compute_precision(opts) == "fp32"
    opts = options.training_options(dict(TINY, config="config-f", precision="bf16", xla=True), DATASET)
    assert (opts["num_fp16_res"], opts["precision"], opts["D_kwargs"]["conv_clamp"], opts["xla"]) == (4, "bf16", 256,
                                                                                                    True)
    assert options.compute_precision(opts) == "bf16"
    with pytest.raises(options.OptionsError, match="--fp32 and --precision=fp16"):
        options.training_options(dict(TINY, fp32=True, precision="fp16"), DATASET)
    with pytest.raises(options.OptionsError, match="--precision must be one of"):
        options.training_options(dict(TINY, precision="int8"), DATASET)
    # "auto" on a machine without GPUs or TPUs computes in float32 (bfloat16 trains slower on CPUs).
    auto = options.training_options(dict(TINY), DATASET)
    assert options.compute_precision(auto) == ("fp16" if tf.config.list_logical_devices("GPU") else "fp32")


@pytest.mark.parametrize("precision", REDUCED)
def test_reduced_precision_training_is_finite_and_keeps_float32_state(runs, precision):
    trainer, history, images = runs(precision)
    assert trainer.precision == precision
    for stats in history:
        for key, value in stats.items():
            assert np.all(np.isfinite(value)), (key, value)
    assert np.all(np.isfinite(images))
    state = [v for group in trainer.state_variables().values() for v in group.values() if v is not trainer.rng.state]
    assert {tf.as_dtype(v.dtype) for v in state} <= {tf.float32, tf.int64}
    assert int(trainer.opt_G.iterations.numpy()) == MINIBATCHES + 1  # G main x 4 + G reg x 1


def _loss_deviation(history, reference):
    """The largest |difference| between two runs' means of a loss statistic, over every statistic and minibatch."""
    worst = 0.0
    for got, want in zip(history, reference):
        assert sorted(got) == sorted(want)
        for key in want:
            assert got[key][2] == want[key][2]
            worst = max(worst, abs(got[key][0] / got[key][2] - want[key][0] / want[key][2]))
    return worst


@pytest.mark.parametrize("precision", REDUCED)
def test_reduced_precision_training_stays_close_to_float32(runs, precision):
    """Same init and draws, 4 minibatches, at most ROUNDINGS_PER_LAYER x the rounding references'
    deviation from float32: the G_ema images' (mean, max) against the reference run in the same
    precision (measured 0.9x-2.1x), the largest deviation of a loss statistic's mean against the larger
    of the bf16 and fp16 reference runs' (measured 1.8x-2.8x).

    Upper bounds only, and the loss against two references: from Adam's first step on the runs diverge
    chaotically (the step moves each weight by about lr whatever its gradient's size, so a rounding that
    flips a tiny gradient's sign moves that weight by 2 lr). Any rounding-sized perturbation gives a
    divergence of the same order, scattered run to run (reference runs 0.003-0.010, bf16 runs
    0.026-0.040 on both kinds of CPU), so it cannot tell dtypes apart: the forward tests
    (test_compiled_generator's, the discriminator's below) check those."""
    _, reference, ref_images = runs("fp32")
    _, history, images = runs(precision)
    floor = max(_loss_deviation(runs(p + "-reference")[1], reference) for p in REDUCED)
    loss_ratio = _loss_deviation(history, reference) / floor
    mean_ratio, max_ratio = deviation_ratios(images, ref_images, runs(precision + "-reference")[2])
    assert np.abs(images - ref_images).max() > 0
    assert max(loss_ratio, mean_ratio, max_ratio) < ROUNDINGS_PER_LAYER, (loss_ratio, mean_ratio, max_ratio)


def _below_float32(D, images, precision):
    """(D's scores computed in `precision`, the rounding reference's scores): D's own clamp."""
    with rounding_reference():
        reference = copy_with(D, Discriminator, conv_clamp=256)(images, None, precision=precision).numpy()
    return D(images, None, precision=precision).numpy(), reference


@pytest.mark.parametrize("precision", REDUCED)
def test_discriminator_reduced_precision_on_the_public_fixture(precision):
    """NVIDIA's D (public fixture: its 32, 16 and 8 px blocks below float32): float32 matches the
    stylegan2-ada-pytorch scores; on 64 noise images bf16 / fp16 scores round like the reference
    (precision_reference.py; measured mean ratio bf16 1.9x with oneDNN, 2.3x with Eigen, fp16 2.9x).
    Below float32 a biased convolution pushed past 256 (FromRGB bias + 400) is clamped at 256 like
    conv_clamp=256: the largest deviation at most 8x the reference's (measured 1.8x-3.6x; the mean
    ratio is left unbounded here: fp16's is 6.9x on both kinds of CPU, too close to 8x)."""
    D = load_fixture_networks("public").D
    ref = load_reference("public")
    for images, scores in ((ref["img_psi1"][:4], ref["D_score_img_psi1_batch4"]),
                           (ref["D_random_images"][:4], ref["D_score_random_batch4"])):
        np.testing.assert_allclose(D(nhwc(images), None).numpy(), scores, atol=1e-5)
    noise = np.random.RandomState(3).uniform(-1, 1, [64, RES * 2, RES * 2, 3]).astype(np.float32)
    reduced, reference = _below_float32(D, noise, precision)
    assert reduced.dtype == np.float32
    assert_rounds_like_reference(reduced, D(noise, None).numpy(), reference)

    def probed(conv_clamp):
        net = copy_with(D, Discriminator, conv_clamp=conv_clamp)
        bias = net.official_weights()["32x32/FromRGB/bias"][0]
        bias.assign(bias + np.eye(bias.shape[0], dtype=np.float32)[0] * 400)
        return net

    clamped, unclamped = probed(256)(noise, None).numpy(), probed(None)(noise, None).numpy()
    assert np.abs(clamped - unclamped).max() > 0.5 * np.abs(clamped).max()  # the clamp changes the scores
    reduced, reference = _below_float32(probed(None), noise, precision)
    assert deviation_ratios(reduced, clamped, reference)[1] < ROUNDINGS_PER_LAYER
    with pytest.raises(ValueError, match="precision"):
        D(noise, None, precision="int8")


def test_snapshot_of_a_bf16_run_is_float32_and_loads(runs, tmp_path):
    """The pickle of the bf16-trained networks holds their float32 weights exactly; conv_clamp 256
    makes it a StyleGAN2-ADA TF pickle, which loads with the clamp and renders as the run's G_ema."""
    trainer, _, images = runs("bf16")
    path = str(tmp_path / "network-snapshot-000000.pkl")
    save_pickle(Networks(trainer.G, trainer.D, trainer.G_ema), path)
    nets = sg.load_network(path)
    for ours, theirs in ((trainer.G, nets.G), (trainer.D, nets.D), (trainer.G_ema, nets.G_ema)):
        loaded = theirs.official_weights()
        for name, (var, _) in ours.official_weights().items():
            assert tf.as_dtype(loaded[name][0].dtype) == tf.float32
            np.testing.assert_array_equal(loaded[name][0].numpy(), var.numpy(), err_msg=name)
    assert nets.D.conv_clamp == 256 and nets.G_ema.synthesis.conv_clamp == 256
    z = np.random.RandomState(2).randn(4, 512).astype(np.float32)
    np.testing.assert_allclose(nets.G_ema(z).numpy(), images, atol=1e-5)


class _ConstantDraws:
    """The trainer's draws (`training.draws` interface) as constants baked in at trace time from one
    NumPy stream: the XLA and graph traces make the same calls in the same order, so they see the same
    numbers (XLA's normal sampler maps the Philox bits differently)."""

    def __init__(self):
        self.rs = np.random.RandomState(5)

    def normal(self, phase, tag, shape):
        shape = [int(s) for s in tf.get_static_value(tf.convert_to_tensor(shape))]
        return tf.constant(self.rs.randn(*shape), tf.float32)

    def uniform(self, phase, tag):
        return tf.constant(self.rs.uniform(), tf.float32)

    def integer(self, phase, tag, shape, low, high):
        return tf.constant(self.rs.randint(int(low), int(high), [int(s) for s in shape]), tf.int32)


def test_xla_phases_match_graph_phases():
    """One minibatch of G main, D main and D reg (R1: second order) compiled by XLA (`--xla`, the
    reference ops) equals the graph phases (custom ops where built) on the same draws: statistics
    within 1e-4 relative, every gradient (Adam's m, beta1 = 0) within 1e-4 relative L2 (measured
    3e-5), weights within 1e-3 absolute (Adam's first step is lr * sign(g) for most weights; measured
    1.5e-4). G reg is left out for time (its XLA compile alone takes ~10 s on this 2-core machine)."""
    reals = _reals()
    results = []
    for xla in (False, True):
        trainer = _trainer("fp32", xla=xla, draws=_ConstantDraws())
        stats = {"g_main": trainer.g_main(), "d_main": trainer.d_main(reals, None),
                 "d_reg": trainer.d_reg(reals, None)}
        results.append(dict(stats={k: {s: v.numpy() for s, v in d.items()} for k, d in stats.items()},
                            grads=[m.numpy() for m in trainer.opt_G.m + trainer.opt_D.m],
                            weights=[v.numpy() for v in trainer.G.weights + trainer.D.weights]))
    graph, xla = results
    for phase, stats in graph["stats"].items():
        for key, value in stats.items():
            np.testing.assert_allclose(xla["stats"][phase][key], value, rtol=1e-4, atol=1e-6, err_msg=phase + key)
    for got, want in zip(xla["grads"], graph["grads"]):
        assert np.linalg.norm(got - want) <= 1e-4 * max(np.linalg.norm(want), 1e-12)
    for got, want in zip(xla["weights"], graph["weights"]):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-3)
