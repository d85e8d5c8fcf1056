"""StyleGAN (v1) mapping network z (+ label) -> w, with the running average `w_avg` and v1's truncation."""

import keras
import tensorflow as tf

from tf_stylegan2.layers import DenseLayer
from tf_stylegan2.networks.mapping import MappingNetwork, normalize_2nd_moment
from tf_stylegan2.stylegan1.layers import DenseV1

NETWORK_DEFAULT = "network default"  # truncation argument: the value the network was pickled with


def truncation_disabled(truncation_psi, truncation_cutoff):
    """v1's rule (G_style): psi None or 1, or cutoff None or <= 0, switch truncation off (a tensor psi never does)."""
    if truncation_cutoff is None or truncation_cutoff <= 0 or truncation_psi is None:
        return True
    return isinstance(truncation_psi, (int, float)) and truncation_psi == 1


@keras.saving.register_keras_serializable(package="tf_stylegan2.stylegan1")
class StyleGAN1Mapping(keras.Model):
    """`call(z [N, z_dim], c [N, c_dim] or None, truncation_psi=1.0, truncation_cutoff=NETWORK_DEFAULT)
    -> w [N, num_ws, w_dim]` (NVIDIA's `G_mapping` + `G_style`'s truncation).

    Labels (c_dim > 0): `LabelConcat/weight [c_dim, z_dim]` (no weight scaling) embeds them,
    appended after z before the pixel norm. Then `num_layers` v1 dense layers (gain sqrt(2),
    lr multiplier on weights and biases, leaky ReLU without gain).

    Truncation `w_i = w_avg + psi * (w_i - w_avg)` on layers `i < truncation_cutoff`; as in v1, psi
    None or 1, or a cutoff None or <= 0, means no truncation. `NETWORK_DEFAULT` for the cutoff
    (the default here) is `default_truncation_cutoff`, NVIDIA's 8 unless the pickle set another;
    `default_truncation_psi` (0.7) is what `StyleGAN1Generator` and the apps use when given none.
    """

    def __init__(self, z_dim=512, c_dim=0, w_dim=512, num_ws=18, num_layers=8, layer_features=512,
                 lr_multiplier=0.01, normalize_latents=True, default_truncation_psi=0.7, default_truncation_cutoff=8,
                 **kwargs):
        super().__init__(**kwargs)
        if int(num_layers) < 1:
            raise ValueError("a StyleGAN mapping network needs at least 1 layer, got %r" % (num_layers,))
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = int(z_dim), int(c_dim), int(w_dim), int(num_ws)
        self.num_layers, self.layer_features = int(num_layers), int(layer_features)
        self.lr_multiplier, self.normalize_latents = float(lr_multiplier), bool(normalize_latents)
        self.default_truncation_psi = None if default_truncation_psi is None else float(default_truncation_psi)
        self.default_truncation_cutoff = None if default_truncation_cutoff is None else int(default_truncation_cutoff)
        self.label_layer = None
        in_features = self.z_dim
        if self.c_dim > 0:
            self.label_layer = DenseLayer(self.c_dim, self.z_dim, bias=False, use_wscale=False, name="LabelConcat")
            in_features = 2 * self.z_dim
        self.dense_layers = []
        for i in range(self.num_layers):
            out = self.w_dim if i == self.num_layers - 1 else self.layer_features
            self.dense_layers.append(DenseV1(in_features, out, activation="lrelu", lr_multiplier=self.lr_multiplier,
                                             name="Dense%d" % i))
            in_features = out
        self.build()

    build = MappingNetwork.build  # the label and dense layers, then w_avg

    def call(self, z, c=None, truncation_psi=1.0, truncation_cutoff=NETWORK_DEFAULT):
        x = tf.cast(z, tf.float32)
        if self.c_dim > 0:
            if c is None:
                raise ValueError("this network is conditional: pass c [N, %d]" % self.c_dim)
            x = tf.concat([x, self.label_layer(tf.cast(c, tf.float32))], axis=1)
        if self.normalize_latents:
            x = normalize_2nd_moment(x)
        for layer in self.dense_layers:
            x = layer(x)
        w = tf.tile(x[:, tf.newaxis, :], [1, self.num_ws, 1])
        return self.truncate(w, truncation_psi, truncation_cutoff)

    def truncate(self, w, truncation_psi=1.0, truncation_cutoff=NETWORK_DEFAULT):
        """`[N, num_ws, w_dim]` -> same, layers below the cutoff pulled towards `w_avg` by psi
        (a float or scalar tensor)."""
        if isinstance(truncation_cutoff, str) and truncation_cutoff == NETWORK_DEFAULT:
            truncation_cutoff = self.default_truncation_cutoff
        if truncation_disabled(truncation_psi, truncation_cutoff):
            return w
        return MappingNetwork.truncate(self, w, truncation_psi, truncation_cutoff)

    official_weights = MappingNetwork.official_weights  # the `G_mapping` component's (w_avg is G-level `dlatent_avg`)

    def get_config(self):
        return dict(z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim, num_ws=self.num_ws,
                    num_layers=self.num_layers, layer_features=self.layer_features, lr_multiplier=self.lr_multiplier,
                    normalize_latents=self.normalize_latents, default_truncation_psi=self.default_truncation_psi,
                    default_truncation_cutoff=self.default_truncation_cutoff, name=self.name)
