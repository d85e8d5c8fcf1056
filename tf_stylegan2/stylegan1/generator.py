"""StyleGAN (v1) generator = mapping + synthesis (NVIDIA's `G_style`), with v1's truncation defaults."""

import keras

from tf_stylegan2.networks.generator import Generator
from tf_stylegan2.stylegan1.mapping import NETWORK_DEFAULT, StyleGAN1Mapping, truncation_disabled
from tf_stylegan2.stylegan1.synthesis import StyleGAN1Synthesis


@keras.saving.register_keras_serializable(package="tf_stylegan2.stylegan1")
class StyleGAN1Generator(Generator):
    """`call(z [N, z_dim], c=None, truncation_psi=NETWORK_DEFAULT, truncation_cutoff=NETWORK_DEFAULT,
    noise_mode="const", noise=None) -> img [N, R, R, C]` float32 NHWC, about [-1, 1].

    The StyleGAN2 `Generator` interface (`z_dim, w_dim, c_dim, num_ws, mapping, synthesis,
    style_mix, export, execution`) over `StyleGAN1Mapping` + `StyleGAN1Synthesis`. Unlike
    StyleGAN2, called without truncation arguments it truncates as NVIDIA's `Gs.run` does:
    `default_truncation_psi` (0.7) on the layers below `default_truncation_cutoff` (8), the
    values stored in the pickle when its training run set others. v1's rule: psi None or 1, or
    cutoff None or <= 0, means no truncation. `export()`'s `serve` endpoint uses these defaults.
    """

    @property
    def default_truncation_psi(self):
        """The truncation psi of NVIDIA's `Gs.run` for this network (float, or None for none)."""
        return self.mapping.default_truncation_psi

    @property
    def default_truncation_cutoff(self):
        """The truncation cutoff of NVIDIA's `Gs.run` for this network (int, or None for none)."""
        return self.mapping.default_truncation_cutoff

    @classmethod
    def from_config(cls, config):
        return cls(StyleGAN1Mapping(**config["mapping"]), StyleGAN1Synthesis(**config["synthesis"]),
                   name=config.get("name"))

    def resolve_truncation(self, truncation_psi=NETWORK_DEFAULT, truncation_cutoff=NETWORK_DEFAULT):
        """-> `(psi, cutoff)` with the network's defaults filled in; `(1.0, None)` when truncation is off."""
        if isinstance(truncation_psi, str) and truncation_psi == NETWORK_DEFAULT:
            truncation_psi = self.default_truncation_psi
        if isinstance(truncation_cutoff, str) and truncation_cutoff == NETWORK_DEFAULT:
            truncation_cutoff = self.default_truncation_cutoff
        if truncation_disabled(truncation_psi, truncation_cutoff):
            return 1.0, None
        return truncation_psi, truncation_cutoff

    def __call__(self, z, c=None, truncation_psi=NETWORK_DEFAULT, truncation_cutoff=NETWORK_DEFAULT,
                 noise_mode="const", noise=None, precision="fp32"):
        psi, cutoff = self.resolve_truncation(truncation_psi, truncation_cutoff)
        return super().__call__(z, c, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode=noise_mode,
                                noise=noise, precision=precision)
