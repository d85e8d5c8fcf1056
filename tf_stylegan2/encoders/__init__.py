"""Image-to-latent encoders: pixel2style2pixel's `GradualStyleEncoder` (IR-SE backbone, feature
pyramid, one head per style), read from pSp checkpoints without PyTorch.

`load_encoder(path)` -> `PSPEncoder`: `encode(images)` -> W+ `[N, n_styles, w_dim]`,
`decode(ws)` / `reconstruct(images)` -> the decoder's NHWC images.
"""

from tf_stylegan2.encoders.gradual_style import GradualStyleEncoder
from tf_stylegan2.encoders.psp import PSPEncoder, load_encoder, pool_outputs
from tf_stylegan2.encoders.psp_weights import encoder_from_state_dict

__all__ = ["GradualStyleEncoder", "PSPEncoder", "encoder_from_state_dict", "load_encoder", "pool_outputs"]
