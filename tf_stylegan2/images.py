"""Image conversion between the networks' float range and uint8."""

import numpy as np
import tensorflow as tf


def to_uint8(img):
    """float `[..., H, W, C]` in about [-1, 1] -> uint8, the official saturate-cast:
    `clip(x * 127.5 + 128, 0, 255)` truncated towards zero. Returns a tf uint8 tensor."""
    x = tf.convert_to_tensor(img, tf.float32) * 127.5 + 128.0
    return tf.cast(tf.clip_by_value(x, 0.0, 255.0), tf.uint8)


def to_uint8_rounded(img):
    """float in [-1, 1] -> uint8 numpy via `rint(x*127.5 + 127.5)` clipped (the projector's
    `save_image_grid` convention, round-half-even)."""
    return np.clip(np.rint(np.asarray(img, np.float32) * 127.5 + 127.5), 0, 255).astype(np.uint8)
