"""What the benchmarks share: FLOP counts of the networks, the machine's measured matmul peak, best
wall times, peak RSS, and measurements in fresh processes.

FLOP counting (multiply-adds count 2): convolutions as executed, up-convolutions at input
resolution (the polyphase form multiplies no inserted zeros), FIR filters as the depthwise
convolutions they run as (2x upsampling at its zero-inserted output resolution, the blur before a
strided convolution at its input resolution, a plain 2x downsampling at its output resolution),
the style affines, demodulation, dense layers and the mapping network. Elementwise ops are not
counted.

TensorFlow is imported only where needed, so the fresh-process helpers also run in another
framework's environment (NVIDIA's PyTorch code, for side-by-side figures).
"""

import json
import os
import subprocess
import sys
import time

MATMUL_SIZE = 2048
FIR_TAPS = 16  # the 4x4 [1,3,3,1] outer-product filter


def layer_flops(G):
    """`[(name, GFLOP per image)]` for every synthesis layer, the image upsampling and the mapping."""
    from tf_stylegan2.layers import SynthesisLayer, ToRGBLayer
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
        import tensorflow as tf
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


def rss_mb():
    """The current RSS of this process in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def measured(fn):
    """`(fn(), figures)`: `figures` holds `seconds` (wall), `cpu_seconds` (this process, all threads)
    and `peak_above_start_mb` (peak RSS during the call minus the RSS before it; meant for a fresh
    process, where the earlier peak is the RSS at the start)."""
    base = rss_mb()
    reset_peak_rss()
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    figures = dict(seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0,
                   peak_above_start_mb=peak_rss_mb() - base)
    return result, figures


def run_fresh(args, python=None, env=None):
    """Run `[python or this interpreter] + args` in a fresh process -> the JSON document its last
    stdout line holds. TensorFlow's C++ logging is silenced unless `TF_CPP_MIN_LOG_LEVEL` is set.

    Raises:
      RuntimeError: the process failed (with the end of its stderr).
    """
    env = dict(os.environ, **(env or {}))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    out = subprocess.run([python or sys.executable] + list(args), env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError("%s failed (exit %d): %s" % (" ".join(args[:2]), out.returncode, out.stderr[-2000:]))
    return json.loads(out.stdout.strip().splitlines()[-1])
