"""StyleGAN2's low-level ops, NHWC, each with a reference TF path (`impl="ref"`)."""

from tf_stylegan2.ops import dispatch
from tf_stylegan2.ops.fused_bias_act import ACTIVATIONS, fused_bias_act, resolve as resolve_activation
from tf_stylegan2.ops.upfirdn2d import (conv_downsample2d, downsample2d, filter2d, setup_filter,
                                        upfirdn2d, upsample2d, upsample_conv2d)

__all__ = ["ACTIVATIONS", "dispatch", "resolve_activation", "conv_downsample2d", "downsample2d", "filter2d",
           "fused_bias_act", "setup_filter", "upfirdn2d", "upsample2d", "upsample_conv2d"]
