"""Mapping network z (+ label) -> w, with the running average `w_avg` and truncation."""

import keras
import tensorflow as tf

from tf_stylegan2.layers import DenseLayer
from tf_stylegan2.layers.initialization import add_weight
from tf_stylegan2.networks import common

LABEL_MODES = ("concat", "embed")


def normalize_2nd_moment(x, eps=1e-8):
    """`x * rsqrt(mean(x^2, axis=1) + eps)` for `[N, F]`."""
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=1, keepdims=True) + eps)


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class MappingNetwork(keras.Model):
    """`call(z [N, z_dim], c [N, c_dim] or None, truncation_psi, truncation_cutoff) -> w [N, num_ws, w_dim]`.

    Labels (c_dim > 0) enter as StyleGAN2's `LabelConcat` (`label_mode="concat"`: `z ++ c @ W`,
    normalised together) or StyleGAN2-ADA's embedding (`"embed"`: `norm(z) ++ norm(dense(c))`).
    Truncation: `w_i = w_avg + psi * (w_i - w_avg)` for layers `i < truncation_cutoff` (all if None).
    Official names: `Dense{i}/weight|bias`, `LabelConcat/weight`, `LabelEmbed/weight|bias`, and the
    G-level `dlatent_avg` for `w_avg`.
    """

    def __init__(self, z_dim=512, c_dim=0, w_dim=512, num_ws=18, num_layers=8, layer_features=512,
                 lr_multiplier=0.01, activation="lrelu", normalize_latents=True, label_mode="concat",
                 w_avg_beta=0.995, **kwargs):
        super().__init__(**kwargs)
        if label_mode not in LABEL_MODES:
            raise ValueError("label_mode must be one of %s, got %r" % (LABEL_MODES, label_mode))
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = int(z_dim), int(c_dim), int(w_dim), int(num_ws)
        self.num_layers, self.layer_features = int(num_layers), int(layer_features)
        self.lr_multiplier, self.activation = float(lr_multiplier), activation
        self.normalize_latents, self.label_mode, self.w_avg_beta = bool(normalize_latents), label_mode, float(w_avg_beta)

        self.label_layer = None
        in_features = self.z_dim
        if self.c_dim > 0 and label_mode == "concat":
            self.label_layer = DenseLayer(self.c_dim, self.z_dim, bias=False, use_wscale=False, name="LabelConcat")
            in_features = 2 * self.z_dim
        elif self.c_dim > 0:
            self.label_layer = DenseLayer(self.c_dim, self.w_dim, name="LabelEmbed")
            in_features = self.z_dim + self.w_dim
        self.dense_layers = []
        for i in range(self.num_layers):
            out = self.w_dim if i == self.num_layers - 1 else self.layer_features
            self.dense_layers.append(DenseLayer(in_features, out, activation=activation,
                                                lr_multiplier=self.lr_multiplier, name="Dense%d" % i))
            in_features = out
        self.build()

    def build(self, input_shape=None):
        for layer in ([self.label_layer] if self.label_layer else []) + self.dense_layers:
            layer.build()
        self.w_avg = add_weight(self, name="w_avg", shape=(self.w_dim,), initializer="zeros", trainable=False)
        self.built = True

    def call(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, update_w_avg=False):
        x = tf.cast(z, tf.float32)
        if self.c_dim > 0:
            if c is None:
                raise ValueError("this network is conditional: pass c [N, %d]" % self.c_dim)
            y = self.label_layer(tf.cast(c, tf.float32))
            if self.label_mode == "concat":
                x = tf.concat([x, y], axis=1)
                x = normalize_2nd_moment(x) if self.normalize_latents else x
            else:
                x = tf.concat([normalize_2nd_moment(x) if self.normalize_latents else x, normalize_2nd_moment(y)], axis=1)
        elif self.normalize_latents:
            x = normalize_2nd_moment(x)
        for layer in self.dense_layers:
            x = layer(x)
        if update_w_avg:
            self.w_avg.assign(tf.reduce_mean(x, axis=0) + (self.w_avg - tf.reduce_mean(x, axis=0)) * self.w_avg_beta)
        w = tf.tile(x[:, tf.newaxis, :], [1, self.num_ws, 1])
        return self.truncate(w, truncation_psi, truncation_cutoff)

    def truncate(self, w, truncation_psi=1.0, truncation_cutoff=None):
        """`[N, num_ws, w_dim]` -> same, pulled towards `w_avg` by psi (a float or scalar tensor)."""
        if isinstance(truncation_psi, (int, float)) and truncation_psi == 1:
            return w
        psi = tf.cast(truncation_psi, w.dtype)
        if truncation_cutoff is not None:
            psi = tf.where(tf.range(self.num_ws) < truncation_cutoff, psi, tf.ones([], w.dtype))[:, tf.newaxis]
        return self.w_avg + (w - self.w_avg) * psi

    def official_weights(self):
        """`{official name: (variable, layout)}` for the mapping component (w_avg excluded: it is G-level)."""
        out = {}
        for layer in ([self.label_layer] if self.label_layer else []) + self.dense_layers:
            out.update(common.scoped_weights(layer, layer.name))
        return out

    def get_config(self):
        return dict(z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim, num_ws=self.num_ws, num_layers=self.num_layers,
                    layer_features=self.layer_features, lr_multiplier=self.lr_multiplier, activation=self.activation,
                    normalize_latents=self.normalize_latents, label_mode=self.label_mode, w_avg_beta=self.w_avg_beta,
                    name=self.name)
