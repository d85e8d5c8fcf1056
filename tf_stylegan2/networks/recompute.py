"""Recomputation (gradient checkpointing) of network blocks: a block's forward pass is run again in the
backward pass instead of keeping its intermediate activations, to first and second order.

`tf.recompute_grad` cannot serve the regularisation phases: the gradient it defines is itself a
custom gradient whose own gradient raises, so R1 (d/dD_vars of |dD/dx|^2) and the path length
(d/dG_vars of |dG/dw|) fail through it. `call` defines a gradient made of ordinary differentiable
ops (the recomputed forward and a tape's gradient of it), so a tape around it differentiates again;
that gradient is itself a recomputed call, so a second-order pass keeps only its inputs too.

Modes (`MODES`): "off" keeps every activation; "blocks" recomputes every synthesis block layer by
layer (each layer keeps its input only, its gradient nested) and every discriminator block whole
(one level: docs/recompute.md has the measurements behind the difference); "auto" does so for the
blocks with the largest activations, as few as keep the estimated training memory within a budget
(`select`).
"""

import functools
import os

import tensorflow as tf

MODES = ("off", "blocks", "auto")


def call(fn, *args, nested=True):
    """`fn(*args)` (a tensor, or a tuple of tensors and Nones), recomputed in the backward pass.

    The `tf.Tensor` arguments are the differentiable inputs; every other argument (None, a
    variable, a Python value) is passed to `fn` as it is. Variables that `fn` reads get their
    gradients as usual. `fn` must be deterministic given its arguments: draw random values
    outside it and pass them in. `nested`: the gradient is a recomputed call too (a second-order
    pass keeps its inputs only); False: a second-order pass keeps what the gradient recomputed.
    """
    slots = [i for i, a in enumerate(args) if isinstance(a, tf.Tensor)]
    layout = {}  # the positions of None outputs, known once the forward pass has run

    def run(tensors):
        full = list(args)
        for i, t in zip(slots, tensors):
            full[i] = t
        out = fn(*full)
        single = not isinstance(out, tuple)
        outputs = (out,) if single else out
        layout.update(single=single, present=[o is not None for o in outputs])
        return [o for o in outputs if o is not None]

    @tf.custom_gradient
    def forward(*tensors):
        outputs = run(tensors)

        def grad(*dys, variables=None):
            variables = list(variables or [])
            dys = [tf.zeros_like(o) if d is None else d for d, o in zip(dys, outputs)]
            inputs = _after(dys, tensors)
            n = len(inputs)
            if not nested:
                return _vjp(run, inputs, dys, variables)

            # The gradient is a recomputed call too: a second-order pass (R1, the path length) that
            # differentiates it keeps its inputs only, and recomputes the layer's forward and
            # backward passes when it reaches them.
            def vjp(*inputs_and_dys):
                grads = _vjp(run, list(inputs_and_dys[:n]), list(inputs_and_dys[n:]), variables)
                return tuple(grads[0]) + tuple(grads[1])

            grads = call(vjp, *inputs, *dys)
            return list(grads[:n]), list(grads[n:])

        return outputs, grad

    outputs = iter(forward(*[args[i] for i in slots]))
    result = tuple(next(outputs) if present else None for present in layout["present"])
    return result[0] if layout["single"] else result


def _after(dys, tensors):
    """`tensors` plus a zero that depends on every incoming gradient in `dys`: a graph executor
    runs what reads them only once all of `dys` exist (NaN is added when one is not finite)."""
    firsts = tf.concat([tf.reshape(tf.cast(d, tf.float32), [-1])[:1] for d in dys], 0)
    delay = tf.reduce_sum(tf.where(tf.math.is_finite(firsts), tf.zeros_like(firsts), firsts))
    return [t + tf.cast(delay, t.dtype) for t in tensors]


def _vjp(run, inputs, dys, variables):
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        tape.watch(variables)
        recomputed = run(inputs)
    grads = tape.gradient(recomputed, inputs + variables, output_gradients=dys,
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return grads[:len(inputs)], grads[len(inputs):]


def block_call(recomputed, fn, *args, **kwargs):
    """`call(fn, *args)` (`fn` given `kwargs`) when `recomputed`, else `fn(*args, **kwargs)`."""
    return call(functools.partial(fn, **kwargs), *args) if recomputed else fn(*args, **kwargs)


def check_mode(mode, mem_budget=None):
    """Raises ValueError for an unknown mode or a budget that is not a positive number of GB."""
    if mode not in MODES:
        raise ValueError("recompute must be one of %s, got %r" % (", ".join(MODES), mode))
    if mem_budget is not None and not float(mem_budget) > 0:
        raise ValueError("the memory budget must be > 0 GB, got %r" % (mem_budget,))


# Bytes a layer keeps for its backward pass per element of its output: about 6 float32 tensors of
# that size (its input, the convolution result before bias and activation, resampling
# intermediates, and in the regularisation phases the first-order gradient graph's own).
KEPT_BYTES_PER_OUTPUT = 24


def block_costs(network, batch):
    """`{block resolution: estimated bytes of activations kept for its backward pass}` of a
    `SynthesisNetwork` or `Discriminator` at a per-replica batch of `batch`."""
    costs = {}
    for block in network.blocks:
        res = 2 ** block["res"]
        outputs = sum(layer.out_channels for key, layer in block.items() if key != "res") * res * res
        costs[res] = KEPT_BYTES_PER_OUTPUT * batch * outputs
    return costs


def configure(synthesis, discriminator, mode, mem_budget_gb=None, batch=1, fixed_bytes=0):
    """Sets the `recompute` attribute (block resolutions) of both networks for `mode`; returns
    `{"G": resolutions, "D": resolutions}`.

    "auto" estimates the memory of a training step as `fixed_bytes` (variables, optimiser state,
    the framework) plus the `block_costs` of G's synthesis and D together (the G phases backpropagate
    through both), and recomputes the largest blocks until that fits `mem_budget_gb` (default:
    `device_memory_bytes()`). The estimate is coarse: measure (benchmarks/bench_training.py
    --recompute) before relying on a tight budget.
    """
    check_mode(mode, mem_budget_gb)
    networks = {"G": synthesis, "D": discriminator}
    if mode == "auto":
        costs = {(name, res): cost for name, net in networks.items() for res, cost in block_costs(net, batch).items()}
        budget = device_memory_bytes() if mem_budget_gb is None else float(mem_budget_gb) * 2 ** 30
        picked = select(costs, fixed_bytes, budget)
    else:
        picked = [(name, 2 ** block["res"]) for name, net in networks.items() for block in net.blocks
                  if mode == "blocks"]
    chosen = {name: tuple(sorted(res for n, res in picked if n == name)) for name in networks}
    for name, net in networks.items():
        net.recompute = chosen[name]
    return chosen


def device_memory_bytes():
    """The memory of the first GPU (its allocator's limit), else the machine's physical memory."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        if details.get("memory_limit"):
            return int(details["memory_limit"])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def select(costs, fixed_bytes, budget_bytes):
    """The keys of `costs` ({block: activation bytes kept for its backward pass}) to recompute so that
    `fixed_bytes + the bytes of the blocks kept` fits `budget_bytes`: the largest first, as few as
    possible (all of them when even that does not fit)."""
    chosen, total = [], fixed_bytes + sum(costs.values())
    for key in sorted(costs, key=lambda k: -costs[k]):
        if total <= budget_bytes:
            break
        chosen.append(key)
        total -= costs[key]
    return chosen
