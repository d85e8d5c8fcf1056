"""StyleGAN2-ADA's augmentation pipeline (spec §12.1) and its p heuristic (§12.2).

`AugmentPipe` augments float32 NHWC images `[N, H, W, C]` (values in the network's [-1, 1]
range; static H and W) with NVIDIA's transforms, each drawn independently per sample and gated
with probability `multiplier * p`:

- geometric (`xflip rotate90 xint scale rotate aniso xfrac`): composed into one 3x3 inverse
  matrix per sample and executed once: reflect padding, 2x upsampling with the sym6 wavelet
  low-pass, bilinear sampling, 2x downsampling with the same filter. As in NVIDIA's code the
  sym6 pair (not symmetric) cancels its delay only along axes that keep their direction: the
  input is read at `G (o + e) - e`, e ~ 0.049 px on both axes, so a flip mirrors about a point
  0.098 px off centre;
- colour (`brightness contrast lumaflip hue saturation`): one 4x4 matrix per sample, for
  C = 3 (or 1: no hue, no saturation);
- `imgfilter` (per-band gains of a 4-band filter bank; H, W >= 22), `noise`, `cutout`.

Parameters are drawn with `tf.random` ops or a `tf.random.Generator` (`sample_params`) and
applied by a deterministic function, linear in the images (`apply`), so the pipe runs inside
`tf.function`, in the replica function of a `tf.distribute` strategy, and under XLA (which gets
a static-shape version of the padding). At p == 0 the images come back unchanged (NVIDIA's pipe
still runs its resampling round trip there).
"""

import numpy as np
import tensorflow as tf

from tf_stylegan2 import ops

# Wavelet decomposition low-pass filters (raw taps, sum sqrt(2)).
SYM2 = [-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025]
SYM6 = [0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148]

GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
TRANSFORMS = GEOMETRIC + COLOR + ("imgfilter", "noise", "cutout")

_BLIT = {"xflip": 1, "rotate90": 1, "xint": 1}
_GEOM = {"scale": 1, "rotate": 1, "aniso": 1, "xfrac": 1}
_COLOR = {"brightness": 1, "contrast": 1, "lumaflip": 1, "hue": 1, "saturation": 1}
AUGPIPE_SPECS = {
    "blit": dict(_BLIT),
    "geom": dict(_GEOM),
    "color": dict(_COLOR),
    "filter": {"imgfilter": 1},
    "noise": {"noise": 1},
    "cutout": {"cutout": 1},
    "bg": {**_BLIT, **_GEOM},
    "bgc": {**_BLIT, **_GEOM, **_COLOR},
    "bgcf": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1},
    "bgcfn": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1, "noise": 1},
    "bgcfnc": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1, "noise": 1, "cutout": 1},
}

_HZ_GEOM = ops.setup_filter(SYM6, separable=True)           # 12 taps, sum 1
_HZ_PAD = _HZ_GEOM.shape[0] // 4                            # 3: filter margin in input pixels
_EXPECTED_POWER = np.array([10, 1, 1, 1], np.float32) / 13  # 1/f spectrum of the filter bands
_LUMA = np.array([1, 1, 1, 0], np.float32) / np.sqrt(3)     # luma axis, homogeneous RGB


def imgfilter_bank():
    """NVIDIA's 4-band filter bank `[4, 43]` (float64), built from sym2: row 0 is the lowest
    band, row 3 the highest; rows are symmetric and sum to a unit impulse at tap 21."""
    lo = np.asarray(SYM2)
    hi = lo * (-1.0) ** np.arange(lo.size)
    lo2 = np.convolve(lo, lo[::-1]) / 2
    hi2 = np.convolve(hi, hi[::-1]) / 2
    bank = np.eye(4, 1)
    for i in range(1, 4):
        stretched = np.zeros([4, 2 * bank.shape[1] - 1])
        stretched[:, ::2] = bank
        bank = np.stack([np.convolve(row, lo2) for row in stretched])
        start = (bank.shape[1] - hi2.size) // 2
        bank[i, start:start + hi2.size] += hi2
    return bank


_HZ_FBANK = imgfilter_bank().astype(np.float32)


def _exp2(x):
    return tf.pow(2.0, x)


# ---------------------------------------------------------------------------------------------
# Per-sample homogeneous matrices `[N, K, K]` from scalars or `[N]` tensors.


def _matrix(rows, n):
    elems = [tf.broadcast_to(tf.cast(e, tf.float32), [n]) for row in rows for e in row]
    return tf.reshape(tf.stack(elems, axis=-1), [n, len(rows), len(rows[0])])


def translate2d(tx, ty, n):
    return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], n)


def scale2d(sx, sy, n):
    return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], n)


def rotate2d(theta, n):
    c, s = tf.cos(theta), tf.sin(theta)
    return _matrix([[c, -s, 0], [s, c, 0], [0, 0, 1]], n)


def translate3d(tx, ty, tz, n):
    return _matrix([[1, 0, 0, tx], [0, 1, 0, ty], [0, 0, 1, tz], [0, 0, 0, 1]], n)


def scale3d(sx, sy, sz, n):
    return _matrix([[sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1]], n)


def rotate3d(axis, theta, n):
    """Rotation by `theta` about the unit vector `axis` (3 numbers), Rodrigues' formula."""
    x, y, z = (float(a) for a in axis[:3])
    c, s = tf.cos(theta), tf.sin(theta)
    cc = 1 - c
    return _matrix([[x * x * cc + c, x * y * cc - z * s, x * z * cc + y * s, 0],
                    [y * x * cc + z * s, y * y * cc + c, y * z * cc - x * s, 0],
                    [z * x * cc - y * s, z * y * cc + x * s, z * z * cc + c, 0],
                    [0, 0, 0, 1]], n)


# ---------------------------------------------------------------------------------------------


class AugmentPipe(tf.Module):
    """ADA's augmentation pipe; every probability multiplier defaults to 0 (off).

    Args:
      p: initial overall strength, the non-trainable variable `self.p` (NVIDIA starts at 1;
        here 0, the start of an ADA run).
      xflip, rotate90, xint, scale, rotate, aniso, xfrac, brightness, contrast, lumaflip, hue,
        saturation, imgfilter, noise, cutout: probability multipliers (presets: AUGPIPE_SPECS).
      xint_max: integer translation range, fraction of the image size.
      scale_std, aniso_std: log2 standard deviations of the scalings.
      rotate_max, hue_max: rotation ranges, 1 = full circle.
      xfrac_std: fractional translation standard deviation, fraction of the image size.
      brightness_std: brightness offset standard deviation.
      contrast_std, saturation_std, imgfilter_std: log2 standard deviations.
      imgfilter_bands: probability multipliers of the 4 filter bands (lowest first).
      noise_std: standard deviation of the additive noise's per-sample sigma.
      cutout_size: side of the cutout rectangle, fraction of the image size.
    """

    def __init__(self, p=0.0, xflip=0, rotate90=0, xint=0, xint_max=0.125,
                 scale=0, rotate=0, aniso=0, xfrac=0, scale_std=0.2, rotate_max=1, aniso_std=0.2,
                 xfrac_std=0.125, brightness=0, contrast=0, lumaflip=0, hue=0, saturation=0,
                 brightness_std=0.2, contrast_std=0.5, hue_max=1, saturation_std=1,
                 imgfilter=0, imgfilter_bands=(1, 1, 1, 1), imgfilter_std=1,
                 noise=0, cutout=0, noise_std=0.1, cutout_size=0.5, name=None):
        super().__init__(name=name)
        self._config = {k: v for k, v in locals().items() if k not in ("self", "__class__", "p", "name")}
        self._config["imgfilter_bands"] = [float(b) for b in imgfilter_bands]
        if len(self._config["imgfilter_bands"]) != _HZ_FBANK.shape[0]:
            raise ValueError("imgfilter_bands needs %d values, got %s" % (_HZ_FBANK.shape[0], imgfilter_bands))
        for key, value in self._config.items():
            setattr(self, key, value if key == "imgfilter_bands" else float(value))
        self.p = tf.Variable(float(p), trainable=False, dtype=tf.float32, name="p",
                             aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    def get_config(self):
        """The constructor's keyword arguments except `p` (the multipliers and constants)."""
        return dict(self._config)

    @property
    def enabled(self):
        """Names of the transforms whose multiplier is > 0, in execution order."""
        return [t for t in TRANSFORMS if getattr(self, t) > 0]

    def __call__(self, images, rng=None):
        """Augment `images` float32 NHWC `[N, H, W, C]` -> same shape; identity when p == 0.
        `rng`: a `tf.random.Generator` to draw from (default: the global `tf.random` ops)."""
        images = tf.convert_to_tensor(images, tf.float32)
        if not self.enabled:
            return images
        return tf.cond(self.p > 0, lambda: self.apply(images, self.sample_params(images, rng)),
                       lambda: tf.identity(images))

    # ---- parameters -----------------------------------------------------------------------

    def sample_params(self, images, rng=None):
        """Draw every enabled transform's per-sample parameters for `images` `[N, H, W, C]` from
        `rng` (a `tf.random.Generator`; default: the global `tf.random` ops).

        Returns a dict of float32 tensors (a gated-off sample holds the identity value):
          xflip, rotate90 `[N]` integers i (scale x by 1-2i; rotate by i*pi/2);
          xint, xfrac `[N, 2]` translations as fractions of (W, H);
          scale, aniso `[N]` factors s; rotate_pre, rotate_post `[N]` angles;
          brightness `[N]` offset; contrast, saturation `[N]` factors; lumaflip `[N]` 0/1;
          hue `[N]` angle; imgfilter `[N, 4]` band gains; noise_sigma `[N]`,
          noise `[N, H, W, C]` standard normal; cutout_size `[N]`, cutout_center `[N, 2]` (x, y).
        """
        n = tf.shape(images)[0]
        channels = images.shape[-1]
        p = tf.convert_to_tensor(self.p)
        draw_uniform, draw_normal = (tf.random.uniform, tf.random.normal) if rng is None else (rng.uniform, rng.normal)
        uniform = lambda *shape: draw_uniform([n, *shape])
        normal = lambda *shape: draw_normal([n, *shape])

        def gated(multiplier, value, identity, shape=()):
            return tf.where(uniform(*shape) < multiplier * p, value, identity)

        params = {}
        if self.xflip > 0:
            params["xflip"] = gated(self.xflip, tf.floor(uniform() * 2), 0.0)
        if self.rotate90 > 0:
            params["rotate90"] = gated(self.rotate90, tf.floor(uniform() * 4), 0.0)
        if self.xint > 0:
            params["xint"] = gated(self.xint, (uniform(2) * 2 - 1) * self.xint_max, 0.0, shape=(1,))
        if self.scale > 0:
            params["scale"] = gated(self.scale, _exp2(normal() * self.scale_std), 1.0)
        if self.rotate > 0:
            # Two chances (before and after aniso) so that P(pre or post) = rotate * p.
            p_rot = 1 - tf.sqrt(tf.clip_by_value(1 - self.rotate * p, 0.0, 1.0))
            angle = lambda: (uniform() * 2 - 1) * np.pi * self.rotate_max
            params["rotate_pre"] = tf.where(uniform() < p_rot, angle(), 0.0)
        if self.aniso > 0:
            params["aniso"] = gated(self.aniso, _exp2(normal() * self.aniso_std), 1.0)
        if self.rotate > 0:
            params["rotate_post"] = tf.where(uniform() < p_rot, angle(), 0.0)
        if self.xfrac > 0:
            params["xfrac"] = gated(self.xfrac, normal(2) * self.xfrac_std, 0.0, shape=(1,))

        if self.brightness > 0:
            params["brightness"] = gated(self.brightness, normal() * self.brightness_std, 0.0)
        if self.contrast > 0:
            params["contrast"] = gated(self.contrast, _exp2(normal() * self.contrast_std), 1.0)
        if self.lumaflip > 0:
            params["lumaflip"] = gated(self.lumaflip, tf.floor(uniform() * 2), 0.0)
        if self.hue > 0 and channels > 1:
            params["hue"] = gated(self.hue, (uniform() * 2 - 1) * np.pi * self.hue_max, 0.0)
        if self.saturation > 0 and channels > 1:
            params["saturation"] = gated(self.saturation, _exp2(normal() * self.saturation_std), 1.0)

        if self.imgfilter > 0:
            gains = tf.ones([n, 4])
            for i, band in enumerate(self.imgfilter_bands):
                t_i = gated(self.imgfilter * band, _exp2(normal() * self.imgfilter_std), 1.0)
                t = tf.concat([tf.ones([n, i]), t_i[:, None], tf.ones([n, 3 - i])], axis=1)
                gains *= t / tf.sqrt(tf.reduce_sum(_EXPECTED_POWER * tf.square(t), axis=1, keepdims=True))
            params["imgfilter"] = gains

        if self.noise > 0:
            params["noise_sigma"] = gated(self.noise, tf.abs(normal()) * self.noise_std, 0.0)
            params["noise"] = draw_normal(tf.shape(images))
        if self.cutout > 0:
            params["cutout_size"] = gated(self.cutout, tf.fill([n], self.cutout_size), 0.0)
            params["cutout_center"] = uniform(2)
        return params

    # ---- execution ------------------------------------------------------------------------

    def apply(self, images, params):
        """Apply drawn `params` (see `sample_params`) to `images` `[N, H, W, C]` -> same shape.
        Deterministic and differentiable with respect to `images`."""
        images = tf.convert_to_tensor(images, tf.float32)
        height, width = images.shape[1], images.shape[2]
        g_inv = geometric_matrix(params, width, height)
        if g_inv is not None:
            images = warp(images, g_inv)
        c = color_matrix(params, tf.shape(images)[0])
        if c is not None:
            images = apply_color_matrix(images, c)
        if "imgfilter" in params:
            images = band_filter(images, params["imgfilter"])
        if "noise" in params:
            images += params["noise"] * params["noise_sigma"][:, None, None, None]
        if "cutout_size" in params:
            images *= cutout_mask(params["cutout_size"], params["cutout_center"], height, width)
        return images


def geometric_matrix(params, width, height):
    """Per-sample inverse transform `G_inv [N, 3, 3]` (output pixel -> input pixel, origin at
    the image centre, x right, y down), or None when no geometric transform is enabled."""
    keys = [k for k in ("xflip", "rotate90", "xint", "scale", "rotate_pre", "aniso", "rotate_post", "xfrac")
            if k in params]
    if not keys:
        return None
    n = tf.shape(params[keys[0]])[0]
    g_inv = tf.eye(3, batch_shape=[n])
    for key in keys:
        value = params[key]
        if key == "xflip":
            m = scale2d(1 - 2 * value, 1, n)
        elif key == "rotate90":
            m = rotate2d(value * (np.pi / 2), n)
        elif key == "xint":
            m = translate2d(-tf.round(value[:, 0] * width), -tf.round(value[:, 1] * height), n)
        elif key in ("scale", "aniso"):
            m = scale2d(1 / value, 1 / value if key == "scale" else value, n)
        elif key in ("rotate_pre", "rotate_post"):
            m = rotate2d(value, n)
        else:
            m = translate2d(-value[:, 0] * width, -value[:, 1] * height, n)
        g_inv = g_inv @ m
    return g_inv


def warp(images, g_inv):
    """Resample `images [N, H, W, C]` with per-sample inverse matrices `g_inv [N, 3, 3]` as ADA
    does: reflect-pad (one padding for the batch, covering every sample's footprint plus the
    filter margin), 2x upsample with sym6, bilinear sampling (zeros outside), 2x downsample."""
    n = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    cx, cy = (width - 1) / 2, (height - 1) / 2

    corners = tf.constant([[-cx, cx, cx, -cx], [-cy, -cy, cy, cy], [1, 1, 1, 1]], tf.float32)
    xy = tf.transpose(tf.matmul(g_inv, corners[None])[:, :2, :], [1, 0, 2])        # [2, N, 4]
    xy = tf.reshape(xy, [2, -1])
    margin = tf.reduce_max(tf.concat([-xy, xy], axis=0), axis=1)                    # x0 y0 x1 y1
    margin += [2 * _HZ_PAD - cx, 2 * _HZ_PAD - cy] * 2
    margin = tf.clip_by_value(margin, 0.0, [width - 1, height - 1] * 2)
    mx0, my0, mx1, my1 = tf.unstack(tf.cast(tf.math.ceil(margin), tf.int32))

    static = ops.dispatch.in_xla_context()
    if static:
        # XLA needs static shapes: reflect-pad as far as ADA ever does (H-1, W-1) and zero what
        # lies beyond the batch's padding. That is ADA's padded image inside a zero border, centred
        # like the original, and zeros are what the filter and the sampler see outside it anyway.
        images = tf.pad(images, [[0, 0], [height - 1] * 2, [width - 1] * 2, [0, 0]], mode="REFLECT")
        border = (width - 1 - mx0, width - 1 - mx1, height - 1 - my0, height - 1 - my1)
        images *= _window(images, *border)
    else:
        images = tf.pad(images, [[0, 0], [my0, my1], [mx0, mx1], [0, 0]], mode="REFLECT")
        g_inv = translate2d(tf.cast(mx0 - mx1, tf.float32) / 2, tf.cast(my0 - my1, tf.float32) / 2, n) @ g_inv

    # Separable 12-tap filter: the reference op's two 1-D passes (the custom kernel goes 2-D).
    pads = (2 * _HZ_PAD, 2 * _HZ_PAD - 1) * 2
    images = ops.upfirdn2d(images, _HZ_GEOM, up=2, pad=pads, gain=4, impl="ref")
    if static:
        images *= _window(images, *(2 * b for b in border))
    g_inv = scale2d(2, 2, n) @ g_inv @ scale2d(0.5, 0.5, n)
    g_inv = translate2d(-0.5, -0.5, n) @ g_inv @ translate2d(0.5, 0.5, n)

    out_h, out_w = 2 * (height + 2 * _HZ_PAD), 2 * (width + 2 * _HZ_PAD)
    images = sample_bilinear(images, g_inv, out_h, out_w)

    images = ops.upfirdn2d(images, _HZ_GEOM[::-1], down=2, pad=-1, impl="ref")
    return tf.ensure_shape(images, [None, height, width, images.shape[-1]])


def _window(images, x0, x1, y0, y1):
    """`[1, H, W, 1]` 0/1 mask of `images [N, H, W, C]`: 1 except for a border of x0, x1 columns
    (left, right) and y0, y1 rows (top, bottom)."""
    height, width = images.shape[1], images.shape[2]
    xs, ys = tf.range(width), tf.range(height)
    keep_x = (xs >= x0) & (xs < width - x1)
    keep_y = (ys >= y0) & (ys < height - y1)
    return tf.cast(keep_y[None, :, None, None] & keep_x[None, None, :, None], images.dtype)


def sample_bilinear(images, g_inv, out_h, out_w):
    """`[N, out_h, out_w, C]`: output pixel (i, j) reads `images` bilinearly at `g_inv` applied
    to its centred coordinates, zeros outside. This is `grid_sample(affine_grid(...))` with
    align_corners=False written in pixel units: both normalisations cancel, leaving
    `input = g_inv @ (output - (size_out-1)/2) + (size_in-1)/2`."""
    n, in_h, in_w, channels = tf.unstack(tf.shape(images))
    ys, xs = tf.meshgrid(tf.range(out_h, dtype=tf.float32) - (out_h - 1) / 2,
                         tf.range(out_w, dtype=tf.float32) - (out_w - 1) / 2, indexing="ij")
    grid = tf.stack([tf.reshape(xs, [-1]), tf.reshape(ys, [-1]), tf.ones([out_h * out_w])])  # [3, P]
    src = tf.matmul(g_inv[:, :2, :], grid[None])                                            # [N, 2, P]
    in_w_f, in_h_f = tf.cast(in_w, tf.float32), tf.cast(in_h, tf.float32)
    x = src[:, 0] + (in_w_f - 1) / 2
    y = src[:, 1] + (in_h_f - 1) / 2
    x0, y0 = tf.floor(x), tf.floor(y)
    fx, fy = x - x0, y - y0

    flat = tf.reshape(images, [n, in_h * in_w, channels])
    out = 0.0
    for dy, wy in ((0.0, 1 - fy), (1.0, fy)):
        for dx, wx in ((0.0, 1 - fx), (1.0, fx)):
            xi, yi = x0 + dx, y0 + dy
            inside = (xi >= 0) & (xi <= in_w_f - 1) & (yi >= 0) & (yi <= in_h_f - 1)
            xi = tf.cast(tf.clip_by_value(xi, 0.0, in_w_f - 1), tf.int32)
            yi = tf.cast(tf.clip_by_value(yi, 0.0, in_h_f - 1), tf.int32)
            weight = wx * wy * tf.cast(inside, tf.float32)
            out += tf.gather(flat, yi * in_w + xi, batch_dims=1) * weight[..., None]
    return tf.reshape(out, [n, out_h, out_w, channels])


def color_matrix(params, n):
    """Per-sample colour matrix `C [N, 4, 4]` acting on homogeneous RGB, or None when no colour
    transform is enabled."""
    steps = []
    v = _LUMA[:, None] * _LUMA[None, :]     # v v^T
    eye = np.eye(4, dtype=np.float32)
    if "brightness" in params:
        b = params["brightness"]
        steps.append(translate3d(b, b, b, n))
    if "contrast" in params:
        c = params["contrast"]
        steps.append(scale3d(c, c, c, n))
    if "lumaflip" in params:
        steps.append(eye - 2 * v * params["lumaflip"][:, None, None])     # Householder reflection
    if "hue" in params:
        steps.append(rotate3d(_LUMA, params["hue"], n))
    if "saturation" in params:
        steps.append(v + (eye - v) * params["saturation"][:, None, None])
    if not steps:
        return None
    c = steps[0]
    for m in steps[1:]:
        c = m @ c
    return c


def apply_color_matrix(images, c):
    """`x <- C[:3, :3] x + C[:3, 3]` per pixel for RGB; for 1 channel, the mean of rows 0-2 of C,
    `c'`, gives `x <- x (c'_0 + c'_1 + c'_2) + c'_3`."""
    channels = images.shape[-1]
    if channels == 3:
        return tf.einsum("nij,nhwj->nhwi", c[:, :3, :3], images) + c[:, None, None, :3, 3]
    if channels == 1:
        row = tf.reduce_mean(c[:, :3, :], axis=1)                                      # [N, 4]
        return images * tf.reduce_sum(row[:, :3], axis=1)[:, None, None, None] + row[:, 3, None, None, None]
    raise ValueError("colour augmentation needs RGB (3 channels) or L (1 channel) images, got %s channels"
                     % channels)


def band_filter(images, gains):
    """Filter each sample with its taps `gains [N, 4] @ bank [4, 43]`: reflect-pad by 21, then the
    1-D filter along W and along H. Needs H, W >= 22."""
    height, width = images.shape[1], images.shape[2]
    half = _HZ_FBANK.shape[1] // 2
    if min(height, width) <= half:
        raise ValueError("imgfilter needs images larger than %d px, got %dx%d" % (half, height, width))
    channels = images.shape[-1]
    n = tf.shape(images)[0]
    taps = tf.repeat(tf.matmul(gains, _HZ_FBANK), channels, axis=0)          # [N*C, 43]
    x = tf.pad(images, [[0, 0], [half, half], [half, half], [0, 0]], mode="REFLECT")
    # One depthwise convolution over all samples: (sample, channel) pairs become channels.
    x = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, height + 2 * half, width + 2 * half, -1])
    x = tf.nn.depthwise_conv2d(x, tf.transpose(taps)[None, :, :, None], [1, 1, 1, 1], "VALID")
    x = tf.nn.depthwise_conv2d(x, tf.transpose(taps)[:, None, :, None], [1, 1, 1, 1], "VALID")
    return tf.transpose(tf.reshape(x, [height, width, n, channels]), [2, 0, 1, 3])


def cutout_mask(size, center, height, width):
    """`[N, H, W, 1]` of 0/1: 0 inside the `size`-wide (fraction of W and H) square around
    `center [N, 2]` (x, y fractions), where |(x+0.5)/W - cx| and |(y+0.5)/H - cy| < size/2."""
    xs = (tf.range(width, dtype=tf.float32) + 0.5) / width
    ys = (tf.range(height, dtype=tf.float32) + 0.5) / height
    half = size[:, None, None] / 2
    keep_x = tf.abs(xs[None, None, :] - center[:, 0, None, None]) >= half
    keep_y = tf.abs(ys[None, :, None] - center[:, 1, None, None]) >= half
    return tf.cast(keep_x | keep_y, tf.float32)[..., None]


def adjust_p(p, signs_mean, batch_size, interval, ada_kimg, target):
    """ADA's strength update: `p + sign(signs_mean - target) * batch_size * interval / (ada_kimg * 1000)`,
    clamped to [0, 1] (NVIDIA clamps only at 0; above 1 every gate already fires).

    `signs_mean` is rt, the mean of sign(D(augmented real)) over the last `interval` minibatches.
    Returns a python float."""
    step = np.sign(float(signs_mean) - float(target)) * batch_size * interval / (ada_kimg * 1000.0)
    return float(np.clip(float(p) + step, 0.0, 1.0))
