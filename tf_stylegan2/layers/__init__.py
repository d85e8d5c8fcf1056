"""Keras 3 layers of StyleGAN2 (NHWC)."""

from tf_stylegan2.layers.equalized import Conv2dLayer, DenseLayer
from tf_stylegan2.layers.minibatch_stddev import MinibatchStddev
from tf_stylegan2.layers.modulated import ConstInput, SynthesisLayer, ToRGBLayer, modulated_conv2d

__all__ = ["Conv2dLayer", "ConstInput", "DenseLayer", "MinibatchStddev", "SynthesisLayer", "ToRGBLayer",
           "modulated_conv2d"]
