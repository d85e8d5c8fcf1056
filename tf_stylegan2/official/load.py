"""Build Keras networks from an official StyleGAN2 pickle: `load_pickle(path)`."""

import collections
import os

import numpy as np

from tf_stylegan2.progress import Progress
from tf_stylegan2.networks import Discriminator, Generator, MappingNetwork, SynthesisNetwork
from tf_stylegan2.networks.common import from_official
from tf_stylegan2.official import kwargs as official_kwargs
from tf_stylegan2.official.unpickler import NetworkPickleError, load_states

Networks = collections.namedtuple("Networks", ["G", "D", "G_ema"])
Networks.__doc__ = """The pickle's `(G, D, Gs)`: training generator, discriminator, EMA generator (use G_ema for images)."""

# G-level variables that the port does not need (StyleGAN1's progressive-growing level of detail).
_IGNORED_G_VARIABLES = {"lod"}
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default format since PyTorch 1.6


def _variables(state, prefix=""):
    return {prefix + name: value for name, value in state["variables"]}


def assign_official(network, variables, what):
    """Copy official arrays into `network.official_weights()`, converting the layout.

    Raises:
      NetworkPickleError: names missing or unexpected, or shapes that differ.
    """
    targets = network.official_weights()
    unexpected = sorted(set(variables) - set(targets))
    missing = sorted(set(targets) - set(variables))
    if unexpected:
        raise NetworkPickleError("%s: unexpected variables %s" % (what, ", ".join(unexpected)))
    if missing:
        raise NetworkPickleError("%s: missing variables %s" % (what, ", ".join(missing)))
    for name, (var, layout) in targets.items():
        value = from_official(np.asarray(variables[name], dtype=np.float32), layout)
        if tuple(value.shape) != tuple(var.shape):
            raise NetworkPickleError("%s: variable %s has shape %s, expected %s"
                                     % (what, name, tuple(np.shape(variables[name])), tuple(var.shape)))
        var.assign(value)


def generator_from_state(state, name):
    """A `Generator` with the weights of an official `G_main` network state (StyleGAN2 or ADA)."""
    official_kwargs.check_func(state, "G", name)
    comps = state["components"]
    if set(comps) != {"mapping", "synthesis"}:
        raise NetworkPickleError("%s: expected components mapping and synthesis, got %s" % (name, sorted(comps)))
    official_kwargs.check_func(comps["mapping"].state, "mapping", name + "/mapping")
    flavour = official_kwargs.flavour(comps["synthesis"].state, official_kwargs.SYNTHESIS_FUNCS, name + "/synthesis")
    mapping_cfg, synthesis_cfg = official_kwargs.generator_configs(
        state["static_kwargs"], comps["mapping"].state["static_kwargs"], comps["synthesis"].state["static_kwargs"],
        flavour)
    G = Generator(MappingNetwork(name="mapping", **mapping_cfg), SynthesisNetwork(name="synthesis", **synthesis_cfg),
                  name=name)
    variables = {k: v for k, v in _variables(state).items() if k not in _IGNORED_G_VARIABLES}
    variables.update(_variables(comps["mapping"].state, "mapping/"))
    variables.update(_variables(comps["synthesis"].state, "synthesis/"))
    assign_official(G, variables, name)
    return G


def discriminator_from_state(state, name="D"):
    """A `Discriminator` with the weights of an official `D_stylegan2` or ADA `D_main` network state."""
    flavour = official_kwargs.flavour(state, official_kwargs.D_FUNCS, name)
    if state["components"]:
        raise NetworkPickleError("%s: unexpected components %s" % (name, sorted(state["components"])))
    D = Discriminator(name=name, **official_kwargs.discriminator_config(state["static_kwargs"], flavour))
    assign_official(D, _variables(state), name)
    return D


class _ProgressReader:
    """Binary file wrapper that reports the bytes read to a `Progress` bar."""

    def __init__(self, f, bar):
        self._f, self._bar = f, bar

    def read(self, n=-1):
        data = self._f.read(n)
        self._bar.update(len(data))
        return data

    def readinto(self, buf):
        n = self._f.readinto(buf)
        self._bar.update(n or 0)
        return n

    def readline(self):
        data = self._f.readline()
        self._bar.update(len(data))
        return data


def load_pickle(path, progress=False):
    """Load an official network pickle `(G, D, Gs)` -> `Networks(G, D, G_ema)`.

    Args:
      progress: show the bytes read as a progress bar on stderr.
    Raises:
      NetworkPickleError (a ValueError): unreadable, unsafe, unsupported or inconsistent pickle.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise NetworkPickleError("%s is a directory, not a network pickle" % path)
    try:
        with open(path, "rb") as f:
            if f.read(4) == _ZIP_MAGIC:
                raise NetworkPickleError("%s is a zip archive (a PyTorch checkpoint?), not an official TF network "
                                         "pickle" % path)
            f.seek(0)
            if progress:
                bar = Progress(total=os.fstat(f.fileno()).st_size, desc="read %s" % os.path.basename(path))
                states = load_states(_ProgressReader(f, bar))
                bar.close()
            else:
                states = load_states(f)
    except OSError as e:
        raise NetworkPickleError("cannot read %s: %s" % (path, e.strerror or e)) from None
    if len(states) != 3:
        raise NetworkPickleError("expected the official (G, D, Gs) tuple, got %d networks" % len(states))
    G, D, Gs = (net.state for net in states)
    del states
    nets = []
    for state, build, name in ((G, generator_from_state, "G"), (D, discriminator_from_state, "D"),
                               (Gs, generator_from_state, "G_ema")):
        nets.append(build(state, name))
        _release_arrays(state)  # keeps peak memory near one copy of the pickle
    return Networks(*nets)


def _release_arrays(state):
    state["variables"] = []
    for comp in state["components"].values():
        _release_arrays(comp.state)
