"""ADA's augmentation pipe (spec §12.1) and p heuristic (§12.2) against analytic definitions
and an independent NumPy transcription of NVIDIA's geometric pipeline (torch conventions:
reflect padding, upfirdn2d, affine_grid + grid_sample with align_corners=False)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2.training import augment

RNG = np.random.RandomState(2024)


def _images(n, size, channels=3):
    return RNG.uniform(-1, 1, [n, size, size, channels]).astype(np.float32)


def _smooth(n, size):
    """Band-limited test images (periods >= 6 px) from analytic functions of centred coords."""
    c = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size] - c
    return np.stack([_pattern(x, y, k) for k in range(n)])[..., None].repeat(3, -1).astype(np.float32)


def _pattern(x, y, k):
    return np.sin(0.35 * x + 0.2 * y + k) + 0.5 * np.cos(0.25 * x - 0.4 * y - k)


def _pipe(spec="bgc", p=1.0, **kwargs):
    return augment.AugmentPipe(p=p, **{**augment.AUGPIPE_SPECS[spec], **kwargs})


def _const(values):
    return tf.constant(np.asarray(values, np.float32))


# --- p = 0, presets -------------------------------------------------------------------------


def test_p0_returns_the_input_exactly():
    x = _images(3, 32)
    pipe = _pipe("bgcfnc", p=0.0)
    assert np.array_equal(pipe(x).numpy(), x)
    assert np.array_equal(tf.function(pipe)(x).numpy(), x)
    pipe.p.assign(0.5)
    assert not np.allclose(pipe(x).numpy(), x, atol=1e-2)


def test_presets():
    assert set(augment.AUGPIPE_SPECS) == {"blit", "geom", "color", "filter", "noise", "cutout",
                                          "bg", "bgc", "bgcf", "bgcfn", "bgcfnc"}
    assert _pipe("bgc").enabled == list(augment.GEOMETRIC + augment.COLOR)
    assert _pipe("bgcfnc").enabled == list(augment.TRANSFORMS)
    assert _pipe("blit").enabled == ["xflip", "rotate90", "xint"]
    assert augment.AugmentPipe().enabled == []
    pipe = _pipe("bgc", p=0.25)
    assert pipe.p.dtype == tf.float32 and not pipe.p.trainable and float(pipe.p) == 0.25
    assert pipe.get_config()["xint_max"] == 0.125 and pipe.get_config()["hue"] == 1
    with pytest.raises(ValueError, match="imgfilter_bands"):
        augment.AugmentPipe(imgfilter_bands=[1, 1])


# --- geometric ------------------------------------------------------------------------------


def test_identity_round_trip_is_exact():
    """Pad, sym6 up, sampling on the grid, sym6 down: the orthogonal wavelet reconstructs exactly."""
    x = _images(2, 16)
    y = augment.warp(tf.constant(x), tf.eye(3, batch_shape=[2])).numpy()
    np.testing.assert_allclose(y, x, atol=2e-6)


def test_integer_translation_is_exact_away_from_the_border():
    x = _images(2, 16)
    pipe = _pipe("blit")
    y = pipe.apply(x, {"xint": _const([[3 / 16, -2 / 16], [-1 / 16, 0.0]])}).numpy()
    np.testing.assert_allclose(y[0, :-2, 3:], x[0, 2:, :-3], atol=2e-6)     # right 3, up 2
    np.testing.assert_allclose(y[1, :, :-1], x[1, :, 1:], atol=2e-6)        # left 1
    assert np.abs(y[0, -2:] - x[0, -2:]).max() > 0.1                       # reflect border differs


def test_xint_rounds_to_whole_pixels():
    g = augment.geometric_matrix({"xint": _const([[0.1, -0.07]])}, 16, 16).numpy()
    np.testing.assert_array_equal(g[0], [[1, 0, -2], [0, 1, 1], [0, 0, 1]])   # round(1.6), round(-1.12)


def test_flips_and_rotations_on_the_sampling_grid_are_exact():
    """The sampler itself moves whole pixels for flips and quarter turns."""
    x = _images(4, 16)
    i = _const([1, 0, 1, 0])
    r = _const([0, 1, 2, 3])
    g = augment.geometric_matrix({"xflip": i, "rotate90": r}, 16, 16)
    y = augment.sample_bilinear(tf.constant(x), g, 16, 16).numpy()
    np.testing.assert_array_equal(y[0], x[0, :, ::-1])
    np.testing.assert_allclose(y[1], np.rot90(x[1], 1), atol=1e-5)    # output (r, c) <- input (c, 15-r)
    np.testing.assert_allclose(y[2], np.rot90(x[2, :, ::-1], 2), atol=1e-5)
    np.testing.assert_allclose(y[3], np.rot90(x[3], 3), atol=1e-5)


def _ada_source(g, size):
    """Where ADA's geometric path reads the input for each output pixel (centred coordinates):
    `G (o + e) - e`, e = (centroid of sym6 - 5) / 2 ~ 0.049 px on both axes. The sym6 pair
    (not symmetric) cancels its delay only where an axis keeps its direction, so e.g. a flip
    mirrors about a point 0.098 px off centre."""
    taps = np.asarray(augment.SYM6) / np.sum(augment.SYM6)
    e = (np.sum(np.arange(12) * taps) - 5) / 2
    oy, ox = np.mgrid[0:size, 0:size] - (size - 1) / 2
    ix = g[0, 0] * (ox + e) + g[0, 1] * (oy + e) + g[0, 2] - e
    iy = g[1, 0] * (ox + e) + g[1, 1] * (oy + e) + g[1, 2] - e
    return ix, iy, ox, oy


def test_flips_and_rotations_of_smooth_images():
    """Through the wavelet round trip a flip is not bit-exact (see `_ada_source`)."""
    size = 32
    x = _smooth(4, size)
    params = {"xflip": _const([1, 0, 1, 0]), "rotate90": _const([0, 1, 2, 3])}
    y = _pipe("blit").apply(x, params).numpy()
    g = augment.geometric_matrix(params, size, size).numpy()
    for k in range(4):
        ix, iy, _, _ = _ada_source(g[k], size)
        np.testing.assert_allclose(y[k, 6:-6, 6:-6, 0], _pattern(ix, iy, k)[6:-6, 6:-6], atol=0.006)
    mirror = np.stack([x[0, :, ::-1], np.rot90(x[1], 1), np.rot90(x[2, :, ::-1], 2), np.rot90(x[3], 3)])
    assert np.abs(y - mirror).max() > 0.03          # the exact mirror is off by that shift


@pytest.mark.parametrize("key,value", [("scale", 1.3), ("scale", 0.8), ("rotate_pre", 0.6),
                                       ("rotate_post", -2.2), ("aniso", 1.25), ("xfrac", [0.05, -0.1])])
def test_scale_rotation_aniso_translation_of_a_smooth_pattern(key, value):
    size = 32
    x = _smooth(1, size)
    params = {key: _const([value])}
    y = _pipe("geom").apply(x, params).numpy()[0, :, :, 0]
    ix, iy, ox, oy = _ada_source(augment.geometric_matrix(params, size, size).numpy()[0], size)
    c = (size - 1) / 2 - 4
    inside = (np.abs(ix) < c) & (np.abs(iy) < c) & (np.abs(ox) < c) & (np.abs(oy) < c)
    assert inside.sum() > 300
    np.testing.assert_allclose(y[inside], _pattern(ix, iy, 0)[inside], atol=0.012)


def test_geometric_matches_numpy_transcription_of_ada():
    size, n = 16, 3
    x = _images(n, size)
    params = {"xflip": _const([1, 0, 1]), "rotate90": _const([0, 3, 1]),
              "xint": _const([[0.1, 0.0], [0.0, -0.1], [0.05, 0.05]]), "scale": _const([1.2, 0.7, 1.0]),
              "rotate_pre": _const([0.3, 0.0, -1.0]), "aniso": _const([0.9, 1.1, 1.3]),
              "rotate_post": _const([0.0, 2.0, 0.4]), "xfrac": _const([[0.03, -0.02], [0.0, 0.1], [-0.05, 0.0]])}
    g = augment.geometric_matrix(params, size, size)
    pipe = _pipe("bg")
    y = pipe.apply(x, params).numpy()
    np.testing.assert_allclose(y, _ada_geometric_numpy(x, g.numpy().astype(np.float64)), atol=2e-5)
    xla = tf.function(lambda v: pipe.apply(v, params), jit_compile=True)(x).numpy()
    np.testing.assert_allclose(xla, y, atol=5e-5)            # static-shape path (XLA)


def _ada_geometric_numpy(x, g_inv):
    """NVIDIA's geometric execution step by step in NumPy, NCHW-free but torch conventions."""
    n, h, w, _ = x.shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    corners = np.array([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]]).T
    cp = g_inv @ corners
    margin = cp[:, :2, :].transpose(1, 0, 2).reshape(2, -1)
    margin = np.concatenate([-margin, margin]).max(axis=1) + [6 - cx, 6 - cy] * 2
    mx0, my0, mx1, my1 = np.ceil(np.minimum(np.maximum(margin, 0), [w - 1, h - 1] * 2)).astype(int)
    x = np.pad(x, [[0, 0], [my0, my1], [mx0, mx1], [0, 0]], mode="reflect")
    g_inv = _t(( mx0 - mx1) / 2, (my0 - my1) / 2) @ g_inv
    f = np.asarray(augment.SYM6) / np.sum(augment.SYM6)
    x = _upfirdn_numpy(x, np.outer(f, f) * 4, up=2, pad=(6, 5))
    g_inv = _s(2, 2) @ g_inv @ _s(0.5, 0.5)
    g_inv = _t(-0.5, -0.5) @ g_inv @ _t(0.5, 0.5)
    out_h, out_w = 2 * (h + 6), 2 * (w + 6)
    in_h, in_w = x.shape[1:3]
    g_inv = _s(2 / in_w, 2 / in_h) @ g_inv @ _s(out_w / 2, out_h / 2)
    x = _grid_sample_numpy(x, g_inv, out_h, out_w)
    ff = np.outer(f, f)[::-1, ::-1]                       # flip_filter=True: correlate
    return _upfirdn_numpy(x, ff, down=2, pad=(-1, -1))


def _t(tx, ty):
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], np.float64)


def _s(sx, sy):
    return np.array([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], np.float64)


def _upfirdn_numpy(x, f, up=1, down=1, pad=(0, 0)):
    n, h, w, c = x.shape
    u = np.zeros([n, h * up, w * up, c])
    u[:, ::up, ::up] = x
    p0, p1 = pad
    u = np.pad(u, [[0, 0], [max(p0, 0), max(p1, 0)], [max(p0, 0), max(p1, 0)], [0, 0]])
    u = u[:, max(-p0, 0):u.shape[1] - max(-p1, 0), max(-p0, 0):u.shape[2] - max(-p1, 0)]
    k = f[::-1, ::-1]                                     # true convolution
    oh, ow = u.shape[1] - k.shape[0] + 1, u.shape[2] - k.shape[1] + 1
    out = sum(k[i, j] * u[:, i:i + oh, j:j + ow] for i in range(k.shape[0]) for j in range(k.shape[1]))
    return out[:, ::down, ::down]


def _grid_sample_numpy(x, theta, out_h, out_w):
    """affine_grid(theta[:, :2], align_corners=False) + bilinear grid_sample, zeros padding."""
    n, in_h, in_w, c = x.shape
    ys = (2 * np.arange(out_h) + 1) / out_h - 1
    xs = (2 * np.arange(out_w) + 1) / out_w - 1
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    out = np.zeros([n, out_h, out_w, c])
    for b in range(n):
        sx = theta[b, 0, 0] * gx + theta[b, 0, 1] * gy + theta[b, 0, 2]
        sy = theta[b, 1, 0] * gx + theta[b, 1, 1] * gy + theta[b, 1, 2]
        px = ((sx + 1) * in_w - 1) / 2
        py = ((sy + 1) * in_h - 1) / 2
        x0, y0 = np.floor(px).astype(int), np.floor(py).astype(int)
        for dx in (0, 1):
            for dy in (0, 1):
                xi, yi = x0 + dx, y0 + dy
                wgt = (1 - np.abs(px - xi)) * (1 - np.abs(py - yi))
                ok = (xi >= 0) & (xi < in_w) & (yi >= 0) & (yi < in_h)
                out[b] += np.where(ok, wgt, 0)[..., None] * x[b, np.clip(yi, 0, in_h - 1), np.clip(xi, 0, in_w - 1)]
    return out


# --- colour, filter, corruptions ------------------------------------------------------------


def test_color_transforms_against_their_formulas():
    x = _images(2, 8)
    b, c, flip, theta, s = [0.2, -0.1], [1.5, 0.7], [1, 0], [0.9, -2.0], [0.4, 1.8]
    params = {"brightness": _const(b), "contrast": _const(c), "lumaflip": _const(flip),
              "hue": _const(theta), "saturation": _const(s)}
    y = _pipe("color").apply(x, params).numpy()
    k = np.ones(3) / np.sqrt(3)
    for i in range(2):
        e = (x[i] + b[i]) * c[i]
        if flip[i]:
            e = e - 2 * (e @ k)[..., None] * k                 # Householder reflection in the luma axis
        e = (e * np.cos(theta[i]) + np.cross(k, e) * np.sin(theta[i])
             + (e @ k)[..., None] * k * (1 - np.cos(theta[i])))   # Rodrigues about the luma axis
        mean = e.mean(-1, keepdims=True)
        e = mean + (e - mean) * s[i]
        np.testing.assert_allclose(y[i], e, atol=1e-5)


def test_color_on_one_channel_and_bad_channel_counts():
    x = _images(2, 8, channels=1)
    pipe = _pipe("color")
    params = pipe.sample_params(tf.constant(x))
    assert "hue" not in params and "saturation" not in params
    params = {"brightness": _const([0.3, 0.0]), "contrast": _const([2.0, 1.0]), "lumaflip": _const([0, 1])}
    y = pipe.apply(x, params).numpy()
    np.testing.assert_allclose(y[0], (x[0] + 0.3) * 2, atol=1e-6)
    np.testing.assert_allclose(y[1], -x[1], atol=1e-6)             # rows 0-2 of I - 2vv^T sum to -1
    with pytest.raises(ValueError, match="RGB"):
        pipe.apply(_images(1, 8, channels=2), {"brightness": _const([0.1])})


def test_filter_bank():
    bank = augment.imgfilter_bank()
    assert bank.shape == (4, 43)
    np.testing.assert_allclose(bank.sum(axis=1), [1, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(bank, bank[:, ::-1], atol=1e-12)
    np.testing.assert_allclose(bank.sum(axis=0), np.eye(43)[21], atol=1e-12)
    lo, hi = augment.SYM2, np.asarray(augment.SYM2) * [1, -1, 1, -1]
    np.testing.assert_allclose(np.convolve(lo, lo[::-1]) / 2, np.array([-1, 0, 9, 16, 9, 0, -1]) / 32, atol=1e-12)
    np.testing.assert_allclose(np.convolve(hi, hi[::-1]) / 2, np.array([1, 0, -9, 16, -9, 0, 1]) / 32, atol=1e-12)


def test_imgfilter_against_reflect_padded_convolution():
    x = _images(2, 24)
    gains = np.array([[1, 1, 1, 1], [0.5, 1.7, 0.3, 2.0]], np.float32)
    y = augment.band_filter(tf.constant(x), tf.constant(gains)).numpy()
    np.testing.assert_allclose(y[0], x[0], atol=1e-5)
    taps = gains[1] @ augment.imgfilter_bank()
    e = np.pad(x[1], [[21, 21], [21, 21], [0, 0]], mode="reflect")
    e = np.stack([np.apply_along_axis(np.convolve, 1, e[..., ch], taps, "valid") for ch in range(3)], -1)
    e = np.stack([np.apply_along_axis(np.convolve, 0, e[..., ch], taps, "valid") for ch in range(3)], -1)
    np.testing.assert_allclose(y[1], e, atol=1e-5)
    with pytest.raises(ValueError, match="imgfilter"):
        augment.band_filter(tf.constant(_images(1, 16)), tf.constant(gains[:1]))


def test_noise_and_cutout():
    x = _images(2, 16)
    noise = RNG.randn(2, 16, 16, 3).astype(np.float32)
    y = augment.AugmentPipe(noise=1).apply(x, {"noise": tf.constant(noise), "noise_sigma": _const([0.2, 0.0])})
    np.testing.assert_allclose(y.numpy(), x + noise * np.array([0.2, 0])[:, None, None, None], atol=1e-6)
    mask = augment.cutout_mask(_const([0.5, 0.0]), _const([[0.5, 0.25], [0.5, 0.5]]), 16, 16).numpy()
    expected = np.ones([16, 16])
    expected[0:8, 4:12] = 0                       # |(x+.5)/16 - .5| < .25 and |(y+.5)/16 - .25| < .25
    np.testing.assert_array_equal(mask[0, ..., 0], expected)
    np.testing.assert_array_equal(mask[1], 1)


# --- parameter distributions ----------------------------------------------------------------


@pytest.fixture(scope="module")
def draws():
    tf.random.set_seed(7)
    pipe = _pipe("bgcfnc", p=1.0)
    full = {k: v.numpy() for k, v in pipe.sample_params(tf.zeros([20000, 2, 2, 3])).items()}
    pipe.p.assign(0.3)
    gated = {k: v.numpy() for k, v in pipe.sample_params(tf.zeros([20000, 2, 2, 3])).items()}
    return full, gated


def test_parameter_distributions(draws):
    d, _ = draws
    tol = 0.03
    assert set(np.unique(d["xflip"])) == {0, 1} and abs(d["xflip"].mean() - 0.5) < tol
    assert np.allclose(np.bincount(d["rotate90"].astype(int)) / 20000, 0.25, atol=tol)
    assert np.abs(d["xint"]).max() <= 0.125 and abs(d["xint"].std() - 0.125 / np.sqrt(3)) < 0.002
    for key, std in (("scale", 0.2), ("aniso", 0.2), ("contrast", 0.5), ("saturation", 1.0)):
        assert abs(np.log2(d[key]).mean()) < 3 * std / np.sqrt(20000) + 1e-3, key
        assert abs(np.log2(d[key]).std() / std - 1) < tol, key
    for key, limit in (("rotate_pre", np.pi), ("rotate_post", np.pi), ("hue", np.pi)):
        assert np.abs(d[key]).max() <= limit and abs(d[key].std() - limit / np.sqrt(3)) < 0.05, key
    assert abs(d["xfrac"].std(axis=0) / 0.125 - 1).max() < tol
    assert abs(d["brightness"].std() / 0.2 - 1) < tol and abs(d["brightness"].mean()) < 0.01
    assert set(np.unique(d["lumaflip"])) == {0, 1} and abs(d["lumaflip"].mean() - 0.5) < tol
    assert abs(d["noise_sigma"].mean() - 0.1 * np.sqrt(2 / np.pi)) < 0.002
    assert abs(d["noise"].std() - 1) < tol
    np.testing.assert_array_equal(d["cutout_size"], 0.5)
    assert abs(d["cutout_center"].mean() - 0.5) < tol and abs(d["cutout_center"].var() - 1 / 12) < 0.005


def test_imgfilter_gains_are_power_normalised():
    tf.random.set_seed(3)
    pipe = augment.AugmentPipe(p=1.0, imgfilter=1, imgfilter_bands=[0, 0, 0, 1])
    g = pipe.sample_params(tf.zeros([20000, 1, 1, 3]))["imgfilter"].numpy()
    power = np.array([10, 1, 1, 1]) / 13
    np.testing.assert_allclose((power * g ** 2).sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(g[:, 0], g[:, 2], rtol=1e-6)
    t = np.log2(g[:, 3] / g[:, 0])
    assert abs(t.mean()) < 0.03 and abs(t.std() - 1) < 0.03


def test_gates_fire_with_probability_multiplier_times_p(draws):
    _, d = draws
    rates = {"xflip": (d["xflip"] != 0).mean() * 2,          # i = 1 half the time it fires
             "xint": (np.abs(d["xint"]).sum(axis=1) != 0).mean(),
             "scale": (d["scale"] != 1).mean(), "aniso": (d["aniso"] != 1).mean(),
             "rotate": ((d["rotate_pre"] != 0) | (d["rotate_post"] != 0)).mean(),
             "brightness": (d["brightness"] != 0).mean(), "hue": (d["hue"] != 0).mean(),
             "saturation": (d["saturation"] != 1).mean(), "noise": (d["noise_sigma"] != 0).mean(),
             "cutout": (d["cutout_size"] != 0).mean(), "xfrac": (d["xfrac"][:, 0] != 0).mean()}
    for key, rate in rates.items():
        assert abs(rate - 0.3) < 0.025, (key, rate)
    assert abs((d["rotate_pre"] != 0).mean() - (1 - np.sqrt(0.7))) < 0.01      # p_rot
    assert ((d["xfrac"][:, 0] != 0) == (d["xfrac"][:, 1] != 0)).all()          # one gate for x and y


# --- p heuristic ----------------------------------------------------------------------------


def test_adjust_p_follows_the_sign_of_rt_minus_target():
    step = 32 * 4 / (500 * 1000)
    assert augment.adjust_p(0.1, 0.9, 32, 4, 500, 0.6) == pytest.approx(0.1 + step)
    assert augment.adjust_p(0.1, 0.2, 32, 4, 500, 0.6) == pytest.approx(0.1 - step)
    assert augment.adjust_p(0.1, 0.6, 32, 4, 500, 0.6) == pytest.approx(0.1)
    assert augment.adjust_p(0.0, -1.0, 32, 4, 500, 0.6) == 0.0
    assert augment.adjust_p(0.99999, 1.0, 32, 4, 500, 0.6) == 1.0
    p = 0.0
    for _ in range(100):                     # D separates reals: most real logits positive
        p = augment.adjust_p(p, np.sign(RNG.randn(64) + 2).mean(), 32, 4, 100, 0.6)
    assert p == pytest.approx(100 * 32 * 4 / 100e3)
    for _ in range(50):                      # D undecided: rt near 0
        p = augment.adjust_p(p, np.sign(RNG.randn(64) - 0.5).mean(), 32, 4, 100, 0.6)
    assert p == pytest.approx(50 * 32 * 4 / 100e3)
    assert isinstance(p, float)


# --- gradients, tf.function, tf.distribute -------------------------------------------------


def test_gradient_is_nonzero_and_matches_finite_differences():
    x = tf.constant(_images(2, 24))
    tf.random.set_seed(11)
    pipe = _pipe("bgcfnc", p=1.0)
    params = pipe.sample_params(x)
    weights = tf.constant(RNG.randn(2, 24, 24, 3).astype(np.float32))
    f = lambda v: tf.reduce_sum(weights * pipe.apply(v, params))
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = f(x)
    grad = tape.gradient(value, x).numpy()
    assert (np.abs(grad).sum(axis=(1, 2, 3)) > 1).all()
    direction = tf.constant(RNG.randn(2, 24, 24, 3).astype(np.float32))
    eps = 1e-2
    fd = (f(x + eps * direction) - f(x - eps * direction)).numpy() / (2 * eps)
    np.testing.assert_allclose(np.sum(grad * direction.numpy()), fd, rtol=2e-3)


def test_second_order_gradient_through_the_pipe():
    """R1 on augmented reals: d/dw |d D(aug(x)) / dx|^2 exists and is non-zero."""
    x = tf.constant(_images(2, 24))
    pipe = _pipe("bgcfnc", p=1.0)
    w = tf.Variable(RNG.randn(3, 3, 3, 1).astype(np.float32))
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(x)
            score = tf.reduce_sum(tf.nn.conv2d(tf.square(pipe(x)), w, 1, "SAME"))
        penalty = tf.reduce_sum(tf.square(inner.gradient(score, x)))
    grad = outer.gradient(penalty, w)
    assert grad is not None and np.abs(grad.numpy()).sum() > 0


def test_generator_draws_are_reproducible():
    x = tf.constant(_images(2, 24))
    pipe = _pipe("bgcfnc", p=0.7)
    first = pipe(x, rng=tf.random.Generator.from_seed(5)).numpy()
    assert np.array_equal(pipe(x, rng=tf.random.Generator.from_seed(5)).numpy(), first)
    assert not np.allclose(pipe(x, rng=tf.random.Generator.from_seed(6)).numpy(), first)


def test_tf_function_and_distribute():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        pipe = _pipe("bgc", p=0.0)
    x = tf.constant(_images(4, 16))

    def replica_step(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            y = pipe(v)
            loss = tf.reduce_sum(tf.square(y))
        return y, tape.gradient(loss, v)

    step = tf.function(lambda v: strategy.run(replica_step, args=(v,)))
    y, g = step(x)
    assert np.array_equal(y.numpy(), x.numpy())
    pipe.p.assign(0.8)
    first, _ = step(x)
    second, g = step(x)
    assert first.shape == x.shape and not np.allclose(first.numpy(), second.numpy())
    assert np.abs(g.numpy()).sum() > 0
    assert step.experimental_get_tracing_count() == 1


def test_two_replicas():
    """MirroredStrategy over two logical CPUs (set up in a fresh process): p is mirrored, the
    replicas draw their own parameters, p == 0 is the identity on both."""
    script = textwrap.dedent("""
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from tf_stylegan2.training import augment
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            pipe = augment.AugmentPipe(**augment.AUGPIPE_SPECS["bgc"])
        x = tf.constant(np.random.RandomState(0).uniform(-1, 1, [2, 16, 16, 3]).astype(np.float32))
        step = tf.function(lambda v: strategy.run(pipe, args=(v,)))
        same = [np.array_equal(y.numpy(), x.numpy()) for y in strategy.experimental_local_results(step(x))]
        pipe.p.assign(1.0)
        a, b = [y.numpy() for y in strategy.experimental_local_results(step(x))]
        print(type(pipe.p).__name__, all(same), not np.allclose(a, b))
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=root)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["MirroredVariable", "True", "True"]
