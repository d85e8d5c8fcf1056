"""StyleGAN2 networks as Keras 3 models (NHWC)."""

from tf_stylegan2.networks.discriminator import Discriminator
from tf_stylegan2.networks.generator import Generator, mix_styles
from tf_stylegan2.networks.mapping import MappingNetwork
from tf_stylegan2.networks.synthesis import SynthesisNetwork

__all__ = ["Discriminator", "Generator", "MappingNetwork", "SynthesisNetwork", "mix_styles"]
