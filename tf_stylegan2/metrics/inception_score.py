"""Inception score (spec §13.5)."""

import numpy as np


def is_from_probabilities(probs, num_splits=10):
    """Inception score of class probabilities `[N, classes]` -> `(mean, std)` over `num_splits`.

    Split i is rows `[i N // splits, (i + 1) N // splits)`; its score is
    `exp(mean_rows sum_j p_ij (log p_ij - log mean_rows p_.j))`; std is the population std.
    Zero probabilities contribute 0 (the limit of p log p). float64 inside.
    """
    p = np.asarray(probs, np.float64)
    n = p.shape[0]
    if n < num_splits:
        raise ValueError("the Inception score needs at least %d samples (one per split), got %d" % (num_splits, n))
    scores = []
    for i in range(num_splits):
        part = p[i * n // num_splits:(i + 1) * n // num_splits]
        marginal = part.mean(axis=0, keepdims=True)
        safe = np.where(part > 0, part, 1.0)
        kl = np.where(part > 0, part * (np.log(safe) - np.log(np.where(part > 0, marginal, 1.0))), 0.0)
        scores.append(np.exp(np.mean(np.sum(kl, axis=1))))
    return float(np.mean(scores)), float(np.std(scores))
