"""Recomputation of network blocks in the backward pass (`--recompute`, issue 29): the gradients of
every training phase (G main, G reg = path length, D main, D reg = R1: first and second order)
with every block recomputed equal those without, on tiny 16 px networks; the wrapped function does
run again in the backward pass; "auto" picks the largest blocks for a budget.
"""

from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2.networks import recompute
from tf_stylegan2.training import loop, options
from tf_stylegan2.training.trainer import Trainer

RES = 16
TINY = dict(data="none", batch=4, cbase=512, cmax=64, map=2, gamma=1.0, aug="noaug", metrics=[], seed=0)
DATASET = SimpleNamespace(name="tiny", resolution=RES, num_channels=3, label_dim=0, num_images=64)
PHASES = ("g_main", "g_reg", "d_main", "d_reg")
RTOL = 1e-5


def _phase_gradients(mode, architecture=None):
    """(trainer, `{phase: [gradient of every trained variable]}` of one minibatch of each phase,
    `{phase: forward convolutions in its graph}`); the optimiser step is replaced by a copy of the
    gradients, so every phase sees the same weights."""
    opts = options.training_options(dict(TINY, recompute=mode), DATASET)
    if architecture:
        opts["G_kwargs"]["synthesis"]["architecture"] = opts["D_kwargs"]["architecture"] = architecture
    keras.utils.set_random_seed(0)
    trainer = Trainer(*loop.build_networks(opts), opts, seed=0)
    stores = {id(opt): [tf.Variable(tf.zeros(v.shape)) for v in opt.variables_to_train]
              for opt in (trainer.opt_G, trainer.opt_D)}

    def copy_gradients(opt, grads):
        for store, g in zip(stores[id(opt)], grads):
            store.assign(tf.zeros_like(store) if g is None else g)

    trainer._step = copy_gradients
    reals = tf.constant(np.random.RandomState(1).uniform(-1, 1, [4, RES, RES, 3]).astype(np.float32))
    grads, convolutions = {}, {}
    for phase in PHASES:
        args = (reals, None) if phase.startswith("d") else ()
        getattr(trainer, phase)(*args)
        opt = trainer.opt_G if phase.startswith("g") else trainer.opt_D
        grads[phase] = [s.numpy() for s in stores[id(opt)]]
        convolutions[phase] = _forward_convolutions(getattr(trainer, phase), *args)
    return trainer, grads, convolutions


def _forward_convolutions(fn, *args):
    """The Conv2D ops (forward convolutions, not their gradients) in a `tf.function`'s graph."""
    graph_def = fn.get_concrete_function(*args).graph.as_graph_def()
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    return sum(n.op == "Conv2D" for n in nodes)


@pytest.mark.parametrize("architecture", [None, "skip"])
def test_every_phase_has_the_same_gradients_with_blocks_recomputed(architecture):
    """Default architectures (G skip, D resnet) and D skip too (its image path through the blocks)."""
    trainer_off, off, convolutions_off = _phase_gradients("off", architecture)
    trainer_on, on, convolutions_on = _phase_gradients("blocks", architecture)
    assert trainer_off.recompute == {"G": (), "D": ()}
    assert trainer_on.recompute == {"G": (4, 8, 16), "D": (8, 16)}
    for phase in PHASES:
        # The backward pass runs the blocks' convolutions again.
        assert convolutions_on[phase] > convolutions_off[phase], (phase, convolutions_on, convolutions_off)
        norms = [np.linalg.norm(g) for g in off[phase]]
        assert sum(n > 0 for n in norms) > len(norms) // 2, phase  # the phase reaches most variables
        for i, (a, b) in enumerate(zip(on[phase], off[phase])):
            assert np.linalg.norm(a - b) <= RTOL * max(norms[i], 1e-30), (phase, i, np.linalg.norm(a - b), norms[i])


def test_recomputed_function_runs_again_in_the_backward_pass_and_differentiates_twice():
    w = tf.Variable([0.5, -1.5, 2.0])
    calls = []

    def block(x, scale):
        calls.append(1)
        return tf.sin(x * w) * scale, None

    x = tf.constant([0.3, 0.7, -1.1])
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(x)
            y, nothing = recompute.call(block, x, 2.0)
            total = tf.reduce_sum(y)
        assert nothing is None and len(calls) == 1
        dx = inner.gradient(total, x)  # 2 w cos(x w)
        assert len(calls) == 2
        penalty = tf.reduce_sum(tf.square(dx))
    dw = outer.gradient(penalty, w)
    xv, wv = x.numpy(), w.numpy()
    np.testing.assert_allclose(dx.numpy(), 2 * wv * np.cos(xv * wv), rtol=1e-6)
    # d/dw of sum (2 w cos(x w))^2 = 8 w cos(xw) (cos(xw) - x w sin(xw))
    expected = 8 * wv * np.cos(xv * wv) * (np.cos(xv * wv) - xv * wv * np.sin(xv * wv))
    np.testing.assert_allclose(dw.numpy(), expected, rtol=1e-5)


def test_auto_recomputes_the_largest_blocks_that_the_budget_needs():
    costs = {("G", 4): 1, ("G", 8): 4, ("G", 16): 16, ("D", 16): 20, ("D", 8): 5}
    assert recompute.select(costs, fixed_bytes=10, budget_bytes=100) == []
    assert recompute.select(costs, fixed_bytes=10, budget_bytes=40) == [("D", 16)]  # 56 - 20
    assert recompute.select(costs, fixed_bytes=10, budget_bytes=30) == [("D", 16), ("G", 16)]
    assert recompute.select(costs, fixed_bytes=10, budget_bytes=1) == sorted(costs, key=lambda k: -costs[k])
    G, D = loop.build_networks(options.training_options(dict(TINY), DATASET))[:2]
    g_costs, d_costs = recompute.block_costs(G.synthesis, 4), recompute.block_costs(D, 4)
    everything = sum(g_costs.values()) + sum(d_costs.values())
    chosen = recompute.configure(G.synthesis, D, "auto", mem_budget_gb=(everything - 1) / 2 ** 30, batch=4)
    largest = max([("G", r, c) for r, c in g_costs.items()] + [("D", r, c) for r, c in d_costs.items()],
                  key=lambda t: t[2])
    assert chosen[largest[0]] == (largest[1],) and sum(map(len, chosen.values())) == 1
    assert G.synthesis.recompute == chosen["G"] and D.recompute == chosen["D"]
    with pytest.raises(options.OptionsError, match="--recompute must be one of"):
        options.training_options(dict(TINY, recompute="all"), DATASET)
    with pytest.raises(options.OptionsError, match="--mem-budget applies to --recompute=auto"):
        options.training_options(dict(TINY, recompute="blocks", mem_budget=4.0), DATASET)
