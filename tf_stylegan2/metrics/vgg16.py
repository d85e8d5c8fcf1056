"""VGG16 fc2 features for precision and recall (spec §13.4), from Keras's ImageNet VGG16.

NVIDIA's `vgg16.pkl` / `vgg16.pt` are not readable here; this is the same architecture and
layer (the 4096 fc2 activations) with Keras's ImageNet weights, so the numbers are close to, not
identical with, the papers'. Images are resized to 224x224 by area averaging (as PyTorch's
`interpolate(mode='area')`, which NVIDIA's `vgg16.pt` is believed to use) and given Keras's
Caffe-style preprocessing (BGR, ImageNet mean removed).
"""

import hashlib
import os

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2.projector.lpips import BGR_MEAN, vgg16_backbone

INPUT_SIZE = 224
FEATURE_LAYER = "fc2"


class Vgg16Detector:
    """`features(images) -> float32 numpy [N, 4096]` for uint8 NHWC `[N, H, W, C]` (C = 1 or 3).

    `key` identifies the weights for the statistics cache.
    """

    def __init__(self, model, key):
        self.key = key
        extractor = keras.Model(model.input, model.get_layer(FEATURE_LAYER).output)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def fc2(images):
            x = tf.image.resize(images, [INPUT_SIZE, INPUT_SIZE], method="area")
            return extractor(x[..., ::-1] - tf.constant(BGR_MEAN, tf.float32), training=False)

        self._fn = fc2

    def features(self, images):
        x = tf.convert_to_tensor(np.asarray(images), tf.float32)
        if x.shape[-1] == 1:
            x = tf.tile(x, [1, 1, 1, 3])
        return self._fn(x).numpy()


_LOADED = {}


def load_vgg16(weights="imagenet"):
    """The fc2 detector with `weights`: "imagenet" (Keras's download) or a Keras weights file of
    the whole classifier (`include_top=True`). Loaded detectors are kept for the life of the process.

    Raises:
      ValueError: one line saying how to provide the weights.
    """
    weights = weights or "imagenet"
    if weights == "imagenet":
        stamp, key = weights, "vgg16-fc2-imagenet"
    else:
        weights = os.path.abspath(weights)
        stamp = (weights, os.path.getsize(weights) if os.path.isfile(weights) else None,
                 os.path.getmtime(weights) if os.path.isfile(weights) else None)
        key = None
    if stamp not in _LOADED:
        model = vgg16_backbone(weights, include_top=True)
        if key is None:
            with open(weights, "rb") as f:
                key = "vgg16-fc2-" + hashlib.sha256(f.read()).hexdigest()[:16]
        _LOADED[stamp] = Vgg16Detector(model, key)
    return _LOADED[stamp]
