"""Fréchet Inception Distance (spec §13.2)."""

import numpy as np

from tf_stylegan2.metrics.features import FeatureStats


def trace_sqrt_product(sigma1, sigma2):
    """`Tr(sqrtm(sigma1 @ sigma2))` for symmetric PSD covariances, real part.

    The eigenvalues of `sigma1 @ sigma2` are those of the symmetric PSD `s @ sigma1 @ s`, s = sigma2^(1/2),
    so the trace is the sum of their square roots; tiny negative rounding errors contribute 0, as
    they do to the real part of `scipy.linalg.sqrtm`.
    """
    w, v = np.linalg.eigh(sigma2)
    s = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.linalg.eigvalsh(s @ sigma1 @ s)
    return float(np.sum(np.sqrt(np.clip(eig, 0, None))))


def fid_from_stats(mu_real, sigma_real, mu_fake, sigma_fake):
    """`||mu_g - mu_r||^2 + Tr(sigma_g + sigma_r - 2 sqrtm(sigma_g sigma_r))`, float64 inside -> float."""
    mu_real, mu_fake = np.asarray(mu_real, np.float64), np.asarray(mu_fake, np.float64)
    sigma_real, sigma_fake = np.asarray(sigma_real, np.float64), np.asarray(sigma_fake, np.float64)
    m = float(np.sum(np.square(mu_fake - mu_real)))
    return m + float(np.trace(sigma_fake) + np.trace(sigma_real)) - 2.0 * trace_sqrt_product(sigma_fake, sigma_real)


def fid_from_features(real_feats, fake_feats, unbiased=False):
    """FID between feature sets `[N_r, D]` and `[N_g, D]` -> float.

    ADA's definition by default (biased covariances); `unbiased=True` for TF1's `np.cov`.
    """
    stats = []
    for feats in (real_feats, fake_feats):
        s = FeatureStats(capture_mean_cov=True)
        s.append(feats)
        stats.append(s.get_mean_cov(unbiased))
    return fid_from_stats(*stats[0], *stats[1])
