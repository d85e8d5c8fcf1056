"""The official seed conventions for latents and noise."""

import numpy as np

from tf_stylegan2.networks.synthesis import SynthesisNetwork


def z_from_seed(seed, z_dim):
    """`RandomState(seed).randn(1, z_dim)` as float32 `[1, z_dim]` (TF1 and ADA generate-images)."""
    return np.random.RandomState(seed).randn(1, z_dim).astype(np.float32)


def z_from_seeds(seeds, z_dim):
    """Stack of `z_from_seed` for each seed: float32 `[len(seeds), z_dim]`."""
    return np.concatenate([z_from_seed(s, z_dim) for s in seeds], axis=0)


def seeded_noise(seed, z_dim, num_noise, noise_resolution=SynthesisNetwork.noise_resolution):
    """TF1 `run_generator.py generate-images` convention: from `RandomState(seed)`, draw z
    (`randn(1, z_dim)`), then every noise buffer `noise0..` in order (`randn(1, 1, r, r)`,
    `r = noise_resolution(i)`: StyleGAN2's by default, pass `G.synthesis.noise_resolution` for any network).

    Returns:
      (z float32 `[1, z_dim]`, list of `num_noise` float32 arrays `[1, r, r, 1]`).
    """
    rnd = np.random.RandomState(seed)
    z = rnd.randn(1, z_dim).astype(np.float32)
    noise = []
    for i in range(num_noise):
        r = noise_resolution(i)
        noise.append(rnd.randn(1, 1, r, r).astype(np.float32).reshape(1, r, r, 1))
    return z, noise
