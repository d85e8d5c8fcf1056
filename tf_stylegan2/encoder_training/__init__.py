"""Training pixel2style2pixel encoders: pSp's losses (`losses`: L2, LPIPS AlexNet, ArcFace ID,
w-norm, crop terms), its Ranger optimizer (`ranger`) and one training step (`step`)."""

from tf_stylegan2.encoder_training.arcface import ArcFace, arcface_from_state_dict
from tf_stylegan2.encoder_training.losses import LossWeights, PSPLoss
from tf_stylegan2.encoder_training.lpips_alex import AlexLPIPS, alex_lpips_from_state_dict
from tf_stylegan2.encoder_training.ranger import Ranger
from tf_stylegan2.encoder_training.step import TrainStep

__all__ = ["AlexLPIPS", "ArcFace", "LossWeights", "PSPLoss", "Ranger", "TrainStep", "alex_lpips_from_state_dict",
           "arcface_from_state_dict"]
