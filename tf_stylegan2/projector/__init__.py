"""Projection of images into a generator's latent space with an LPIPS-style VGG16 distance."""

from tf_stylegan2.projector.lpips import PerceptualDistance, load_linear_weights, vgg16_backbone
from tf_stylegan2.projector.projector import (OFFICIAL, SPACES, Hyperparameters, Projector, StepResult, learning_rate,
                                              noise_strength, snapshot_steps, w_statistics)

__all__ = ["OFFICIAL", "SPACES", "Hyperparameters", "PerceptualDistance", "Projector", "StepResult", "learning_rate",
           "load_linear_weights", "noise_strength", "snapshot_steps", "vgg16_backbone", "w_statistics"]
