"""Build Keras networks from the states of a StyleGAN (v1) pickle: `(G, D, Gs)` of `G_style` and `D_basic`.

Network states of versions 2 and 3 (NVlabs/stylegan) and 4 (NVlabs/stylegan2's
`training.networks_stylegan`, the `config-a` pickles) hold the same variables. The progressive
growing level of detail `lod` (G, G_synthesis, D) must be 0, as in every finished run.
"""

import numpy as np

from tf_stylegan2.networks.common import resolution_log2
from tf_stylegan2.official.unpickler import NetworkPickleError
from tf_stylegan2.stylegan1 import kwargs as v1_kwargs
from tf_stylegan2.stylegan1.discriminator import StyleGAN1Discriminator
from tf_stylegan2.stylegan1.generator import StyleGAN1Generator
from tf_stylegan2.stylegan1.mapping import StyleGAN1Mapping
from tf_stylegan2.stylegan1.synthesis import StyleGAN1Synthesis, v1_channels_rule

VERSIONS = (2, 3, 4)
MAX_MAPPING_LAYERS = 64  # NVIDIA's networks have 8 (config-a pickles fewer); bounds the work a forged count causes


def is_stylegan1(state):
    """Whether a generator state was built by v1's `G_style`."""
    return state.get("build_func_name") == v1_kwargs.G_FUNCS["G"]


def _check(state, func, what):
    if state["build_func_name"] != func:
        raise NetworkPickleError("%s: network function %r is not supported in a StyleGAN pickle (expected %r)"
                                 % (what, state["build_func_name"], func))
    if state.get("version") not in VERSIONS:
        raise NetworkPickleError("%s: Network version %r is not one of StyleGAN's %s"
                                 % (what, state.get("version"), ", ".join(map(str, VERSIONS))))


def _variables(state, prefix, what):
    """`{prefix + name: array}` without `lod`, which must be 0 (a finished progressive-growing run)."""
    out = {}
    for name, value in state["variables"]:
        if name == "lod":
            if np.shape(value) != ():
                raise NetworkPickleError("%s: lod has shape %s, expected a scalar" % (what, np.shape(value)))
            if float(value) != 0:
                raise NetworkPickleError("%s: lod=%g (a run still growing progressively) is not supported; "
                                         "only finished networks (lod 0)" % (what, float(value)))
        else:
            out[prefix + name] = value
    return out


def _configs(resolve, *args):
    """`resolve(*args)` with malformed values (strings for sizes, ...) reported as a NetworkPickleError."""
    try:
        return resolve(*args)
    except NetworkPickleError:
        raise
    except (ValueError, TypeError, OverflowError) as e:
        raise NetworkPickleError("unsupported StyleGAN network configuration (%s)" % e) from None


def _pin_shapes(variables, expected, what):
    """Refuse before anything is built when the variables that fix the network's sizes
    (`expected {name: shape}`) are missing or shaped otherwise: sizes come from the data, not
    from kwargs alone."""
    for name, shape in expected.items():
        if name not in variables:
            raise NetworkPickleError("%s: missing variable %s" % (what, name))
        if tuple(np.shape(variables[name])) != tuple(shape):
            raise NetworkPickleError("%s: variable %s has shape %s, expected %s"
                                     % (what, name, tuple(np.shape(variables[name])), tuple(shape)))


def _size_variables(mapping_cfg, synthesis_cfg):
    """The G variables whose shapes follow from every size in the configs, with those shapes."""
    m, s = mapping_cfg, synthesis_cfg
    log2 = resolution_log2(s["img_resolution"])
    nf = v1_channels_rule(s["fmap_base"], s["fmap_decay"], s["fmap_max"], range(1, log2))
    out = {"dlatent_avg": [m["w_dim"]], "synthesis/noise%d" % (2 * log2 - 3): [1, 1, 2 ** log2, 2 ** log2]}
    for r in range(2, log2 + 1):
        out["synthesis/ToRGB_lod%d/weight" % (log2 - r)] = [1, 1, nf(r - 1), s["img_channels"]]
    for r in range(3, log2 + 1):
        out["synthesis/%dx%d/Conv0_up/StyleMod/weight" % (2 ** r, 2 ** r)] = [s["w_dim"], 2 * nf(r - 1)]
    if not 0 < m["num_layers"] <= MAX_MAPPING_LAYERS:
        raise NetworkPickleError("G_mapping: mapping_layers=%r is not supported (1 to %d)"
                                 % (m["num_layers"], MAX_MAPPING_LAYERS))
    fan_in = m["z_dim"] * (2 if m["c_dim"] else 1)
    for i in range(m["num_layers"]):
        out["mapping/Dense%d/weight" % i] = [fan_in, m["w_dim"] if i == m["num_layers"] - 1 else m["layer_features"]]
        fan_in = out["mapping/Dense%d/weight" % i][1]
    if m["c_dim"]:
        out["mapping/LabelConcat/weight"] = [m["c_dim"], m["z_dim"]]
    return out


def _d_size_variables(config):
    """The D variables whose shapes follow from every size in its config, with those shapes."""
    log2 = resolution_log2(config["img_resolution"])
    nf = v1_channels_rule(config["fmap_base"], config["fmap_decay"], config["fmap_max"], range(0, log2))
    out = {"FromRGB_lod%d/weight" % (log2 - r): [1, 1, config["img_channels"], nf(r - 1)] for r in range(2, log2 + 1)}
    stddev = config["mbstd_num_features"] if config["mbstd_group_size"] > 1 else 0
    if stddev and (stddev < 1 or nf(1) % stddev):
        raise NetworkPickleError("D_basic: mbstd_num_features=%r does not divide the %d channels of its 4x4 layer"
                                 % (stddev, nf(1)))
    out["4x4/Conv/weight"] = [3, 3, nf(1) + stddev, nf(1)]
    out["4x4/Dense1/weight"] = [nf(0), max(config["c_dim"], 1)]
    return out


def generator_from_state(state, name, build_network, release=None):
    """A `StyleGAN1Generator` from a `G_style` state (`build_network` as `official.load.build_network`;
    `release(state)` empties the state's arrays once collected)."""
    _check(state, v1_kwargs.G_FUNCS["G"], name)
    comps = state["components"]
    if set(comps) != {"mapping", "synthesis"}:
        raise NetworkPickleError("%s: expected components mapping and synthesis, got %s" % (name, sorted(comps)))
    for key in ("mapping", "synthesis"):
        _check(comps[key].state, v1_kwargs.G_FUNCS[key], "%s/%s" % (name, key))
    mapping_cfg, synthesis_cfg = _configs(v1_kwargs.generator_configs, state["static_kwargs"],
                                          comps["mapping"].state["static_kwargs"],
                                          comps["synthesis"].state["static_kwargs"])
    variables = _variables(state, "", name)
    for key in ("mapping", "synthesis"):
        variables.update(_variables(comps[key].state, key + "/", "%s/%s" % (name, key)))
    if release is not None:
        release(state)
    _pin_shapes(variables, _configs(_size_variables, mapping_cfg, synthesis_cfg), name)
    return build_network(lambda: StyleGAN1Generator(StyleGAN1Mapping(name="mapping", **mapping_cfg),
                                                    StyleGAN1Synthesis(name="synthesis", **synthesis_cfg), name=name),
                         variables, name)


def discriminator_from_state(state, name, build_network, release=None):
    """A `StyleGAN1Discriminator` from a `D_basic` state."""
    _check(state, v1_kwargs.D_FUNC, name)
    if state["components"]:
        raise NetworkPickleError("%s: unexpected components %s" % (name, sorted(state["components"])))
    config = _configs(v1_kwargs.discriminator_config, state["static_kwargs"])
    variables = _variables(state, "", name)
    if release is not None:
        release(state)
    _pin_shapes(variables, _configs(_d_size_variables, config), name)
    return build_network(lambda: StyleGAN1Discriminator(name=name, **config), variables, name)
