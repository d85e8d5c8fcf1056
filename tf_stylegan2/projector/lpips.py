"""LPIPS-style perceptual distance on Keras's VGG16 (the projector's loss).

Features are the ReLU outputs of the last conv of each of VGG16's five stages (relu1_2,
relu2_2, relu3_3, relu4_3, relu5_3), unit-normalised over channels; the distance is the
squared difference, optionally weighted per channel (LPIPS's `lin` layers), summed over
channels, averaged over positions and summed over stages.
"""

import os

import keras
import numpy as np
import tensorflow as tf

FEATURE_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")

# Caffe-style VGG preprocessing (as `keras.applications.vgg16.preprocess_input`): BGR, ImageNet mean removed.
BGR_MEAN = (103.939, 116.779, 123.68)

WEIGHTS_HELP = ("pass --vgg16=PATH to a Keras VGG16 weights file, e.g. one written on a machine with network "
                "access by keras.applications.VGG16(include_top=False, weights='imagenet').save_weights("
                "'vgg16.weights.h5'), or Keras's own vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 "
                "(copy it to ~/.keras/models/ to make --vgg16=imagenet work offline)")
# The same for the whole classifier (fc1, fc2, predictions), as the precision/recall metric uses it.
WEIGHTS_HELP_WITH_TOP = WEIGHTS_HELP.replace("include_top=False", "include_top=True").replace("_notop.h5", ".h5")


def vgg16_backbone(weights="imagenet", include_top=False):
    """Keras's VGG16 convolutional part (`include_top=False`, any input size), or with
    `include_top=True` the whole ImageNet classifier (224x224x3 input, layers `fc1`, `fc2`, `predictions`).

    Args:
      weights: "imagenet" (Keras's download, cached in ~/.keras/models), a path to a Keras
        weights file (`.weights.h5` from `save_weights`, or a legacy `.h5`), or None (random init).
    Raises:
      ValueError: one line saying how to provide the weights when they cannot be loaded.
    """
    shape, help_text = ((224, 224, 3), WEIGHTS_HELP_WITH_TOP) if include_top else ((None, None, 3), WEIGHTS_HELP)
    if weights == "imagenet":
        try:
            return keras.applications.VGG16(include_top=include_top, weights="imagenet", input_shape=shape)
        except Exception as e:  # Keras raises a bare Exception("URL fetch failure ...") when offline.
            raise ValueError("cannot get the ImageNet VGG16 weights (%s); %s"
                             % (str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__, help_text))
    if weights is not None and not os.path.isfile(weights):
        raise ValueError("VGG16 weights file %r not found; %s" % (weights, help_text))
    model = keras.applications.VGG16(include_top=include_top, weights=None, input_shape=shape)
    if weights is not None:
        try:
            model.load_weights(weights)
        except Exception as e:  # h5py/Keras raise assorted types for foreign or corrupt files.
            raise ValueError("cannot load VGG16 weights from %r (%s); %s"
                             % (weights, str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__,
                                help_text))
    return model


def random_vgg16(seed=0, bias_stddev=1.0):
    """VGG16 with a fixed random init for offline tests and benchmarks: Keras's kernel init and,
    unlike Keras, N(0, bias_stddev) biases (zero biases make the ReLU network positively homogeneous,
    so the unit-normalised features could not see the image's contrast)."""
    keras.utils.set_random_seed(seed)
    model = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    rnd = np.random.RandomState(seed)
    for layer in model.layers:
        if layer.weights:
            bias = layer.weights[1]
            bias.assign(rnd.randn(*bias.shape).astype(np.float32) * bias_stddev)
    return model


def load_linear_weights(path):
    """Per-channel stage weights from an `.npz` with arrays `lin0`..`lin4` (any shape with
    64, 128, 256, 512, 512 elements, e.g. LPIPS's `[1, C, 1, 1]`). Returns 5 float32 `[C]` arrays."""
    expected = (64, 128, 256, 512, 512)
    with np.load(path) as f:
        missing = [k for k in ("lin%d" % i for i in range(5)) if k not in f.files]
        if missing:
            raise ValueError("%s: missing arrays %s (expected lin0..lin4)" % (path, ", ".join(missing)))
        out = [np.asarray(f["lin%d" % i], np.float32).reshape(-1) for i in range(5)]
    for i, (w, n) in enumerate(zip(out, expected)):
        if w.size != n:
            raise ValueError("%s: lin%d has %d values, expected %d" % (path, i, w.size, n))
    return out


class PerceptualDistance(keras.Model):
    """`call(a, b) -> [N]` LPIPS-style distance between images `a`, `b` `[N, H, W, 3]` RGB in [0, 255].

    `features(x)` and `distance_to_features(x, feats)` split the computation so that a fixed
    target's features are computed once. H, W >= 16 keeps every stage non-empty (VGG16 pools
    by 2 four times before relu5_3).
    """

    def __init__(self, vgg16, linear_weights=None, **kwargs):
        super().__init__(**kwargs)
        self.vgg16 = vgg16
        self.extractor = keras.Model(vgg16.input, [vgg16.get_layer(n).output for n in FEATURE_LAYERS])
        self.linear_weights = None if linear_weights is None else [tf.constant(w) for w in linear_weights]

    def features(self, x):
        """`[N, H, W, 3]` RGB [0, 255] -> list of 5 unit-normalised feature maps `[N, h_k, w_k, C_k]`."""
        x = tf.cast(x, tf.float32)[..., ::-1] - tf.constant(BGR_MEAN, tf.float32)
        # rsqrt(sum + eps) instead of LPIPS's 1/(sqrt(sum) + eps): equal for non-zero features and
        # finite-gradient at all-zero ReLU positions.
        return [f * tf.math.rsqrt(tf.reduce_sum(tf.square(f), axis=-1, keepdims=True) + 1e-10)
                for f in self.extractor(x)]

    def distance_to_features(self, x, target_features):
        """Distance `[N]` between images `x` (RGB [0, 255]) and precomputed `features(target)`."""
        total = 0.0
        for k, (f, t) in enumerate(zip(self.features(x), target_features)):
            diff = tf.square(f - t)
            if self.linear_weights is not None:
                diff = diff * self.linear_weights[k]
            total += tf.reduce_mean(tf.reduce_sum(diff, axis=-1), axis=[1, 2])
        return total

    def call(self, a, b):
        return self.distance_to_features(a, self.features(b))
