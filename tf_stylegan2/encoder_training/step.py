"""One pSp training step: the encoder (BatchNorm in training mode) maps `x` to codes, `latent_avg`
is added (`start_from_latent_avg`), the frozen decoder renders them, `face_pool` brings the images
to 256x256, `PSPLoss` compares them with the target and the optimizer updates the encoder."""

import tensorflow as tf

from tf_stylegan2.encoder_training.ranger import Ranger
from tf_stylegan2.encoders import pool_outputs


def seeded_noise(synthesis, batch, seed):
    """The decoder's per-layer noise `[batch, r, r, 1]` drawn statelessly from `seed` (int64 `[2]`,
    e.g. `[run seed, step]`): the same seed gives the same noise in any process, so a resumed run
    renders what the uninterrupted one did (pSp's `randomize_noise=True` without a global RNG)."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), synthesis.num_noise)
    return [tf.random.stateless_normal([batch, synthesis.noise_resolution(i), synthesis.noise_resolution(i), 1],
                                       seed=seeds[i]) for i in range(synthesis.num_noise)]


class TrainStep:
    """`TrainStep(encoder, decoder, loss, latent_avg=None, optimizer=None, noise_mode="random",
    train_decoder=False)`.

    `step(x, y, x256=None, noise_seed=None)` -> dict of scalar loss tensors (pSp's `loss_dict`
    names, before the update) after one optimizer step; `x [N, S, S, 3]` encoder inputs in [-1, 1],
    `y [N, 256, 256, 3]` targets, `x256` the inputs at 256 for the ID loss's `id_improve` (default
    `x`), `noise_seed` int64 `[2]`: the decoder's noise drawn by `seeded_noise` (else by `noise_mode`).

    Args:
      encoder: a `GradualStyleEncoder` (trained; its BatchNorms run in training mode).
      decoder: a generator with `synthesis(ws, noise_mode=...)` (frozen).
      loss: a `PSPLoss`.
      latent_avg: `[n_styles, w_dim]` or `[w_dim]` added to the codes, or None.
      optimizer: an object with `apply(grads)` over `encoder.trainable_variables` (default: Ranger, lr 1e-4).
      noise_mode: the decoder's noise while training ("random": pSp's `randomize_noise=True`).
      train_decoder: train the decoder's synthesis weights too (pSp's `--train_decoder`; the mapping
        network takes no part in pSp's forward pass, so it gets no gradient and stays).
    """

    def __init__(self, encoder, decoder, loss, latent_avg=None, optimizer=None, noise_mode="random",
                 train_decoder=False):
        self.encoder, self.decoder, self.loss, self.noise_mode = encoder, decoder, loss, noise_mode
        self.latent_avg = None if latent_avg is None else tf.constant(latent_avg, tf.float32)
        self.variables = list(encoder.trainable_variables)
        if train_decoder:
            self.variables += list(decoder.synthesis.trainable_variables)
        self.optimizer = optimizer if optimizer is not None else Ranger(self.variables)
        self._gradients = tf.function(self.gradients)
        self._evaluate = tf.function(self.evaluation)

    def forward(self, x, training=True, noise_seed=None):
        """-> `(codes [N, n_styles, w_dim] with latent_avg, y_hat [N, 256, 256, 3])`."""
        codes = self.encoder(x, training=training)
        if self.latent_avg is not None:
            codes = codes + self.latent_avg
        noise = None if noise_seed is None else seeded_noise(self.decoder.synthesis, tf.shape(x)[0], noise_seed)
        return codes, pool_outputs(self.decoder.synthesis(codes, noise_mode=self.noise_mode, noise=noise))

    def gradients(self, x, y, x256, noise_seed=None):
        """-> `(terms, grads)`: the loss terms of a training-mode forward and the gradients of
        the total for `self.variables`."""
        with tf.GradientTape() as tape:
            codes, y_hat = self.forward(x, training=True, noise_seed=noise_seed)
            total, terms = self.loss(x256, y, y_hat, codes)
        return terms, tape.gradient(total, self.variables)

    def evaluation(self, x, y, x256, noise_seed=None):
        """-> `(terms, y_hat)` of an eval-mode forward (BatchNorm running statistics, nothing updated)."""
        codes, y_hat = self.forward(x, training=False, noise_seed=noise_seed)
        return self.loss(x256, y, y_hat, codes)[1], y_hat

    def evaluate(self, x, y, x256=None, noise_seed=None):
        """pSp's validation forward: `(terms, y_hat [N, 256, 256, 3] numpy)`, arguments as `step`."""
        x = tf.convert_to_tensor(x, tf.float32)
        terms, y_hat = self._evaluate(x, tf.convert_to_tensor(y, tf.float32),
                                      x if x256 is None else tf.convert_to_tensor(x256, tf.float32),
                                      None if noise_seed is None else tf.constant(noise_seed, tf.int64))
        return terms, y_hat.numpy()

    def step(self, x, y, x256=None, noise_seed=None):
        x = tf.convert_to_tensor(x, tf.float32)
        terms, grads = self._gradients(x, tf.convert_to_tensor(y, tf.float32),
                                       x if x256 is None else tf.convert_to_tensor(x256, tf.float32),
                                       None if noise_seed is None else tf.constant(noise_seed, tf.int64))
        self.optimizer.apply(grads)
        return terms
