"""pSp encoder training (issue 27) against pSp's own `calc_loss` and seven training steps with
Ranger (tests/data/psp_training: the shared psp fixture's loss/training references, its narrowed
LPIPS AlexNet and ArcFace; the network is tests/data/psp's checkpoint)."""

import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import DATA
from psp_fixture import load_psp, nhwc

from tf_stylegan2.encoder_training import (LossWeights, PSPLoss, alex_lpips_from_state_dict,
                                           arcface_from_state_dict)
from tf_stylegan2.encoders import pool_outputs

TRAINING = os.path.join(DATA, "psp_training")
FIXTURE_WEIGHTS = LossWeights(id_lambda=0.1, l2_lambda=1.0, lpips_lambda=0.8, w_norm_lambda=0.005)
CROP_WEIGHTS = LossWeights(id_lambda=0.1, l2_lambda=1.0, lpips_lambda=0.8, w_norm_lambda=0.005,
                           lpips_lambda_crop=0.6, l2_lambda_crop=0.01)
_CACHE = {}


def refs():
    if "refs" not in _CACHE:
        with np.load(os.path.join(TRAINING, "refs.npz")) as f:
            _CACHE["refs"] = {k: f[k] for k in f.files}
    return _CACHE["refs"]


def upsample(x_nchw, factor):
    """Nearest-neighbour upsampling (the fixture stores 256 px arrays subsampled; NCHW -> NHWC)."""
    return nhwc(np.repeat(np.repeat(x_nchw, factor, 2), factor, 3))


def criteria():
    if "criteria" not in _CACHE:
        _CACHE["criteria"] = (alex_lpips_from_state_dict(os.path.join(TRAINING, "lpips-alex-narrow.pt")),
                              arcface_from_state_dict(os.path.join(TRAINING, "arcface-narrow.pt")))
    return _CACHE["criteria"]


def loss_batch():
    r = refs()
    return (upsample(r["loss_x64"], 4), upsample(r["loss_y_sub4"], 4), upsample(r["loss_y_hat_sub8"], 8),
            r["loss_latent"])


def test_face_pool_of_the_decoder_output_is_psps_y_hat():
    psp = load_psp()
    ours = pool_outputs(psp.decode(refs()["loss_latent"])).numpy()
    np.testing.assert_allclose(ours, upsample(refs()["loss_y_hat_sub8"], 8), atol=1e-4, rtol=1e-4)


def test_lpips_alexnet_features_and_distance():
    lpips, _ = criteria()
    _, y, y_hat, _ = loss_batch()
    r = refs()
    for i, feat in enumerate(lpips.features(tf.constant(y_hat))):
        ref = nhwc(r["lpips_feat%d_y_hat" % i])
        np.testing.assert_allclose(feat.numpy(), ref, atol=1e-5 * ref.std() + 1e-6, rtol=1e-4)
    np.testing.assert_allclose(lpips(y_hat, y).numpy(), r["loss_lpips"], rtol=1e-5)
    np.testing.assert_allclose(lpips.per_sample(y_hat, y).numpy()[0], r["loss_lpips_sample0"], rtol=1e-5)


def test_id_loss_crop_pool_features_and_dot_products():
    lpips, arcface = criteria()
    x, y, y_hat, latent = loss_batch()
    r = refs()
    loss = PSPLoss(FIXTURE_WEIGHTS, lpips, arcface, r["latent_avg"])
    from tf_stylegan2.encoder_training.losses import face_crop
    from tf_stylegan2.encoders.resampling import adaptive_avg_pool
    np.testing.assert_allclose(adaptive_avg_pool(face_crop(tf.constant(y_hat)), 112).numpy(),
                               nhwc(r["id_crop_pool_y_hat"]), atol=1e-6, rtol=1e-5)
    for name, images in (("y_hat", y_hat), ("y", y), ("x256", x)):
        np.testing.assert_allclose(loss.id_features(tf.constant(images)).numpy(), r["id_feats_" + name],
                                   atol=1e-5, rtol=1e-4)
    loss_id, improve = loss.id_loss(tf.constant(y_hat), tf.constant(y), tf.constant(x))
    np.testing.assert_allclose(loss_id.numpy(), r["loss_id"], rtol=1e-5)
    np.testing.assert_allclose(improve.numpy(), r["loss_id_improve"], rtol=1e-4)


@pytest.mark.parametrize("weights,total_key", [(FIXTURE_WEIGHTS, "loss_total"),
                                               (CROP_WEIGHTS, "loss_total_with_crops")])
def test_calc_loss_terms_and_total(weights, total_key):
    lpips, arcface = criteria()
    x, y, y_hat, latent = loss_batch()
    r = refs()
    total, terms = PSPLoss(weights, lpips, arcface, r["latent_avg"])(x, y, y_hat, latent)
    for key in ("loss_l2", "loss_lpips", "loss_id", "loss_w_norm") + (
            ("loss_lpips_crop", "loss_l2_crop") if weights.l2_lambda_crop else ()):
        np.testing.assert_allclose(terms[key].numpy(), r[key], rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(total.numpy(), r[total_key], rtol=1e-5)
