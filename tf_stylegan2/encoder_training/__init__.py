"""Training pixel2style2pixel encoders: pSp's losses (`losses`: L2, LPIPS AlexNet, ArcFace ID,
w-norm, crop terms), its Ranger optimizer (`ranger`), one training step (`step`), the encoder's
IR-SE-50 initialisation (`encoder_init`), checkpoints in pSp's format (`checkpoint`), paired
datasets from two networks (`pairs`), the training data (`data`), a run's parts (`setup`) and the
training loop of `run_encoder_training.py` (`run.train`; not imported here, it pulls in the GAN
training package)."""

from tf_stylegan2.encoder_training.arcface import ArcFace, arcface_from_state_dict
from tf_stylegan2.encoder_training.checkpoint import psp_opts, save_psp_checkpoint
from tf_stylegan2.encoder_training.data import EncoderDataset
from tf_stylegan2.encoder_training.encoder_init import init_from_arcface
from tf_stylegan2.encoder_training.losses import LossWeights, PSPLoss
from tf_stylegan2.encoder_training.lpips_alex import AlexLPIPS, alex_lpips_from_state_dict
from tf_stylegan2.encoder_training.pairs import generate_pairs
from tf_stylegan2.encoder_training.ranger import Ranger
from tf_stylegan2.encoder_training.step import TrainStep, seeded_noise

__all__ = ["AlexLPIPS", "ArcFace", "EncoderDataset", "LossWeights", "PSPLoss", "Ranger", "TrainStep",
           "alex_lpips_from_state_dict", "arcface_from_state_dict", "generate_pairs", "init_from_arcface", "psp_opts",
           "save_psp_checkpoint", "seeded_noise"]
