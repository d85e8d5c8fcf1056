"""Reference ops against brute-force NumPy loops, plus gradient checks."""

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2 import ops


def upfirdn2d_numpy(x, f, up, down, pad):
    """Loop implementation of spec §1.1: zero-insert, pad/crop, true convolution, decimate."""
    (upx, upy), (downx, downy) = up, down
    px0, px1, py0, py1 = pad
    n, h, w, c = x.shape
    u = np.zeros((n, h * upy, w * upx, c), np.float64)
    u[:, ::upy, ::upx] = x
    p = np.pad(u, ((0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0)), (0, 0)))
    p = p[:, max(-py0, 0):p.shape[1] - max(-py1, 0), max(-px0, 0):p.shape[2] - max(-px1, 0)]
    fh, fw = f.shape
    oh, ow = p.shape[1] - fh + 1, p.shape[2] - fw + 1
    out = np.zeros((n, oh, ow, c), np.float64)
    for i in range(oh):
        for j in range(ow):
            for a in range(fh):
                for b in range(fw):
                    out[:, i, j] += p[:, i + a, j + b] * f[fh - 1 - a, fw - 1 - b]
    return out[:, ::downy, ::downx]


def correlate_numpy(x, w, stride=1):
    """VALID cross-correlation `[N,H,W,I] x [k,k,I,O]` by loops over output pixels."""
    k = w.shape[0]
    oh, ow = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], oh, ow, w.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
            out[:, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
    return out


UPFIRDN_CASES = [
    # (H, W, C, f shape, up, down, pad)
    (7, 5, 3, (4, 4), (1, 1), (1, 1), (2, 1, 2, 1)),
    (6, 9, 2, (3, 2), (2, 2), (1, 1), (1, 0, 2, 1)),          # asymmetric kernel, up
    (9, 8, 1, (4, 4), (1, 1), (2, 2), (1, 1, 1, 1)),          # down
    (5, 7, 2, (5, 3), (3, 1), (2, 3), (-1, 2, 3, -2)),        # up and down together, negative pads
    (8, 8, 4, (1, 1), (2, 2), (1, 1), (0, -1, -1, 0)),        # crop only
    (4, 6, 3, (2, 5), (1, 2), (2, 1), (0, 0, 0, 0)),
]


@pytest.mark.parametrize("h, w, c, fshape, up, down, pad", UPFIRDN_CASES)
def test_upfirdn2d_matches_loops(h, w, c, fshape, up, down, pad):
    rng = np.random.RandomState(h * 100 + w)
    x = rng.randn(2, h, w, c).astype(np.float32)
    f = rng.randn(*fshape).astype(np.float32)
    y = ops.upfirdn2d(x, f, up=up, down=down, pad=pad, impl="ref").numpy()
    expected = upfirdn2d_numpy(x, f, up, down, pad)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, atol=1e-5, rtol=1e-5)


def test_upfirdn2d_output_size_formula():
    x = np.zeros([1, 11, 6, 1], np.float32)
    y = ops.upfirdn2d(x, np.ones([3, 4], np.float32), up=(2, 3), down=(3, 2), pad=(1, -2, 2, 0), impl="ref")
    assert y.shape[1] == (11 * 3 + 2 + 0 - 3) // 2 + 1
    assert y.shape[2] == (6 * 2 + 1 - 2 - 4) // 3 + 1


def test_separable_filter_and_gain():
    rng = np.random.RandomState(1)
    x = rng.randn(1, 6, 7, 2).astype(np.float32)
    f1 = np.array([1, 2, 5, 1], np.float32)
    y = ops.upfirdn2d(x, f1, up=2, pad=(2, 1, 1, 2), gain=3.0, impl="ref").numpy()
    expected = upfirdn2d_numpy(x, np.outer(f1, f1) * 3.0, (2, 2), (1, 1), (2, 1, 1, 2))
    np.testing.assert_allclose(y, expected, atol=1e-4, rtol=1e-5)


def test_setup_filter_official_kernel():
    k = ops.setup_filter([1, 3, 3, 1])
    assert k.shape == (4, 4)
    assert k[0, 0] == pytest.approx(0.015625) and k[1, 1] == pytest.approx(0.140625)
    assert k.sum() == pytest.approx(1.0)


def test_resampling_wrappers_follow_spec_pads():
    rng = np.random.RandomState(2)
    x = rng.randn(2, 5, 6, 3).astype(np.float32)
    k = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0
    np.testing.assert_allclose(ops.upsample2d(x, [1, 3, 3, 1]).numpy(),
                               upfirdn2d_numpy(x, k * 4, (2, 2), (1, 1), (2, 1, 2, 1)), atol=1e-5)
    np.testing.assert_allclose(ops.downsample2d(x, [1, 3, 3, 1]).numpy(),
                               upfirdn2d_numpy(x, k, (1, 1), (2, 2), (1, 1, 1, 1)), atol=1e-5)
    np.testing.assert_allclose(ops.filter2d(x, [1, 3, 3, 1]).numpy(),
                               upfirdn2d_numpy(x, k, (1, 1), (1, 1), (2, 1, 2, 1)), atol=1e-5)
    # default kernels: nearest-neighbour upsampling, box downsampling
    np.testing.assert_allclose(ops.upsample2d(x).numpy(), x.repeat(2, axis=1).repeat(2, axis=2), atol=1e-6)
    box = x[:, :4, :6].reshape(2, 2, 2, 3, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(ops.downsample2d(x[:, :4]).numpy(), box, atol=1e-6)


@pytest.mark.parametrize("ksize", [1, 3])
def test_upsample_conv2d_matches_zero_insertion_form(ksize):
    """Transposed conv (groups=1) and the grouped zero-insertion path against loops:
    insert zeros, pad by k-1, correlate with w, FIR with the spec's pads."""
    rng = np.random.RandomState(ksize)
    x = rng.randn(2, 4, 5, 3).astype(np.float32)
    w = rng.randn(ksize, ksize, 3, 4).astype(np.float32)
    u = np.zeros((2, 7, 9, 3))
    u[:, ::2, ::2] = x
    u = np.pad(u, ((0, 0), (ksize - 1, ksize - 1), (ksize - 1, ksize - 1), (0, 0)))
    p = (4 - 2) - (ksize - 1)
    pads = ((p + 1) // 2 + 1, p // 2 + 1)
    k = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0 * 4
    expected = upfirdn2d_numpy(correlate_numpy(u, w), k, (1, 1), (1, 1), pads + pads)
    y = ops.upsample_conv2d(x, w, k=[1, 3, 3, 1]).numpy()
    assert y.shape == (2, 8, 10, 4)
    np.testing.assert_allclose(y, expected, atol=1e-4)
    # the grouped path (groups = batch, as in fused modconv) gives the same result per group
    xg = np.concatenate([x[:1], x[1:]], axis=-1)                       # [1, H, W, 2*I]
    wg = np.concatenate([w, w], axis=-1)                                # [k, k, I, 2*O]
    yg = ops.upsample_conv2d(xg, wg, k=[1, 3, 3, 1], groups=2).numpy()
    np.testing.assert_allclose(np.concatenate([yg[..., :4], yg[..., 4:]], axis=0), expected, atol=1e-4)


@pytest.mark.parametrize("ksize", [1, 3])
def test_conv_downsample2d_matches_loops(ksize):
    rng = np.random.RandomState(10 + ksize)
    x = rng.randn(2, 8, 6, 3).astype(np.float32)
    w = rng.randn(ksize, ksize, 3, 2).astype(np.float32)
    p = (4 - 2) + (ksize - 1)
    pads = ((p + 1) // 2, p // 2)
    k = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0
    expected = correlate_numpy(upfirdn2d_numpy(x, k, (1, 1), (1, 1), pads + pads), w, stride=2)
    y = ops.conv_downsample2d(x, w, k=[1, 3, 3, 1]).numpy()
    assert y.shape == (2, 4, 3, 2)
    np.testing.assert_allclose(y, expected, atol=1e-4)



@pytest.mark.parametrize("impl", ["ref", "auto"])
def test_conv_downsample2d_1x1_gradients_match_full_rate_form(impl):
    """The 1x1 path (FIR at the output positions, then the conv) against the FIR at full rate and a
    stride-2 1x1 conv: values, first-order gradients and the gradient of a gradient norm (R1's order)."""
    rng = np.random.RandomState(7)
    x = tf.constant(rng.randn(2, 8, 6, 3).astype(np.float32))
    w = tf.constant(rng.randn(1, 1, 3, 4).astype(np.float32))
    fir = ops.setup_filter([1, 3, 3, 1])

    def full_rate(x, w):
        return tf.nn.conv2d(ops.upfirdn2d(x, fir, pad=1, impl=impl), w, strides=2, padding="VALID")

    def grads(fn):
        with tf.GradientTape() as outer:
            outer.watch([x, w])
            with tf.GradientTape() as inner:
                inner.watch([x, w])
                y = fn(x, w)
                loss = tf.reduce_sum(tf.sin(y))
            dx, dw = inner.gradient(loss, [x, w])
            penalty = tf.reduce_sum(tf.square(dx))
        return [y, dx, dw] + outer.gradient(penalty, [x, w])

    got = grads(lambda x, w: ops.conv_downsample2d(x, w, k=[1, 3, 3, 1], impl=impl))
    for a, b in zip(got, grads(full_rate)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)

def test_upfirdn2d_gradient():
    rng = np.random.RandomState(3)
    x = tf.constant(rng.randn(1, 4, 5, 2))
    f = rng.randn(3, 2)
    theoretical, numerical = tf.test.compute_gradient(
        lambda t: ops.upfirdn2d(t, f, up=2, down=(1, 2), pad=(1, -1, 2, 0), impl="ref"), [x])
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)


def act_numpy(name, x, alpha):
    sig = 1 / (1 + np.exp(-x))
    return {
        "linear": x, "relu": np.maximum(x, 0), "lrelu": np.where(x >= 0, x, x * alpha), "tanh": np.tanh(x),
        "sigmoid": sig, "elu": np.where(x >= 0, x, np.expm1(x)),
        "selu": 1.0507009873554805 * np.where(x >= 0, x, 1.6732632423543772 * np.expm1(x)),
        "softplus": np.log1p(np.exp(x)), "swish": sig * x,
    }[name]


DEFAULT_GAIN = {"relu": np.sqrt(2), "lrelu": np.sqrt(2), "swish": np.sqrt(2)}


@pytest.mark.parametrize("act", sorted(ops.ACTIVATIONS))
def test_fused_bias_act_defaults(act):
    rng = np.random.RandomState(4)
    x = rng.randn(3, 4, 5, 6).astype(np.float32)
    b = rng.randn(6).astype(np.float32)
    y = ops.fused_bias_act(x, b, act=act, impl="ref").numpy()
    expected = act_numpy(act, (x + b).astype(np.float64), 0.2) * DEFAULT_GAIN.get(act, 1.0)
    np.testing.assert_allclose(y, expected, atol=1e-5, rtol=1e-5)


def test_fused_bias_act_axis_alpha_gain_clamp():
    rng = np.random.RandomState(5)
    x = rng.randn(2, 3, 4).astype(np.float32) * 4
    b = rng.randn(3).astype(np.float32)
    y = ops.fused_bias_act(x, b, act="lrelu", alpha=0.1, gain=2.0, clamp=1.5, axis=1, impl="ref").numpy()
    expected = np.clip(act_numpy("lrelu", x + b[None, :, None], 0.1) * 2.0, -1.5, 1.5)
    np.testing.assert_allclose(y, expected, atol=1e-5)
    with pytest.raises(ValueError, match="unknown activation"):
        ops.fused_bias_act(x, act="gelu")


@pytest.mark.parametrize("act", sorted(ops.ACTIVATIONS))
def test_fused_bias_act_gradients(act):
    rng = np.random.RandomState(6)
    x = tf.constant(rng.randn(2, 3) + 0.05)   # keep away from the kink at 0
    b = tf.constant(rng.randn(3))
    theoretical, numerical = tf.test.compute_gradient(lambda t, u: ops.fused_bias_act(t, u, act=act, impl="ref"), [x, b])
    for th, nu in zip(theoretical, numerical):
        np.testing.assert_allclose(th, nu, atol=1e-5)
    if ops.ACTIVATIONS[act].has_2nd_grad:
        def first_grad(t):
            with tf.GradientTape() as tape:
                tape.watch(t)
                y = tf.reduce_sum(ops.fused_bias_act(t, b, act=act, impl="ref"))
            return tape.gradient(y, t)
        theoretical, numerical = tf.test.compute_gradient(first_grad, [x])
        np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-5)


def test_bad_arguments():
    x = np.zeros([1, 4, 4, 1], np.float32)
    with pytest.raises(ValueError):
        ops.upfirdn2d(x, np.ones([2, 2]), up=0)
    with pytest.raises(ValueError):
        ops.upfirdn2d(x, np.ones([2, 2]), pad=(1, 2, 3))
    with pytest.raises(ValueError):
        ops.upfirdn2d(x, np.ones([2, 2]), impl="fast")
