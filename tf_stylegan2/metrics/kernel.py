"""Kernel Inception Distance (spec §13.3, ADA)."""

import numpy as np


def kid_from_features(real_feats, fake_feats, num_subsets=100, max_subset_size=1000, seed=0):
    """Mean over `num_subsets` random subsets of the unbiased MMD^2 estimate with the cubic
    polynomial kernel `k(a, b) = (a.b / D + 1)^3`, float64 inside -> float.

    Each subset draws `m = min(N_r, N_g, max_subset_size)` fakes and `m` reals without replacement
    (fakes first, from `np.random.RandomState(seed)`).
    """
    real, fake = np.asarray(real_feats), np.asarray(fake_feats)  # subsets go to float64 (1M x 2048 stays float32)
    n = real.shape[1]
    m = min(real.shape[0], fake.shape[0], max_subset_size)
    if m < 2:
        raise ValueError("KID needs at least 2 real and 2 generated samples, got %d and %d"
                         % (real.shape[0], fake.shape[0]))
    rnd = np.random.RandomState(seed)
    t = 0.0
    for _ in range(num_subsets):
        x = fake[rnd.choice(fake.shape[0], m, replace=False)].astype(np.float64)
        y = real[rnd.choice(real.shape[0], m, replace=False)].astype(np.float64)
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        t += (a.sum() - np.trace(a)) / (m - 1) - b.sum() * 2 / m
    return float(t / num_subsets / m)
