"""The original StyleGAN (NVlabs/stylegan, "v1") as Keras 3 networks (NHWC): NVIDIA's v1 pickles
load, generate, mix, project, serve and save back without TF1."""

from tf_stylegan2.stylegan1.discriminator import StyleGAN1Discriminator
from tf_stylegan2.stylegan1.generator import StyleGAN1Generator
from tf_stylegan2.stylegan1.mapping import NETWORK_DEFAULT, StyleGAN1Mapping
from tf_stylegan2.stylegan1.synthesis import StyleGAN1Synthesis

__all__ = ["NETWORK_DEFAULT", "StyleGAN1Discriminator", "StyleGAN1Generator", "StyleGAN1Mapping", "StyleGAN1Synthesis"]
