"""Custom ops vs reference ops vs XLA-compiled reference, per op and for the whole generator.

    PYTHONPATH=. python3 benchmarks/bench_ops.py [--resolutions=256,1024] [--repeats=5] [--generator]

Builds the custom-op library first if needed. Op shapes are those of the config-f generator
(fmap_base 16384, fmap_max 512, batch 1) at each output resolution R and at R = 64:
  up2 rgb      upfirdn2d up=2, 4x4 FIR, pads (2, 1)  on [1, R/2, R/2, 3]     (skip-architecture ToRGB upsampling)
  fir conv_up  upfirdn2d 4x4 FIR, pads (1, 1)       on [1, R+1, R+1, C]     (after the transposed conv)
  fir conv_dn  upfirdn2d 4x4 FIR, pads (2, 2)       on [1, R, R, C]         (D's conv_downsample2d)
  bias_act     fused_bias_act lrelu, bias            on [1, R, R, C]
Columns: milliseconds per call (best of --repeats) for eager ref, eager custom, tf.function ref,
tf.function custom and XLA ref (custom ops never run under XLA), then custom/ref speed ratios.
`--generator` adds images/s of G(z) with each (batch 1, random config-f weights).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tf_stylegan2 as sg  # noqa: E402
from absl import app, flags  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_stylegan2 import ops  # noqa: E402
from tf_stylegan2.apps import cli  # noqa: E402
from tf_stylegan2.ops import custom, dispatch  # noqa: E402

flags.DEFINE_string("resolutions", "256,1024", "config-f output resolutions whose shapes to time")
flags.DEFINE_integer("repeats", 5, "timed calls per configuration (the best is reported)")
flags.DEFINE_bool("generator", False, "also time the whole generator with each implementation")
FLAGS = flags.FLAGS

FIR = [1, 3, 3, 1]


def channels(res):
    """config-f feature maps at a resolution: min(16384 / res, 512)."""
    return min(16384 // res, 512)


def op_cases(res):
    """(name, shape, fn(x, impl)) at the generator's shapes for output resolution `res`."""
    c = channels(res)
    bias = tf.constant(np.linspace(-0.5, 0.5, c), tf.float32)
    f = ops.setup_filter(FIR)
    return [
        ("up2 rgb", [1, res // 2, res // 2, 3],
         lambda x, impl: ops.upfirdn2d(x, f * 4, up=2, pad=(2, 1, 2, 1), impl=impl)),
        ("fir conv_up", [1, res + 1, res + 1, c], lambda x, impl: ops.upfirdn2d(x, f * 4, pad=1, impl=impl)),
        ("fir conv_dn", [1, res, res, c], lambda x, impl: ops.upfirdn2d(x, f, pad=2, impl=impl)),
        ("bias_act", [1, res, res, c], lambda x, impl: ops.fused_bias_act(x, bias, act="lrelu", impl=impl)),
    ]


def best_ms(fn, repeats):
    """Best wall time of `repeats` calls after one warm-up (which also traces/compiles)."""
    np.asarray(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.asarray(fn())  # .numpy() waits for the result
        times.append(time.perf_counter() - t0)
    return 1000 * min(times)


def time_op(fn, x, repeats):
    graph = {impl: tf.function(lambda v, impl=impl: fn(v, impl)) for impl in ("ref", "custom")}
    xla = tf.function(lambda v: fn(v, "ref"), jit_compile=True)
    return [best_ms(lambda: fn(x, "ref"), repeats), best_ms(lambda: fn(x, "custom"), repeats),
            best_ms(lambda: graph["ref"](x), repeats), best_ms(lambda: graph["custom"](x), repeats),
            best_ms(lambda: xla(x), repeats)]


def time_generator(res, repeats):
    """Images/s of G(z) (batch 1, const noise) with ref, custom and XLA-compiled ref ops."""
    G = sg.Generator(sg.MappingNetwork(num_ws=2 * int(np.log2(res)) - 2), sg.SynthesisNetwork(img_resolution=res))
    z = tf.constant(np.random.RandomState(0).randn(1, G.z_dim), tf.float32)
    xla = tf.function(lambda v: G(v), jit_compile=True)
    result = {}
    for name, impl, fn in (("ref", "ref", lambda: G(z)), ("custom", "custom", lambda: G(z)), ("xla", "ref", lambda: xla(z))):
        os.environ[dispatch.ENV_VAR] = impl
        result[name] = 1000.0 / best_ms(fn, repeats)
    os.environ.pop(dispatch.ENV_VAR)
    return result


def main(argv):
    del argv
    problem = custom.load(build=True)
    if problem is not None:
        raise cli.CommandError("custom ops unavailable: %s" % problem)
    resolutions = cli.parse_int_list(FLAGS.resolutions)
    print("TensorFlow %s, %d CPU threads visible; ms per call, best of %d" % (
        tf.__version__, os.cpu_count(), FLAGS.repeats))
    header = "%-5s %-12s %-18s %9s %9s %9s %9s %9s %11s %11s" % (
        "res", "op", "shape", "eager-ref", "eager-cus", "fn-ref", "fn-cus", "xla-ref", "eager ref/cus", "fn ref/cus")
    print(header)
    for res in sorted(set(resolutions) | {64}):
        for name, shape, fn in op_cases(res):
            x = tf.random.normal(shape)
            er, ec, gr, gc, xr = time_op(fn, x, FLAGS.repeats)
            print("%-5d %-12s %-18s %9.3f %9.3f %9.3f %9.3f %9.3f %11.2fx %10.2fx" % (
                res, name, "x".join(map(str, shape)), er, ec, gr, gc, xr, er / ec, gr / gc), flush=True)
    if FLAGS.generator:
        for res in resolutions:
            ips = time_generator(res, FLAGS.repeats)
            print("generator %d: img/s ref %.3f, custom %.3f (%.2fx), xla-ref %.3f (%.2fx)" % (
                res, ips["ref"], ips["custom"], ips["custom"] / ips["ref"], ips["xla"], ips["xla"] / ips["ref"]),
                flush=True)


if __name__ == "__main__":
    app.run(main)
