"""Bias, activation, gain and clamp in one op: `y = clip(act(x + b, alpha) * gain, ±clamp)`.

Activations, their default alpha and default gain follow NVIDIA's `fused_bias_act` /
`bias_act` (spec §1.2). The reference implementation is plain TF, so first and second
order gradients come from autodiff.
"""

import collections

import numpy as np
import tensorflow as tf

from tf_stylegan2.ops import dispatch

Activation = collections.namedtuple("Activation", ["func", "def_alpha", "def_gain", "has_2nd_grad"])

ACTIVATIONS = {
    "linear": Activation(lambda x, a: x, 0.0, 1.0, False),
    "relu": Activation(lambda x, a: tf.nn.relu(x), 0.0, np.sqrt(2), False),
    "lrelu": Activation(lambda x, a: tf.nn.leaky_relu(x, a), 0.2, np.sqrt(2), False),
    "tanh": Activation(lambda x, a: tf.tanh(x), 0.0, 1.0, True),
    "sigmoid": Activation(lambda x, a: tf.sigmoid(x), 0.0, 1.0, True),
    "elu": Activation(lambda x, a: tf.nn.elu(x), 0.0, 1.0, True),
    "selu": Activation(lambda x, a: tf.nn.selu(x), 0.0, 1.0, True),
    "softplus": Activation(lambda x, a: tf.nn.softplus(x), 0.0, 1.0, True),
    "swish": Activation(lambda x, a: tf.sigmoid(x) * x, 0.0, np.sqrt(2), True),
}


def resolve(act, alpha=None, gain=None):
    """(Activation, alpha, gain) with the activation's defaults filled in."""
    if act not in ACTIVATIONS:
        raise ValueError("unknown activation %r; known: %s" % (act, ", ".join(sorted(ACTIVATIONS))))
    spec = ACTIVATIONS[act]
    alpha = spec.def_alpha if alpha is None else float(alpha)
    gain = spec.def_gain if gain is None else float(gain)
    return spec, alpha, gain


def fused_bias_act(x, b=None, act="linear", alpha=None, gain=None, clamp=None, axis=-1, impl="auto"):
    """Add a bias, apply an activation, scale and clamp.

    Args:
      x: float tensor of any rank.
      b: optional bias, 1-D, broadcast along `axis` (its length must equal x.shape[axis]).
      act: one of `ACTIVATIONS`.
      alpha: activation parameter (lrelu slope); None = the activation's default.
      gain: output scale; None = the activation's default (sqrt(2) for relu/lrelu/swish).
      clamp: None, or clip the result to [-clamp, clamp] after the gain.
      axis: the axis `b` runs along (default -1: the channel axis of NHWC).
      impl: "auto", "ref" or "custom".

    Returns:
      tensor shaped like x.
    """
    spec, alpha, gain = resolve(act, alpha, gain)
    x = tf.convert_to_tensor(x)
    if clamp is not None and clamp < 0:
        raise ValueError("clamp must be None or >= 0, got %r" % (clamp,))
    if b is not None:
        b = tf.cast(b, x.dtype)
        axis = axis % x.shape.rank
        if b.shape.rank != 1 or b.shape[0] != x.shape[axis]:
            raise ValueError("bias shape %s does not match x.shape[%d] = %s" % (b.shape, axis, x.shape[axis]))
    fn = dispatch.select("fused_bias_act", impl, x)
    if fn is not None:
        return fn(x, b, act, alpha, gain, clamp, axis)
    return _fused_bias_act_ref(x, b, spec, alpha, gain, clamp, axis)


def _fused_bias_act_ref(x, b, spec, alpha, gain, clamp, axis):
    if b is not None:
        x = x + tf.reshape(b, [-1] + [1] * (x.shape.rank - axis - 1))
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = tf.clip_by_value(x, -clamp, clamp)
    return x
