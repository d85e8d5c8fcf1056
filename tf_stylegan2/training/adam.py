"""Adam over a fixed list of variables, with state that checkpoints as plain arrays, and torch's
`lerp` (the running averages of StyleGAN2-ADA's loop are `torch.lerp`)."""

import tensorflow as tf

GRAD_LIMIT = 1e5


def lerp(start, end, weight):
    """`torch.lerp(start, end, weight)` as torch computes it: `start + weight * (end - start)` for
    `weight < 0.5`, else `end - (end - start) * (1 - weight)` (exact at weight 1). `weight`: a
    Python float or float32 scalar tensor."""
    weight = tf.convert_to_tensor(weight, tf.float32)
    diff = end - start
    return tf.where(weight < 0.5, start + weight * diff, end - diff * (1.0 - weight))


class Adam(tf.Module):
    """`torch.optim.Adam` (the optimiser of StyleGAN2-ADA), step for step:

        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        p -= lr / (1 - beta1^t) * (m / (sqrt(v) / sqrt(1 - beta2^t) + eps))

    with the bias corrections in float64 (torch takes them in Python floats) and `eps` added to the
    *corrected* `sqrt(v)` (Keras adds it to the uncorrected one, `lr * sqrt(1 - beta2^t) / (1 -
    beta1^t) * m / (sqrt(v) + eps)`: a different step for |g| below about eps / sqrt(1 - beta2^t)).

    `apply(grads)` sanitises the gradients first as ADA does (`sanitize`) and updates the variables
    in place; every variable takes part (pass zeros for a disconnected one). Slots `m`, `v` are
    float32 like the variables; `iterations` counts the steps taken. Call it in a cross-replica
    context under a `tf.distribute` strategy (gradients already reduced).
    """

    def __init__(self, variables, lr, betas, eps=1e-8, name="adam", **unused):
        super().__init__(name=name)
        self.variables_to_train = list(variables)
        self.lr, self.beta1, self.beta2, self.eps = float(lr), float(betas[0]), float(betas[1]), float(eps)
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
        self.m = [tf.Variable(tf.zeros(v.shape, tf.float32), trainable=False, name="m%d" % i)
                  for i, v in enumerate(self.variables_to_train)]
        self.v = [tf.Variable(tf.zeros(v.shape, tf.float32), trainable=False, name="v%d" % i)
                  for i, v in enumerate(self.variables_to_train)]

    def slots(self):
        """`{name: variable}` of the state: `iterations`, `m/<path>` and `v/<path>` per trained
        variable (its Keras `path`), for checkpoints restored by name."""
        out = {"iterations": self.iterations}
        for var, m, v in zip(self.variables_to_train, self.m, self.v):
            out["m/" + var.path] = m
            out["v/" + var.path] = v
        return out

    def apply(self, grads):
        t = tf.cast(self.iterations.assign_add(1), tf.float64)
        step_size = tf.cast(self.lr / (1.0 - tf.pow(tf.constant(self.beta1, tf.float64), t)), tf.float32)
        correction2_sqrt = tf.cast(tf.sqrt(1.0 - tf.pow(tf.constant(self.beta2, tf.float64), t)), tf.float32)
        for var, g, m, v in zip(self.variables_to_train, grads, self.m, self.v):
            g = sanitize(g)
            m.assign(lerp(m, g, 1.0 - self.beta1))
            v.assign(v * self.beta2 + (1.0 - self.beta2) * (g * g))
            var.assign_sub(step_size * (m / (tf.sqrt(v) / correction2_sqrt + self.eps)))


def sanitize(g):
    """ADA's `misc.nan_to_num(g, nan=0, posinf=1e5, neginf=-1e5)`, which is `clamp(nansum(g), -1e5,
    1e5)`: NaN -> 0, and everything (finite values too) clamped to [-1e5, 1e5]."""
    g = tf.where(tf.math.is_nan(g), tf.zeros_like(g), g)
    return tf.clip_by_value(g, -GRAD_LIMIT, GRAD_LIMIT)
