"""StyleGAN2's loss terms, per sample (spec §10; NVIDIA's `StyleGAN2Loss` split into its parts).

Images are float32 NHWC `[N, H, W, C]` in [-1, 1]; `c` is `[N, c_dim]` labels or None. Every
function returns a `[N]` tensor; weights (r1_gamma / 2, pl_weight, lazy-regularisation
intervals, the pl_mean running average) are the training loop's business. R1 and the path
length take gradients inside, so they are differentiable to second order: call them under the
optimiser's `tf.GradientTape`.
"""

import tensorflow as tf


def _logits(D, img, c):
    return D(tf.convert_to_tensor(img, tf.float32), c)[:, 0]


def d_logistic(D, real_img, fake_img, c=None, fake_c=None):
    """Logistic D loss `softplus(D(fake, fake_c)) + softplus(-D(real, c))` -> `[N]` (two D calls;
    `fake_c` None: the fakes are judged with the reals' labels `c`)."""
    fake_c = c if fake_c is None else fake_c
    return tf.nn.softplus(_logits(D, fake_img, fake_c)) + tf.nn.softplus(-_logits(D, real_img, c))


def r1_penalty(D, real_img, c=None):
    """R1 before its `gamma / 2`: `sum over H, W, C of (d sum D(real) / d real)^2` -> `[N]`."""
    real_img = tf.convert_to_tensor(real_img, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(real_img)
        scores = tf.reduce_sum(_logits(D, real_img, c))
    grads = tape.gradient(scores, real_img)
    return tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])


def g_nonsaturating(D, fake_img, c=None):
    """Non-saturating G loss `softplus(-D(fake))` -> `[N]`."""
    return tf.nn.softplus(-_logits(D, fake_img, c))


def path_lengths(G, ws, pl_noise, noise_mode="random", noise=None, precision="fp32"):
    """Path lengths `sqrt(mean over layers of sum over w of g^2)` -> `[N]`, where
    `g = d sum(G.synthesis(ws) * pl_noise) / d ws` for `ws [N, num_ws, w_dim]` and
    `pl_noise [N, H, W, C]` (the training loop draws it as `randn / sqrt(H * W)`).
    `noise`: optional per-layer noise override of `G.synthesis` (a training loop's own RNG draws);
    `precision`: that of `G.synthesis` (mixed-precision training)."""
    ws = tf.convert_to_tensor(ws, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(ws)
        img = G.synthesis(ws, noise_mode=noise_mode, noise=noise, precision=precision)
        projected = tf.reduce_sum(img * tf.convert_to_tensor(pl_noise, tf.float32))
    grads = tape.gradient(projected, ws)
    return tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=2), axis=1))
