"""Build Keras networks from an official StyleGAN2 pickle (TF or StyleGAN2-ADA PyTorch): `load_pickle(path)`."""

import collections
import functools
import os

import numpy as np

from tf_stylegan2.layers.initialization import deferred_initialization
from tf_stylegan2.networks import Discriminator, Generator, MappingNetwork, SynthesisNetwork
from tf_stylegan2.networks.common import from_official
from tf_stylegan2.official import kwargs as official_kwargs
from tf_stylegan2.official import pytorch_snapshot, torch_pickle
from tf_stylegan2.official.unpickler import NetworkPickleError, load_object, validate_states
from tf_stylegan2.progress import Progress
from tf_stylegan2.stylegan1 import load as stylegan1_load

Networks = collections.namedtuple("Networks", ["G", "D", "G_ema"])
Networks.__doc__ = """The pickle's `(G, D, Gs)`: training generator, discriminator, EMA generator (use G_ema for images)."""

# G-level variables that the port does not need (StyleGAN1's progressive-growing level of detail).
_IGNORED_G_VARIABLES = {"lod"}
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default format since PyTorch 1.6


def _variables(state, prefix=""):
    return {prefix + name: value for name, value in state["variables"]}


def build_network(build, variables, what):
    """`build()` (a network constructor call) with its weights from `variables`
    (`{official name: array in the official layout}`), created directly from those arrays: no random
    initialisation, one copy per array. The entries of `variables` are consumed (popped).

    Raises:
      NetworkPickleError: names missing or unexpected, or shapes that differ.
    """
    with deferred_initialization() as values:
        try:
            net = build()
        except NetworkPickleError:
            raise
        except (ValueError, TypeError, OverflowError) as e:
            raise NetworkPickleError("%s: unsupported network configuration (%s)" % (what, _first_line(e))) from None
        targets = net.official_weights()
        unexpected = sorted(set(variables) - set(targets))
        missing = sorted(set(targets) - set(variables))
        if unexpected:
            raise NetworkPickleError("%s: unexpected variables %s" % (what, ", ".join(unexpected)))
        if missing:
            raise NetworkPickleError("%s: missing variables %s" % (what, ", ".join(missing)))
        for name, (var, layout) in targets.items():
            official = variables.pop(name)
            value = from_official(official, layout)
            if tuple(value.shape) != tuple(var.shape):
                raise NetworkPickleError("%s: variable %s has shape %s, expected %s"
                                         % (what, name, tuple(np.shape(official)), tuple(var.shape)))
            values.set(var, value)
            del official, value
    return net


def _first_line(e):
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _generator_variables(state, release):
    comps = state["components"]
    variables = {k: v for k, v in _variables(state).items() if k not in _IGNORED_G_VARIABLES}
    variables.update(_variables(comps["mapping"].state, "mapping/"))
    variables.update(_variables(comps["synthesis"].state, "synthesis/"))
    if release:
        _release_arrays(state)
    return variables


def generator_from_state(state, name, release=False):
    """A `Generator` with the weights of an official `G_main` network state (StyleGAN2 or ADA).

    Args:
      release: empty the state's variable lists (so each array is freed once its variable exists).
    """
    official_kwargs.check_func(state, "G", name)
    comps = state["components"]
    if set(comps) != {"mapping", "synthesis"}:
        raise NetworkPickleError("%s: expected components mapping and synthesis, got %s" % (name, sorted(comps)))
    official_kwargs.check_func(comps["mapping"].state, "mapping", name + "/mapping")
    flavour = official_kwargs.flavour(comps["synthesis"].state, official_kwargs.SYNTHESIS_FUNCS, name + "/synthesis")
    mapping_cfg, synthesis_cfg = official_kwargs.generator_configs(
        state["static_kwargs"], comps["mapping"].state["static_kwargs"], comps["synthesis"].state["static_kwargs"],
        flavour)
    return build_network(lambda: generator_from_configs(mapping_cfg, synthesis_cfg, name),
                         _generator_variables(state, release), name)


def generator_from_configs(mapping_cfg, synthesis_cfg, name):
    return Generator(MappingNetwork(name="mapping", **mapping_cfg), SynthesisNetwork(name="synthesis", **synthesis_cfg),
                     name=name)


def discriminator_from_state(state, name="D", release=False):
    """A `Discriminator` with the weights of an official `D_stylegan2` or ADA `D_main` network state."""
    flavour = official_kwargs.flavour(state, official_kwargs.D_FUNCS, name)
    if state["components"]:
        raise NetworkPickleError("%s: unexpected components %s" % (name, sorted(state["components"])))
    config = official_kwargs.discriminator_config(state["static_kwargs"], flavour)
    variables = _variables(state)
    if release:
        _release_arrays(state)
    return build_network(lambda: Discriminator(name=name, **config), variables, name)


def networks_from_snapshot(snapshot, networks=Networks._fields):
    """Keras `Networks` from a `pytorch_snapshot.Snapshot` (each network's tensors are released as it
    is built); the networks not named in `networks` are None (their tensors released unused)."""
    nets = []
    for key, kind in (("G", "G"), ("D", "D"), ("G_ema", "G")):
        module = getattr(snapshot, key)
        if key not in networks:
            module.state.clear()
            nets.append(None)
            continue
        config, variables = pytorch_snapshot.network_spec(module, kind, key)
        if kind == "G":
            build = functools.partial(generator_from_configs, *config, key)
        else:
            build = functools.partial(Discriminator, name=key, **config)
        module.state.clear()
        nets.append(build_network(build, variables, key))
    return Networks(*nets)


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


def load_pickle(path, progress=False, networks=Networks._fields):
    """Load an official network pickle -> `Networks(G, D, G_ema)`: a StyleGAN (v1, `tf_stylegan2.stylegan1`),
    StyleGAN2 or StyleGAN2-ADA TF `(G, D, Gs)` pickle, or a StyleGAN2-ADA PyTorch snapshot (`{"G", "D", "G_ema", ...}`).

    Args:
      progress: show the bytes read as a progress bar on stderr.
      networks: the networks to build, any of "G", "D", "G_ema"; the others are None (e.g.
        `networks=["G_ema"]` for generation: the file is read whole, only G_ema is built).
    Raises:
      NetworkPickleError (a ValueError): unreadable, unsafe, unsupported or inconsistent pickle.
      ValueError: `networks` names something else.
    """
    networks = tuple(networks)
    unknown = sorted(set(networks) - set(Networks._fields))
    if unknown:
        raise ValueError("networks must be among %s, got %s" % (", ".join(Networks._fields), ", ".join(unknown)))
    obj = read_pickle(path, progress)
    if isinstance(obj, dict):
        return networks_from_snapshot(pytorch_snapshot.read_snapshot(obj), networks)
    states = validate_states(obj)
    del obj
    if len(states) != 3:
        raise NetworkPickleError("expected the official (G, D, Gs) tuple, got %d networks" % len(states))
    G, D, Gs = (net.state for net in states)
    del states
    if stylegan1_load.is_stylegan1(G):
        builders = (functools.partial(stylegan1_load.generator_from_state, G, "G"),
                    functools.partial(stylegan1_load.discriminator_from_state, D, "D"),
                    functools.partial(stylegan1_load.generator_from_state, Gs, "G_ema"))
        builders = [functools.partial(b, build_network, _release_arrays) for b in builders]
    else:
        builders = (functools.partial(generator_from_state, G, "G", release=True),
                    functools.partial(discriminator_from_state, D, "D", release=True),
                    functools.partial(generator_from_state, Gs, "G_ema", release=True))
    for name, state in zip(Networks._fields, (G, D, Gs)):
        if name not in networks:
            _release_arrays(state)
    return Networks(*(build() if name in networks else None for name, build in zip(Networks._fields, builders)))


def read_pickle(path, progress=False):
    """The unpickled object of a TF pickle or PyTorch snapshot (restricted to both formats' globals)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise NetworkPickleError("%s is a directory, not a network pickle" % path)
    try:
        with open(path, "rb") as f:
            if f.read(4) == _ZIP_MAGIC:
                raise NetworkPickleError("%s is a zip archive (a PyTorch checkpoint?), not a network pickle" % path)
            f.seek(0)
            if not progress:
                return load_object(f, torch_pickle.ALLOWED)
            bar = Progress(total=os.fstat(f.fileno()).st_size, desc="read %s" % os.path.basename(path))
            obj = load_object(_ProgressReader(f, bar), torch_pickle.ALLOWED)
            bar.close()
            return obj
    except OSError as e:
        raise NetworkPickleError("cannot read %s: %s" % (path, e.strerror or e)) from None


def _release_arrays(state):
    state["variables"] = []
    for comp in state["components"].values():
        _release_arrays(comp.state)
