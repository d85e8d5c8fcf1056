"""Training pixel2style2pixel encoders: pSp's losses (`losses`: L2, LPIPS AlexNet, ArcFace ID,
w-norm, crop terms), its Ranger optimizer (`ranger`), one training step (`step`), the encoder's
IR-SE-50 initialisation (`encoder_init`), checkpoints in pSp's format (`checkpoint`) and paired
datasets from two networks (`pairs`)."""

from tf_stylegan2.encoder_training.arcface import ArcFace, arcface_from_state_dict
from tf_stylegan2.encoder_training.checkpoint import psp_opts, save_psp_checkpoint
from tf_stylegan2.encoder_training.encoder_init import init_from_arcface
from tf_stylegan2.encoder_training.losses import LossWeights, PSPLoss
from tf_stylegan2.encoder_training.lpips_alex import AlexLPIPS, alex_lpips_from_state_dict
from tf_stylegan2.encoder_training.pairs import generate_pairs
from tf_stylegan2.encoder_training.ranger import Ranger
from tf_stylegan2.encoder_training.step import TrainStep

__all__ = ["AlexLPIPS", "ArcFace", "LossWeights", "PSPLoss", "Ranger", "TrainStep", "alex_lpips_from_state_dict",
           "arcface_from_state_dict", "generate_pairs", "init_from_arcface", "psp_opts", "save_psp_checkpoint"]
