"""What the benchmarks share: FLOP counts of the networks, the machine's measured matmul peak, best
wall times and peak RSS.

FLOP counting (multiply-adds count 2): convolutions as executed, up-convolutions at input
resolution (the polyphase form multiplies no inserted zeros), FIR filters as the depthwise
convolutions they run as (2x upsampling at its zero-inserted output resolution, the blur before a
strided convolution at its input resolution, a plain 2x downsampling at its output resolution),
the style affines, demodulation, dense layers and the mapping network. Elementwise ops are not
counted.
"""

import time

import tensorflow as tf

from tf_stylegan2.layers import SynthesisLayer, ToRGBLayer

MATMUL_SIZE = 2048
FIR_TAPS = 16  # the 4x4 [1,3,3,1] outer-product filter


def layer_flops(G):
    """`[(name, GFLOP per image)]` for every synthesis layer, the image upsampling and the mapping."""
    syn = G.synthesis
    out = [("mapping", sum(2 * layer.in_features * layer.units for layer in G.mapping.dense_layers) / 1e9)]
    for block in syn.blocks:
        in_res = 2 ** (block["res"] - 1)
        res = 2 ** block["res"]
        for key in ("conv0", "conv1", "skip", "torgb"):
            if key not in block:
                continue
            layer = block[key]
            i, o, k = layer.in_channels, layer.out_channels, layer.kernel_size
            up = getattr(layer, "up", 1)
            conv_res = in_res if up > 1 else res
            flops = 2 * conv_res ** 2 * k * k * i * o
            if up > 1:
                flops += 2 * res ** 2 * o * FIR_TAPS
            if isinstance(layer, (SynthesisLayer, ToRGBLayer)):
                flops += 2 * G.w_dim * i                      # style affine
            if isinstance(layer, SynthesisLayer):
                flops += 2 * i * o + k * k * i * o            # demodulation coefficients
            out.append((layer.name, flops / 1e9))
        if block["res"] > 2 and syn.architecture == "skip":
            out.append(("%dx%d_img_upsample" % (res, res), 2 * res ** 2 * syn.img_channels * FIR_TAPS / 1e9))
    return out


def d_layer_flops(D):
    """`[(name, GFLOP per image)]` for every layer of a `Discriminator` (forward pass)."""
    out = []
    for block in D.blocks:
        res = 2 ** block["res"]
        for key in ("fromrgb", "conv0", "conv1", "skip"):
            if key not in block:
                continue
            layer = block[key]
            i, o, k = layer.in_channels, layer.out_channels, layer.kernel_size
            if layer.down > 1:
                out_res = res // 2
                flops = 2 * out_res ** 2 * k * k * i * o
                flops += 2 * (res if k > 1 else out_res) ** 2 * i * FIR_TAPS
            else:
                flops = 2 * res ** 2 * k * k * i * o
            out.append((layer.name, flops / 1e9))
        if D.architecture == "skip":
            out.append(("%dx%d_img_downsample" % (res, res), 2 * (res // 2) ** 2 * D.img_channels * FIR_TAPS / 1e9))
    for layer in (D.fromrgb4, D.conv4):
        if layer is not None:
            out.append((layer.name, 2 * 16 * layer.kernel_size ** 2 * layer.in_channels * layer.out_channels / 1e9))
    for layer in [D.dense0, D.out] + list(D.label_layers):
        out.append((layer.name, 2 * layer.in_features * layer.units / 1e9))
    return out


def best_time(fn, repeats):
    """Best wall time of `repeats` calls of `fn` (which must block until its result exists)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


class MatmulPeak:
    """GFLOP/s of a float32 `[2048, 2048] @ [2048, 2048]` matmul, best of `repeats` runs."""

    def __init__(self):
        self._a = tf.random.normal([MATMUL_SIZE, MATMUL_SIZE])
        self._matmul = tf.function(tf.matmul)
        self._matmul(self._a, self._a).numpy()

    def __call__(self, repeats=3):
        seconds = best_time(lambda: self._matmul(self._a, self._a).numpy(), repeats)
        return 2 * MATMUL_SIZE ** 3 / seconds / 1e9


def reset_peak_rss():
    """Restart the kernel's peak-RSS counter (VmHWM) of this process; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb():
    """Peak RSS in MiB since the last `reset_peak_rss` (VmHWM), or of the whole process."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
