"""Generator speed against this machine's measured fp32 peak.

    python benchmarks/bench_generator.py --preset=config-f-256 [--batch-sizes=1,4,8] [--modes=eager,function,xla]
        [--precision=fp32|fp16|bf16] [--profile] [--json] [--network=PKL]

In one process: the GFLOP/s of a large fp32 matmul (the practical peak now), then images/s of
`G(z)` per execution mode and batch size, the GFLOP per image counted from the architecture, the
achieved GFLOP/s and its fraction of the peak, and the peak RSS of each configuration. The
machine may be shared, so the peak is re-measured right before and after every timed call and
each call's fraction uses the better of the two; the best call of `--repeats` is reported.
`--profile` times every synthesis layer alone (between peak measurements too); `--precision`
also reports the image difference against float32.

FLOPs are counted from the architecture as `measure.py` describes.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tf_stylegan2 as sg  # noqa: E402  (first: it enables oneDNN before TensorFlow loads)
from absl import app, flags  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_stylegan2 import benchmark  # noqa: E402
from tf_stylegan2.apps import cli  # noqa: E402
from tf_stylegan2.progress import Progress  # noqa: E402
from tf_stylegan2.layers import SynthesisLayer, ToRGBLayer  # noqa: E402
from tf_stylegan2.networks.common import PRECISIONS  # noqa: E402
from tf_stylegan2.ops import dispatch  # noqa: E402
from measure import MatmulPeak, best_time, layer_flops, peak_rss_mb, reset_peak_rss  # noqa: E402

MODES = ("eager", "function", "xla")

flags.DEFINE_string("network", None, "official network pickle (its G_ema); or use --preset")
flags.DEFINE_enum("preset", None, sorted(benchmark.PRESETS), "a randomly initialised generator "
                  "(config-f-256, config-f-1024: StyleGAN2 config F)")
flags.DEFINE_string("batch_sizes", "1,4,8", "batch sizes, e.g. 1,4,8")
flags.DEFINE_list("modes", list(MODES), "execution modes among eager, function, xla")
flags.DEFINE_enum("precision", "fp32", sorted(PRECISIONS), "synthesis precision (fp16/bf16 also report the "
                  "image difference vs fp32)")
flags.DEFINE_integer("repeats", 3, "timed calls per configuration (the best one counts)")
flags.DEFINE_bool("profile", False, "per-layer time breakdown (each layer run alone, compiled)")
flags.DEFINE_integer("profile_batch", 4, "batch size of the --profile breakdown")
flags.DEFINE_bool("json", False, "print one JSON document instead of tables")
FLAGS = flags.FLAGS


def build_generator():
    if (FLAGS.network is None) == (FLAGS.preset is None):
        raise cli.CommandError("give exactly one of --network and --preset")
    if FLAGS.network:
        return sg.load_network(FLAGS.network).G_ema
    return benchmark.random_generator(FLAGS.preset)


# ---------------------------------------------------------------------------------------------
# Measurements


def bench_config(G, mode, batch, gflop_per_image, peak):
    """Time `G(z)` for one (mode, batch): the first call (trace/compile) and `--repeats` calls,
    each between two matmul-peak measurements; the best call counts."""
    G.execution = mode
    z = tf.constant(sg.z_from_seeds(range(batch), G.z_dim))
    reset_peak_rss()
    start = time.perf_counter()
    G(z, precision=FLAGS.precision).numpy()
    first = time.perf_counter() - start
    samples = []
    for _ in range(FLAGS.repeats):
        before = peak()
        seconds = best_time(lambda: G(z, precision=FLAGS.precision).numpy(), 1)
        samples.append((seconds, max(before, peak())))
    seconds, peak_gflops = min(samples, key=lambda s: s[0] * s[1])   # the best fraction of peak
    gflops = gflop_per_image * batch / seconds
    return dict(mode=mode, batch=batch, first_call_s=first, seconds_per_call=seconds, images_per_s=batch / seconds,
                gflops=gflops, peak_gflops=peak_gflops, fraction_of_peak=gflops / peak_gflops,
                best_seconds_per_call=min(s[0] for s in samples), peak_rss_mb=peak_rss_mb())


def precision_difference(G):
    """Max and mean |image(precision) - image(fp32)| over 4 seeds (images in [-1, 1] units)."""
    G.execution = "function"
    z = tf.constant(sg.z_from_seeds(range(4), G.z_dim))
    ref = G(z).numpy()
    got = G(z, precision=FLAGS.precision).numpy()
    return dict(max_abs=float(np.abs(got - ref).max()), mean_abs=float(np.abs(got - ref).mean()))


def profile_layers(G, batch, flops, peak):
    """Each synthesis layer (and the skip-image upsampling) alone as a compiled function on
    inputs of its real shapes, between two matmul-peak measurements:
    `[{layer, ms, gflop, gflops, peak_gflops, fraction_of_peak}]`."""
    syn = G.synthesis
    dtype = PRECISIONS[FLAGS.precision]
    w = tf.random.normal([batch, G.w_dim])
    runs = []
    for block in syn.blocks:
        res = 2 ** block["res"]
        in_res = res // 2 if block["res"] > 2 else res
        reduced = block["res"] > syn.log2_res - 4
        cast = (lambda t: tf.cast(t, dtype)) if reduced else (lambda t: t)
        for key in ("conv0", "conv1", "skip", "torgb"):
            if key not in block:
                continue
            layer = block[key]
            size = in_res if key in ("conv0", "skip") else res
            x = cast(tf.random.normal([batch, size, size, layer.in_channels]))
            if isinstance(layer, SynthesisLayer):
                noise = tf.random.normal([1, res, res, 1])
                runs.append((layer.name, tf.function(lambda x, l=layer, n=noise: l(x, w, n)), x))
            elif isinstance(layer, ToRGBLayer):
                runs.append((layer.name, tf.function(lambda x, l=layer: l(x, w)), x))
            else:
                runs.append((layer.name, tf.function(lambda x, l=layer: l(x)), x))
        if block["res"] > 2 and syn.architecture == "skip":
            img = tf.random.normal([batch, res // 2, res // 2, syn.img_channels])
            runs.append(("%dx%d_img_upsample" % (res, res),
                         tf.function(lambda x: sg.ops.upsample2d(x, syn.resample_filter)), img))
    gflop = dict(flops)
    rows = []
    for name, fn, x in Progress(runs, desc="profile"):
        fn(x).numpy()
        before = peak()
        seconds = best_time(lambda: fn(x).numpy(), FLAGS.repeats)
        peak_gflops = max(before, peak())
        g = gflop[name] * batch
        rows.append(dict(layer=name, ms=seconds * 1e3, gflop=g, gflops=g / seconds, peak_gflops=peak_gflops,
                         fraction_of_peak=g / seconds / peak_gflops))
    return dict(batch=batch, layers=rows)


# ---------------------------------------------------------------------------------------------
# Output


def print_tables(result):
    print("network: %s  (%dx%d, %.2f GFLOP/image)  precision: %s" % (
        result["network"], result["img_resolution"], result["img_resolution"], result["gflop_per_image"],
        result["precision"]))
    print("matmul peak at start: %.1f GFLOP/s  (TF_ENABLE_ONEDNN_OPTS=%s, TF_STYLEGAN2_OPS=%s)" % (
        result["peak_gflops_start"], result["onednn_opts"], result["ops"]))
    print("%-9s %5s %10s %9s %8s %8s %8s %9s %9s" % ("mode", "batch", "first [s]", "call [s]", "img/s", "GFLOP/s",
                                                       "peak", "of peak", "RSS [MB]"))
    for r in result["runs"]:
        print("%-9s %5d %10.2f %9.3f %8.2f %8.1f %8.1f %8.1f%% %9.0f" % (
            r["mode"], r["batch"], r["first_call_s"], r["seconds_per_call"], r["images_per_s"], r["gflops"],
            r["peak_gflops"], 100 * r["fraction_of_peak"], r["peak_rss_mb"]))
    if "precision_vs_fp32" in result:
        d = result["precision_vs_fp32"]
        print("%s vs fp32 image difference: max %.4f, mean %.5f (images in [-1, 1])" % (
            result["precision"], d["max_abs"], d["mean_abs"]))
    if "profile" in result:
        p = result["profile"]
        print("\nper-layer profile, batch %d (each layer alone)" % p["batch"])
        print("%-24s %9s %8s %8s %8s %8s %7s" % ("layer", "ms", "GFLOP", "GFLOP/s", "peak", "of peak", "time"))
        total = sum(r["ms"] for r in p["layers"])
        for r in p["layers"]:
            print("%-24s %9.2f %8.2f %8.1f %8.1f %7.1f%% %6.1f%%" % (
                r["layer"], r["ms"], r["gflop"], r["gflops"], r["peak_gflops"], 100 * r["fraction_of_peak"],
                100 * r["ms"] / total))
        print("%-24s %9.2f" % ("sum", total))


def main(argv):
    del argv
    try:
        batches = cli.parse_int_list(FLAGS.batch_sizes, "batch size")
        bad = sorted(set(FLAGS.modes) - set(MODES))
        if bad or not batches or 0 in batches:
            raise cli.CommandError("bad --modes %s or --batch-sizes %r" % (bad, FLAGS.batch_sizes))
        G = build_generator()
        flops = layer_flops(G)
        gflop_per_image = sum(g for _, g in flops)
        peak = MatmulPeak()
        result = dict(network=FLAGS.network or FLAGS.preset, img_resolution=G.img_resolution,
                      gflop_per_image=gflop_per_image, precision=FLAGS.precision,
                      onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS"), ops=dispatch.default_impl(),
                      peak_gflops_start=peak(5), runs=[])
        configs = [(m, b) for m in FLAGS.modes for b in batches]
        for mode, batch in Progress(configs, desc="benchmark"):
            result["runs"].append(bench_config(G, mode, batch, gflop_per_image, peak))
        if FLAGS.precision != "fp32":
            result["precision_vs_fp32"] = precision_difference(G)
        if FLAGS.profile:
            G.execution = "function"
            result["profile"] = profile_layers(G, FLAGS.profile_batch, flops, peak)
    except (cli.CommandError, ValueError, OSError) as e:
        print("bench_generator: error: %s" % str(e).strip().splitlines()[0], file=sys.stderr)
        sys.exit(1)
    if FLAGS.json:
        print(json.dumps(result, indent=1))
    else:
        print_tables(result)


if __name__ == "__main__":
    app.run(main, flags_parser=lambda argv: FLAGS(cli.normalize_flag_spellings(argv)))
