"""Image-to-latent encoders: pixel2style2pixel's `GradualStyleEncoder` (IR-SE backbone, feature
pyramid, one head per style), read from pSp checkpoints without PyTorch."""

from tf_stylegan2.encoders.gradual_style import GradualStyleEncoder
from tf_stylegan2.encoders.psp_weights import encoder_from_state_dict

__all__ = ["GradualStyleEncoder", "encoder_from_state_dict"]
