"""Minibatch standard deviation (TF1 `minibatch_stddev_layer`, NHWC)."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class MinibatchStddev(keras.layers.Layer):
    """Append `num_features` channels holding the group-wise stddev of the features.

    `[N, H, W, C] -> [N, H, W, C + num_features]`. The group size is `min(group_size, N)`
    (the whole minibatch if `group_size` is None) and N must be divisible by it. As in TF,
    sample `g*M + m` belongs to group `m` (M = N / G), i.e. groups are strided across the batch.
    """

    def __init__(self, group_size=4, num_features=1, **kwargs):
        super().__init__(**kwargs)
        self.group_size = None if group_size is None else int(group_size)
        self.num_features = int(num_features)

    def call(self, x):
        n = tf.shape(x)[0]
        _, h, w, c = x.shape
        g = n if self.group_size is None else tf.minimum(self.group_size, n)
        f = self.num_features
        tf.debugging.assert_equal(n % g, 0, message="minibatch size must be divisible by the mbstd group size")
        y = tf.reshape(x, [g, -1, h, w, f, c // f])                     # [G, M, H, W, F, C/F]
        y = y - tf.reduce_mean(y, axis=0)
        y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + 1e-8)       # [M, H, W, F, C/F]
        y = tf.reduce_mean(y, axis=[1, 2, 4])                            # [M, F]
        y = tf.tile(y[:, tf.newaxis, tf.newaxis, :], [g, h, w, 1])       # [N, H, W, F]
        return tf.concat([x, tf.cast(y, x.dtype)], axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(group_size=self.group_size, num_features=self.num_features)
        return config
