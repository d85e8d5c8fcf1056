"""rosinality/stylegan2-pytorch checkpoints (`.pt`), read and written without PyTorch.

- `load_checkpoint(path)` -> `Networks(G, D, G_ema)` (also reached through `tf_stylegan2.load_network`);
- `generator_from_state_dict(tensors, latent_avg=None, name="G_ema")`,
  `discriminator_from_state_dict(tensors, name="D")`: one network from an unprefixed state dict;
- `save_rosinality(networks, path)`: a converted-form checkpoint (`g_ema`, `latent_avg`, and `g`,
  `d` when present) in torch's zip format, for rosinality's `load_state_dict(strict=True)`.
"""

from tf_stylegan2.rosinality.load import (discriminator_from_state_dict, generator_from_state_dict, load_checkpoint,
                                          mean_latent)
from tf_stylegan2.rosinality.save import UnsupportedNetworkError, save_rosinality

__all__ = ["UnsupportedNetworkError", "discriminator_from_state_dict", "generator_from_state_dict", "load_checkpoint",
           "mean_latent", "save_rosinality"]
