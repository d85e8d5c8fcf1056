"""StyleGAN2 for TensorFlow 2 / Keras 3 that loads NVIDIA's official network pickles."""

import os
import sys

if "tensorflow" not in sys.modules:
    # oneDNN kernels (read once, at TensorFlow's import): the fast CPU convolutions and matmuls.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from tf_stylegan2 import ops
from tf_stylegan2.encoders import load_encoder
from tf_stylegan2.images import to_uint8
from tf_stylegan2.networks import Discriminator, Generator, MappingNetwork, SynthesisNetwork, mix_styles
from tf_stylegan2.official import NetworkPickleError, Networks, save_pickle
from tf_stylegan2.rosinality import save_rosinality
from tf_stylegan2.sources import load_network
from tf_stylegan2.seeds import seeded_noise, z_from_seed, z_from_seeds

__all__ = ["Discriminator", "Generator", "MappingNetwork", "NetworkPickleError", "Networks", "SynthesisNetwork",
           "load_encoder", "load_network", "mix_styles", "ops", "save_pickle", "save_rosinality", "seeded_noise",
           "to_uint8", "z_from_seed", "z_from_seeds"]
