"""pSp's training loss (`Coach.calc_loss`), NHWC: images `[N, 256, 256, 3]` in about [-1, 1]
(the decoder's output after `face_pool`), codes `[N, n_styles, w_dim]`.

- l2: mean squared error over all elements;
- lpips: `AlexLPIPS` (or any `(a, b) -> scalar` callable), mean over the batch;
- id: ArcFace features of the crop `[35:223, 32:220]` pooled to 112 (non-integer adaptive pool),
  `mean_b(1 - <f(y_hat_b), f(y_b)>)` with the target's features held constant; `id_improve`
  `mean_b(<f(y_hat), f(y)> - <f(y), f(x)>)` is reported only;
- w_norm: `sum_b ||codes_b - latent_avg||_F / N` (`start_from_latent_avg`), else of the codes;
- lpips_crop, l2_crop: lpips and l2 on the same crop.
The total is the lambda-weighted sum of the terms whose lambda is > 0, in pSp's order.
"""

import dataclasses

import tensorflow as tf

from tf_stylegan2.encoder_training.arcface import INPUT_SIZE as ARCFACE_SIZE
from tf_stylegan2.encoders.resampling import adaptive_avg_pool

FACE_CROP = (slice(35, 223), slice(32, 220))  # rows, columns of a 256x256 image (188x188)


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """pSp's loss lambdas (its option names; defaults are pSp's `train_options` defaults)."""
    id_lambda: float = 0.0
    l2_lambda: float = 1.0
    lpips_lambda: float = 0.8
    w_norm_lambda: float = 0.0
    lpips_lambda_crop: float = 0.0
    l2_lambda_crop: float = 0.0


def face_crop(images):
    """`[N, 256, 256, C]` -> pSp's face region `[N, 188, 188, C]`."""
    return images[:, FACE_CROP[0], FACE_CROP[1], :]


def l2_loss(a, b):
    return tf.reduce_mean(tf.square(a - b))


def w_norm_loss(codes, latent_avg=None):
    """`sum_b ||codes_b - latent_avg||_F / N`; `latent_avg` `[n_styles, D]`, `[D]` or None."""
    if latent_avg is not None:
        codes = codes - latent_avg
    return tf.reduce_mean(tf.norm(tf.reshape(codes, [tf.shape(codes)[0], -1]), axis=1))


class PSPLoss:
    """`PSPLoss(weights, lpips=None, arcface=None, latent_avg=None)(x, y, y_hat, codes)` ->
    `(total, terms)`, `terms` a dict of scalar tensors named as pSp's `loss_dict` (`loss_id`,
    `id_improve`, `loss_l2`, `loss_lpips`, `loss_lpips_crop`, `loss_l2_crop`, `loss_w_norm`, `loss`).

    Args:
      weights: `LossWeights`.
      lpips: `(a, b) -> scalar` perceptual distance; needed when an lpips lambda is > 0.
      arcface: `[N, 112, 112, 3] -> [N, E]` unit features; needed when `id_lambda > 0`.
      latent_avg: the codes' centre for w_norm (`start_from_latent_avg`), or None.
    x, y, y_hat: `[N, 256, 256, 3]`: the encoder input at 256 (used by `id_improve` only), the target
    and the output; codes: `[N, n_styles, w_dim]` (with latent_avg added, as pSp's `latent`).
    """

    def __init__(self, weights, lpips=None, arcface=None, latent_avg=None):
        self.weights, self.lpips, self.arcface = weights, lpips, arcface
        self.latent_avg = None if latent_avg is None else tf.constant(latent_avg, tf.float32)
        if (weights.lpips_lambda > 0 or weights.lpips_lambda_crop > 0) and lpips is None:
            raise ValueError("an LPIPS network is needed for lpips_lambda > 0 or lpips_lambda_crop > 0")
        if weights.id_lambda > 0 and arcface is None:
            raise ValueError("an ArcFace network is needed for id_lambda > 0")

    def id_features(self, images):
        """`[N, 256, 256, 3]` -> ArcFace features `[N, E]` of the pooled face crop."""
        return self.arcface(adaptive_avg_pool(face_crop(images), ARCFACE_SIZE))

    def id_loss(self, y_hat, y, x):
        """-> `(loss_id, id_improve)` as pSp's `IDLoss` (`id_improve` without gradient)."""
        f_hat, f_y, f_x = self.id_features(y_hat), tf.stop_gradient(self.id_features(y)), self.id_features(x)
        target = tf.reduce_sum(f_hat * f_y, axis=1)
        views = tf.reduce_sum(f_y * f_x, axis=1)
        return tf.reduce_mean(1.0 - target), tf.stop_gradient(tf.reduce_mean(target - views))

    def __call__(self, x, y, y_hat, codes):
        w, terms, total = self.weights, {}, tf.constant(0.0)
        if w.id_lambda > 0:
            terms["loss_id"], terms["id_improve"] = self.id_loss(y_hat, y, x)
            total = terms["loss_id"] * w.id_lambda
        if w.l2_lambda > 0:
            terms["loss_l2"] = l2_loss(y_hat, y)
            total += terms["loss_l2"] * w.l2_lambda
        if w.lpips_lambda > 0:
            terms["loss_lpips"] = self.lpips(y_hat, y)
            total += terms["loss_lpips"] * w.lpips_lambda
        if w.lpips_lambda_crop > 0:
            terms["loss_lpips_crop"] = self.lpips(face_crop(y_hat), face_crop(y))
            total += terms["loss_lpips_crop"] * w.lpips_lambda_crop
        if w.l2_lambda_crop > 0:
            terms["loss_l2_crop"] = l2_loss(face_crop(y_hat), face_crop(y))
            total += terms["loss_l2_crop"] * w.l2_lambda_crop
        if w.w_norm_lambda > 0:
            terms["loss_w_norm"] = w_norm_loss(codes, self.latent_avg)
            total += terms["loss_w_norm"] * w.w_norm_lambda
        terms["loss"] = total
        return total, terms
