"""Adam over a fixed list of variables, with state that checkpoints as plain arrays."""

import tensorflow as tf


class Adam(tf.Module):
    """Adam as PyTorch's `torch.optim.Adam` (bias-corrected moments, `eps` added to the corrected
    `sqrt(v)`), the optimiser of StyleGAN2-ADA.

    `apply(grads)` sanitises the gradients first as ADA does (`nan_to_num`: NaN -> 0, +-inf -> +-1e5)
    and updates the variables in place. Slots `m`, `v` are float32 like the variables; `iterations`
    counts the steps taken. Call it in a cross-replica context under a `tf.distribute` strategy
    (gradients already reduced).
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
        """Every state variable, in a fixed order (for checkpoints)."""
        return [self.iterations] + self.m + self.v

    def apply(self, grads):
        t = tf.cast(self.iterations.assign_add(1), tf.float32)
        correction1 = 1.0 - tf.pow(self.beta1, t)
        correction2 = 1.0 - tf.pow(self.beta2, t)
        for var, g, m, v in zip(self.variables_to_train, grads, self.m, self.v):
            if g is None:
                continue
            g = sanitize(g)
            m.assign(self.beta1 * m + (1.0 - self.beta1) * g)
            v.assign(self.beta2 * v + (1.0 - self.beta2) * tf.square(g))
            var.assign_sub(self.lr / correction1 * m / (tf.sqrt(v / correction2) + self.eps))


def sanitize(g):
    """`nan_to_num(g, nan=0, posinf=1e5, neginf=-1e5)`."""
    g = tf.where(tf.math.is_nan(g), tf.zeros_like(g), g)
    return tf.where(tf.math.is_inf(g), tf.sign(g) * 1e5, g)
