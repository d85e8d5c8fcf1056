"""Bounds for reduced-precision results that hold on every CPU (docs/development.md, "Tolerances").

TensorFlow computes bfloat16 convolutions with oneDNN on CPUs with AVX-512 (fused, accumulating in
float32) and with Eigen elsewhere (AVX2-only CPUs, or `TF_ENABLE_ONEDNN_OPTS=0`), which rounds after
more of the steps: the same network differs from float32 by up to 1.5x more on the second kind. A bound
fitted on one kind fails on the other, so the tests compare against `rounding_reference()` instead:
the network with every layer of a reduced-precision block computed in float32 from its (reduced)
input, only its output rounded to the block's dtype. That rounding is a cast (round to nearest even),
the same on every CPU, and so is the reference up to float32 round-off.

Derivation: a rounding to a format with p significand bits is a relative error of at most 2^-p
(bfloat16 p = 8, float16 p = 11). The reference rounds once per layer. An implementation rounds at least
there, and at most at each step of a layer: `ROUNDINGS_PER_LAYER` (a modulated conv: input modulation,
weight cast, convolution output, demodulation, noise, bias, activation, gain; its accumulations are in
float32 on both kinds of CPU). Propagated through the same network, independent errors add in
quadrature (expected ratio to the reference sqrt(8) = 2.8) and fully correlated ones linearly (8),
so an implementation's mean deviation from float32 lies between 1x and 8x the reference's
(measured 3.1x-4.7x over both kinds of CPU; the same dtype one format off is 0.35x or 25x).
"""

import contextlib
import functools

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2.layers.equalized import Conv2dLayer
from tf_stylegan2.layers.modulated import SynthesisLayer, ToRGBLayer

ROUNDINGS_PER_LAYER = 8
# The layers that compute in their block's dtype (G's synthesis layers, D's convolutions).
BLOCK_LAYERS = (SynthesisLayer, ToRGBLayer, Conv2dLayer)


@contextlib.contextmanager
def rounding_reference():
    """Within it, every `BLOCK_LAYERS` layer called with a float16/bfloat16 input computes in float32
    and rounds its output to the input's dtype. Give the networks `conv_clamp=256` explicitly (in
    float32 a layer does not clamp by itself). Works in graphs too (trace inside the block)."""
    with pytest.MonkeyPatch.context() as patch:
        for cls in BLOCK_LAYERS:
            @functools.wraps(cls.call)
            def call(self, x, *args, _call=cls.call, **kwargs):
                if x.dtype == tf.float32:
                    return _call(self, x, *args, **kwargs)
                return tf.cast(_call(self, tf.cast(x, tf.float32), *args, **kwargs), x.dtype)
            patch.setattr(cls, "call", call)
        yield


@contextlib.contextmanager
def recorded_output_dtypes():
    """Yields `{layer name: output dtype}`, filled by every `BLOCK_LAYERS` call made in Python
    within the block (eager calls, or a graph traced inside it: use a network not traced before)."""
    dtypes = {}
    with pytest.MonkeyPatch.context() as patch:
        for cls in BLOCK_LAYERS:
            @functools.wraps(cls.call)
            def call(self, *args, _call=cls.call, **kwargs):
                out = _call(self, *args, **kwargs)
                dtypes[self.name] = tf.as_dtype(out.dtype)
                return out
            patch.setattr(cls, "call", call)
        yield dtypes


def deviation_ratios(got, want, reference):
    """(mean, max) of |got - want| over those of |reference - want|: how many times the reference's
    deviation from the float32 result `want` the reduced-precision result `got` deviates."""
    diff, ref_diff = np.abs(np.asarray(got) - want), np.abs(np.asarray(reference) - want)
    return diff.mean() / ref_diff.mean(), diff.max() / ref_diff.max()


def assert_rounds_like_reference(got, want, reference):
    """The mean deviation between 1x and `ROUNDINGS_PER_LAYER` x the reference's, the largest one
    at most `ROUNDINGS_PER_LAYER` x the reference's largest."""
    mean_ratio, max_ratio = deviation_ratios(got, want, reference)
    assert 1 < mean_ratio < ROUNDINGS_PER_LAYER and max_ratio < ROUNDINGS_PER_LAYER, (mean_ratio, max_ratio)
