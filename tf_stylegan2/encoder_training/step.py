"""One pSp training step: the encoder (BatchNorm in training mode) maps `x` to codes, `latent_avg`
is added (`start_from_latent_avg`), the frozen decoder renders them, `face_pool` brings the images
to 256x256, `PSPLoss` compares them with the target and the optimizer updates the encoder."""

import tensorflow as tf

from tf_stylegan2.encoder_training.ranger import Ranger
from tf_stylegan2.encoders import pool_outputs


class TrainStep:
    """`TrainStep(encoder, decoder, loss, latent_avg=None, optimizer=None, noise_mode="random")`.

    `step(x, y, x256=None)` -> dict of scalar loss tensors (pSp's `loss_dict` names, before the
    update) after one optimizer step; `x [N, S, S, 3]` encoder inputs in [-1, 1], `y [N, 256, 256, 3]`
    targets, `x256` the inputs at 256 for the ID loss's `id_improve` (default `x`).

    Args:
      encoder: a `GradualStyleEncoder` (trained; its BatchNorms run in training mode).
      decoder: a generator with `synthesis(ws, noise_mode=...)` (frozen).
      loss: a `PSPLoss`.
      latent_avg: `[n_styles, w_dim]` or `[w_dim]` added to the codes, or None.
      optimizer: an object with `apply(grads)` over `encoder.trainable_variables` (default: Ranger, lr 1e-4).
      noise_mode: the decoder's noise while training ("random": pSp's `randomize_noise=True`).
    """

    def __init__(self, encoder, decoder, loss, latent_avg=None, optimizer=None, noise_mode="random"):
        self.encoder, self.decoder, self.loss, self.noise_mode = encoder, decoder, loss, noise_mode
        self.latent_avg = None if latent_avg is None else tf.constant(latent_avg, tf.float32)
        self.variables = list(encoder.trainable_variables)
        self.optimizer = optimizer if optimizer is not None else Ranger(self.variables)
        self._gradients = tf.function(self.gradients)

    def forward(self, x, training=True):
        """-> `(codes [N, n_styles, w_dim] with latent_avg, y_hat [N, 256, 256, 3])`."""
        codes = self.encoder(x, training=training)
        if self.latent_avg is not None:
            codes = codes + self.latent_avg
        return codes, pool_outputs(self.decoder.synthesis(codes, noise_mode=self.noise_mode))

    def gradients(self, x, y, x256):
        """-> `(terms, grads)`: the loss terms of a training-mode forward and the gradients of
        the total for `self.variables`."""
        with tf.GradientTape() as tape:
            codes, y_hat = self.forward(x, training=True)
            total, terms = self.loss(x256, y, y_hat, codes)
        return terms, tape.gradient(total, self.variables)

    def step(self, x, y, x256=None):
        x = tf.convert_to_tensor(x, tf.float32)
        terms, grads = self._gradients(x, tf.convert_to_tensor(y, tf.float32),
                                       x if x256 is None else tf.convert_to_tensor(x256, tf.float32))
        self.optimizer.apply(grads)
        return terms
