"""rosinality/stylegan2-pytorch state-dict names <-> the official TF variable names, both directions.

One table per network (`generator_table`, `discriminator_table`) lists every rosinality tensor
with its official name and the layout change between them; `to_official` / `from_official`
apply it either way, so a round trip is exact. Layout changes (rosinality -> official):

- "dense": `EqualLinear.weight [out, in]` -> `[in, out]` (the mapping's are stored divided by
  lr_mul = 0.01 in both: no rescaling).
- "mod_bias": a modulation's `EqualLinear` bias, stored with its +1 init -> `mod_bias` (without).
- "modconv": `ModulatedConv2d.weight [1, out, in, k, k]` -> HWIO `[k, k, in, out]`;
  "modconv_up": the same for the up-sampling convs (`convs.{2i}`), spatially flipped (rosinality
  runs `conv_transpose2d` on the unflipped kernel, the official code flips it).
- "conv": `EqualConv2d.weight [out, in, k, k]` -> HWIO.
- "scalar": `NoiseInjection.weight [1]` -> `noise_strength []`; "rgb_bias": `[1, 3, 1, 1]` -> `[3]`.
- "same": constant input `[1, C, 4, 4]`, noise buffers `[1, 1, r, r]` (both NCHW in both), biases.

The blur kernels (buffers) are not tables entries: `blur_kernels` lists them for checking.
"""

import numpy as np

MAKE_KERNEL = np.array([1.0, 3.0, 3.0, 1.0])  # the only blur kernel this port supports


def _flip_hw(w):
    return w[::-1, ::-1]


_TO_OFFICIAL = {
    "same": lambda x: x,
    "dense": lambda w: w.T,
    "mod_bias": lambda b: b - 1,
    "modconv": lambda w: w[0].transpose(2, 3, 1, 0),
    "modconv_up": lambda w: _flip_hw(w[0].transpose(2, 3, 1, 0)),
    "conv": lambda w: w.transpose(2, 3, 1, 0),
    "scalar": lambda x: x.reshape(()),
    "rgb_bias": lambda x: x.reshape(-1),
}
_FROM_OFFICIAL = {
    "same": lambda x: x,
    "dense": lambda w: w.T,
    "mod_bias": lambda b: b + 1,
    "modconv": lambda w: w.transpose(3, 2, 0, 1)[np.newaxis],
    "modconv_up": lambda w: _flip_hw(w).transpose(3, 2, 0, 1)[np.newaxis],
    "conv": lambda w: w.transpose(3, 2, 0, 1),
    "scalar": lambda x: x.reshape(1),
    "rgb_bias": lambda x: x.reshape(1, -1, 1, 1),
}


def _styled(prefix, scope, conv_kind):
    return [(prefix + ".conv.weight", scope + "/weight", conv_kind),
            (prefix + ".conv.modulation.weight", scope + "/mod_weight", "dense"),
            (prefix + ".conv.modulation.bias", scope + "/mod_bias", "mod_bias"),
            (prefix + ".noise.weight", scope + "/noise_strength", "scalar"),
            (prefix + ".activate.bias", scope + "/bias", "same")]


def _to_rgb(prefix, scope):
    return [(prefix + ".conv.weight", scope + "/weight", "modconv"),
            (prefix + ".conv.modulation.weight", scope + "/mod_weight", "dense"),
            (prefix + ".conv.modulation.bias", scope + "/mod_bias", "mod_bias"),
            (prefix + ".bias", scope + "/bias", "rgb_bias")]


def generator_table(log2_res, n_mlp):
    """`[(rosinality name, official name, kind)]` of a generator (official names with their
    `mapping/` / `synthesis/` component; `dlatent_avg` is not in a rosinality state dict)."""
    out = []
    for i in range(n_mlp):
        out += [("style.%d.weight" % (i + 1), "mapping/Dense%d/weight" % i, "dense"),
                ("style.%d.bias" % (i + 1), "mapping/Dense%d/bias" % i, "same")]
    out.append(("input.input", "synthesis/4x4/Const/const", "same"))
    out += _styled("conv1", "synthesis/4x4/Conv", "modconv") + _to_rgb("to_rgb1", "synthesis/4x4/ToRGB")
    for k, r in enumerate(range(3, log2_res + 1)):
        s = "synthesis/%dx%d/" % (2 ** r, 2 ** r)
        out += _styled("convs.%d" % (2 * k), s + "Conv0_up", "modconv_up")
        out += _styled("convs.%d" % (2 * k + 1), s + "Conv1", "modconv")
        out += _to_rgb("to_rgbs.%d" % k, s + "ToRGB")
    out += [("noises.noise_%d" % i, "synthesis/noise%d" % i, "same") for i in range(2 * log2_res - 3)]
    return out


def discriminator_table(log2_res):
    """`[(rosinality name, official name, kind)]` of a (resnet) discriminator."""
    res = 2 ** log2_res
    out = [("convs.0.0.weight", "%dx%d/FromRGB/weight" % (res, res), "conv"),
           ("convs.0.1.bias", "%dx%d/FromRGB/bias" % (res, res), "same")]
    for j, r in enumerate(range(log2_res, 2, -1)):
        s, p = "%dx%d/" % (2 ** r, 2 ** r), "convs.%d." % (j + 1)
        out += [(p + "conv1.0.weight", s + "Conv0/weight", "conv"), (p + "conv1.1.bias", s + "Conv0/bias", "same"),
                (p + "conv2.1.weight", s + "Conv1_down/weight", "conv"),
                (p + "conv2.2.bias", s + "Conv1_down/bias", "same"),
                (p + "skip.1.weight", s + "Skip/weight", "conv")]
    return out + [("final_conv.0.weight", "4x4/Conv/weight", "conv"), ("final_conv.1.bias", "4x4/Conv/bias", "same"),
                  ("final_linear.0.weight", "4x4/Dense0/weight", "dense"),
                  ("final_linear.0.bias", "4x4/Dense0/bias", "same"),
                  ("final_linear.1.weight", "Output/weight", "dense"), ("final_linear.1.bias", "Output/bias", "same")]


def generator_blur_kernels(log2_res):
    """`{buffer name: expected value}` of a generator's blur kernels (`make_kernel([1,3,3,1]) * 4`)."""
    k = _make_kernel() * 4
    out = {"convs.%d.conv.blur.kernel" % (2 * i): k for i in range(log2_res - 2)}
    out.update({"to_rgbs.%d.upsample.kernel" % i: k for i in range(log2_res - 2)})
    return out


def discriminator_blur_kernels(log2_res):
    """`{buffer name: expected value}` of a discriminator's blur kernels (`make_kernel([1,3,3,1])`)."""
    k = _make_kernel()
    out = {}
    for j in range(1, log2_res - 1):
        out["convs.%d.conv2.0.kernel" % j] = k
        out["convs.%d.skip.0.kernel" % j] = k
    return out


def _make_kernel():
    k = np.outer(MAKE_KERNEL, MAKE_KERNEL)
    return (k / k.sum()).astype(np.float32)


def to_official(value, kind):
    """A rosinality tensor -> the official layout (a view where possible)."""
    return _TO_OFFICIAL[kind](value)


def from_official(value, kind):
    """An official array -> the rosinality layout (the inverse of `to_official`)."""
    return _FROM_OFFICIAL[kind](value)
