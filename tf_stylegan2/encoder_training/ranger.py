"""Ranger as pSp's `training/ranger.py` (version 20.4.11): RAdam + Lookahead + gradient
centralisation, on TF variables in this project's layouts (conv kernels HWIO, dense kernels
`[in, out]`: the output channels on the last axis).

Per variable, with step t (from 1), betas (b1, b2), rho_max = 2 / (1 - b2) - 1:
- gradient centralisation: a gradient with more than one axis gets its mean over all axes but the
  output axis subtracted (PyTorch's mean over dims 1.. of an `[out, ...]` weight);
- m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
- rho_t = rho_max - 2 t b2^t / (1 - b2^t); if rho_t > 5 (RAdam's threshold):
  `p -= lr * r_t / (1 - b1^t) * m / (sqrt(v) + eps)`, with
  `r_t = sqrt((1 - b2^t) (rho_t - 4)(rho_t - 2) rho_max / ((rho_max - 4)(rho_t) (rho_max - 2)))`,
  else `p -= lr / (1 - b1^t) * m` (un-normalised momentum);
- Lookahead: every k steps `slow += alpha (p - slow)`, `p = slow` (slow starts at p's initial value).
pSp's defaults: lr 1e-4, alpha 0.5, k 6, betas (0.95, 0.999), eps 1e-5, no weight decay.
"""

import math

import tensorflow as tf


def radam_step_size(step, beta1, beta2, threshold):
    """-> (rho_t, step size multiplying lr) for Python int `step` >= 1, computed in float64 as pSp does."""
    beta2_t = beta2 ** step
    rho_max = 2.0 / (1.0 - beta2) - 1.0
    rho = rho_max - 2.0 * step * beta2_t / (1.0 - beta2_t)
    if rho > threshold:
        return rho, math.sqrt((1 - beta2_t) * (rho - 4) / (rho_max - 4) * (rho - 2) / rho * rho_max
                              / (rho_max - 2)) / (1 - beta1 ** step)
    return rho, 1.0 / (1 - beta1 ** step)


class Ranger:
    """`Ranger(variables, lr=1e-4, ...)`; `apply(grads)` updates `variables` (a list of tf.Variables)
    in place with one step. `step` counts the applied steps; `slots()` lists the state variables
    (m, v, slow per variable) for checkpoints."""

    def __init__(self, variables, lr=1e-4, alpha=0.5, k=6, n_sma_threshold=5.0, betas=(0.95, 0.999), eps=1e-5,
                 use_gc=True):
        if not 0.0 <= alpha <= 1.0 or k < 1 or lr <= 0 or eps <= 0:
            raise ValueError("Ranger needs 0 <= alpha <= 1, k >= 1, lr > 0 and eps > 0")
        self.variables = list(variables)
        self.lr, self.alpha, self.k, self.threshold = float(lr), float(alpha), int(k), float(n_sma_threshold)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps, self.use_gc = float(eps), bool(use_gc)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="ranger_step")

        def slots(kind, values):
            return [tf.Variable(value, trainable=False, name="ranger_%s_%d" % (kind, i))
                    for i, value in enumerate(values)]

        self.exp_avg = slots("m", [tf.zeros(v.shape, tf.float32) for v in self.variables])
        self.exp_avg_sq = slots("v", [tf.zeros(v.shape, tf.float32) for v in self.variables])
        self.slow = slots("slow", [v.numpy() for v in self.variables])
        self._compiled_update = tf.function(self._update)  # one trace: the step's flags are tensors

    def slots(self):
        return [self.step] + self.exp_avg + self.exp_avg_sq + self.slow

    def _centralise(self, grad):
        if self.use_gc and len(grad.shape) > 1:
            grad = grad - tf.reduce_mean(grad, axis=list(range(len(grad.shape) - 1)), keepdims=True)
        return grad

    def apply(self, grads):
        """One Ranger step with `grads` (one per variable, same order); call eagerly (the
        step-dependent scalars are computed on the host in float64, as pSp does)."""
        step = int(self.step.numpy()) + 1
        rho, step_size = radam_step_size(step, self.beta1, self.beta2, self.threshold)
        self._compiled_update(list(grads), tf.constant(-step_size * self.lr, tf.float32),
                              tf.constant(rho > self.threshold), tf.constant(step % self.k == 0))
        self.step.assign(step)

    def _update(self, grads, scale, adaptive, sync):
        b1, b2 = self.beta1, self.beta2
        for p, g, m, v, slow in zip(self.variables, grads, self.exp_avg, self.exp_avg_sq, self.slow):
            g = self._centralise(tf.convert_to_tensor(g, tf.float32))
            v.assign(v * b2 + (1.0 - b2) * g * g)
            m.assign(m * b1 + (1.0 - b1) * g)
            p.assign_add(scale * tf.where(adaptive, m / (tf.sqrt(v) + self.eps), m))
            slow.assign(tf.where(sync, slow + self.alpha * (p - slow), slow))
            p.assign(tf.where(sync, slow, p))
