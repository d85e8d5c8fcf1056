"""The converted-network directory: `config.json` + one Keras `.weights.h5` per network.

Layout (written by `save`, read by `load` and `tf_stylegan2.load_network`):

    config.json          {"format": "tf_stylegan2.converted", "version": 1, "source": <str or null>,
                          "networks": {"G": {"class": "Generator", "config": {...}, "weights": "G.weights.h5"},
                                       "D": {...Discriminator...}, "G_ema": {...}}}
                         (classes StyleGAN1Generator / StyleGAN1Discriminator for StyleGAN v1 networks)
    G.weights.h5, D.weights.h5, G_ema.weights.h5   (Keras 3 `save_weights` format, NHWC layouts)

`networks` always holds `G_ema`; `G` and `D` only when the source has them (a rosinality file of
`g_ema` + `latent_avg`, the usual shared form, has neither): `load` gives None for an absent one.
The networks are rebuilt from their `get_config()`, so no pickle is needed afterwards.
"""

import json
import os

from tf_stylegan2.layers.initialization import deferred_initialization
from tf_stylegan2.networks import Discriminator, Generator
from tf_stylegan2.official.load import Networks
from tf_stylegan2.official.unpickler import NetworkPickleError
from tf_stylegan2.stylegan1 import StyleGAN1Discriminator, StyleGAN1Generator

CONFIG_FILE = "config.json"
FORMAT = "tf_stylegan2.converted"
VERSION = 1
_CLASSES = {"Generator": Generator, "Discriminator": Discriminator, "StyleGAN1Generator": StyleGAN1Generator,
            "StyleGAN1Discriminator": StyleGAN1Discriminator}


def is_converted_dir(path):
    return os.path.isfile(os.path.join(path, CONFIG_FILE))


def save(nets, directory, source=None):
    """Write `nets` (a `Networks` of Keras networks; G and D may be None) into the existing `directory`."""
    if nets.G_ema is None:
        raise ValueError("a converted directory needs G_ema")
    entries = {}
    for key, net in zip(Networks._fields, nets):
        if net is None:
            continue
        weights = "%s.weights.h5" % key
        net.save_weights(os.path.join(directory, weights))
        entries[key] = {"class": type(net).__name__, "config": net.get_config(), "weights": weights}
    config = {"format": FORMAT, "version": VERSION, "source": source, "networks": entries}
    with open(os.path.join(directory, CONFIG_FILE), "w") as f:
        json.dump(config, f, indent=1)


def load(directory):
    """Rebuild the networks of a converted directory -> `Networks(G, D, G_ema)` (None for an absent G or D).

    Raises:
      NetworkPickleError: missing or malformed config, unknown class, unreadable weights.
    """
    try:
        with open(os.path.join(directory, CONFIG_FILE)) as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise NetworkPickleError("cannot read %s: %s" % (os.path.join(directory, CONFIG_FILE), e)) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise NetworkPickleError("%s is not a tf_stylegan2 converted-network config" % directory)
    if config.get("version") != VERSION:
        raise NetworkPickleError("%s: unsupported converted-network version %r" % (directory, config.get("version")))
    entries = config.get("networks")
    if not isinstance(entries, dict) or "G_ema" not in entries or not set(entries) <= set(Networks._fields):
        raise NetworkPickleError("%s: config.json must describe G_ema and optionally G and D, got %s"
                                 % (directory, sorted(entries) if isinstance(entries, dict) else type(entries).__name__))
    nets = []
    for key in Networks._fields:
        if key not in entries:
            nets.append(None)
            continue
        entry = entries[key]
        if not isinstance(entry, dict):
            raise NetworkPickleError("%s: the entry of %s is not an object" % (directory, key))
        cls = _CLASSES.get(entry.get("class"))
        if cls is None:
            raise NetworkPickleError("%s: unknown network class %r for %s" % (directory, entry.get("class"), key))
        weights = os.path.join(directory, os.path.basename(str(entry.get("weights"))))
        try:
            with deferred_initialization(unset="zeros"):  # no random numbers for weights loaded next
                net = cls.from_config(entry["config"])
            net.load_weights(weights)
        except (KeyError, TypeError, ValueError, OSError) as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise NetworkPickleError("%s: cannot rebuild %s: %s" % (directory, key, reason)) from None
        nets.append(net)
    return Networks(*nets)
