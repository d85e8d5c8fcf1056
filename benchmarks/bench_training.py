"""Training throughput: images/s and sec/kimg of the real training phases over whole
lazy-regularisation cycles, against this machine's measured fp32 matmul peak.

    python benchmarks/bench_training.py --preset=small-64 [--batch=8] [--cycles=1] [--profile] [--json]
    python benchmarks/bench_training.py --preset=config-f-256 --cycles=0 --profile
    python benchmarks/bench_training.py --preset=config-f-256 --cycles=0 --repeats=1 --phases=Dreg --recompute=blocks

A cycle is 16 minibatches run by the training loop's own `Schedule.step` (`Trainer` phases: G main
and D main every minibatch, G reg every 4th, D reg every 16th, the G_ema update with its ramped
decay every minibatch; each phase's statistics fetched as the loop does), on a fixed batch of random
reals (data loading is not timed), random weights, no augmentation, gamma 1. Every phase is called
once before timing (tracing). `--cycles=0` times each phase alone `--repeats` times instead and
composes a cycle from the best times (for networks where a whole cycle takes too long).
`--recompute` (and `--mem_budget`) as `run_training.py`. Each phase's peak RSS is the process's
peak from its first call to the end of its timing; run one phase per process (`--phases`, with
`--cycles=0`) for peaks that earlier phases' memory does not hide.

GFLOP per image counts conv + matmul work (see `measure.py`) with these conventions for the
backward passes: a backward pass costs 2x its forward pass (input and weight gradients), 1x when
only input gradients are needed (D in G main), and a second-order pass (path length, R1) 3x its
first-order forward + backward, i.e. 6x the forward pass. Per call, with G and D the forward
GFLOP per image and B the batch: G main B(3G + 2D); G reg (B/2) 6G; D main B G + 2B 3D;
D reg B 6D.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tf_stylegan2  # noqa: E402,F401  (first: it enables oneDNN before TensorFlow loads)
from absl import app, flags  # noqa: E402
import numpy as np  # noqa: E402

from tf_stylegan2 import benchmark  # noqa: E402
from tf_stylegan2.apps import cli  # noqa: E402
from tf_stylegan2.benchmark import CYCLE, PHASES, PRESETS, cycle_schedule, phase_calls  # noqa: E402
from tf_stylegan2.ops import dispatch  # noqa: E402
from tf_stylegan2.progress import Progress  # noqa: E402
from tf_stylegan2.training import options  # noqa: E402
from tf_stylegan2.training.schedule import Schedule  # noqa: E402
from measure import MatmulPeak, best_time, d_layer_flops, layer_flops, peak_rss_mb, reset_peak_rss  # noqa: E402
from tf_stylegan2.networks import recompute  # noqa: E402

flags.DEFINE_enum("preset", None, sorted(PRESETS), "network and default batch")
flags.DEFINE_integer("batch", None, "global batch (default: the preset's)")
flags.DEFINE_integer("cycles", 1, "timed lazy-regularisation cycles of 16 minibatches; 0: compose one from "
                     "per-phase times")
flags.DEFINE_integer("repeats", 3, "per-phase timings with --cycles=0 (the best counts)")
flags.DEFINE_bool("profile", False, "per-phase breakdown (calls, ms, GFLOP, fraction of peak)")
flags.DEFINE_bool("json", False, "print one JSON document instead of tables")
flags.DEFINE_integer("seed", 0, "weights and latents seed")
flags.DEFINE_enum("precision", "auto", list(options.PRECISION_CHOICES), "as run_training.py --precision (auto: "
                  "mixed precision for the --cfg presets, in the dtype `options.compute_precision` picks here)")
flags.DEFINE_enum("recompute", "off", list(recompute.MODES), "as run_training.py --recompute")
flags.DEFINE_float("mem_budget", None, "as run_training.py --mem-budget (GB, for --recompute=auto)")
flags.DEFINE_list("phases", list(PHASES), "the phases to run (with --cycles=0; a cycle needs all)")
FLAGS = flags.FLAGS


def build_trainer(preset, batch):
    """`benchmark.build_trainer` with this script's --seed, --precision, --recompute, --mem_budget."""
    return benchmark.build_trainer(preset, batch, FLAGS.seed, precision=FLAGS.precision, recompute=FLAGS.recompute,
                                   mem_budget=FLAGS.mem_budget)


def phase_gflop(trainer, batch):
    """GFLOP per call of each phase (module docstring) and the forward GFLOP per image of G and D."""
    g = sum(f for _, f in layer_flops(trainer.G))
    d = sum(f for _, f in d_layer_flops(trainer.D))
    k = trainer.loss_kwargs
    pl_batch = max(batch // k["pl_batch_shrink"], 1)
    return dict(Gmain=batch * (3 * g + 2 * d), Greg=pl_batch * 6 * g, Dmain=batch * g + 2 * batch * 3 * d,
                Dreg=batch * 6 * d, ema=0.0), g, d


def timed_cycles(trainer, opts, reals, cycles):
    """`cycles` x 16 minibatches through the loop's own `Schedule.step` -> (seconds per cycle,
    `{phase: [seconds of each call]}`); each phase blocks until its statistics are on the host, the
    G_ema update (and the rest of a step) is what the step took beyond its phases."""
    schedule, times = Schedule(trainer, opts), {p: [] for p in PHASES}

    def run_phase(name, fn, *args):
        t0 = time.perf_counter()
        stats = fn(*args)
        for value in stats.values():
            value.numpy()
        times[name].append(time.perf_counter() - t0)
        return stats

    start = time.perf_counter()
    for _ in Progress(range(CYCLE * cycles), desc="cycles"):
        t0, phases_before = time.perf_counter(), sum(map(sum, times.values()))
        schedule.step(reals, None, run_phase=run_phase)
        phases_s = sum(map(sum, times.values())) - phases_before
        times["ema"].append(time.perf_counter() - t0 - phases_s)
    return (time.perf_counter() - start) / cycles, times


def run_benchmark():
    trainer, opts, reals = build_trainer(FLAGS.preset, FLAGS.batch)
    batch = opts["batch_size"]
    gflop, g_fwd, d_fwd = phase_gflop(trainer, batch)
    calls = phase_calls(trainer, reals)
    schedule = cycle_schedule(trainer, opts)
    counts = {p: schedule.count(p) for p in PHASES}
    peak = MatmulPeak()
    peak_start = peak(5)

    phases = [p for p in PHASES if p in FLAGS.phases]
    first, rss = {}, {}
    for name in Progress(phases, desc="trace"):
        reset_peak_rss()
        start = time.perf_counter()
        calls[name]()
        first[name] = time.perf_counter() - start
        rss[name] = peak_rss_mb()

    if FLAGS.cycles > 0:
        cycle_s, times = timed_cycles(trainer, opts, reals, FLAGS.cycles)
        phase_s = {p: float(np.mean(times[p])) if times[p] else 0.0 for p in PHASES}
    else:
        phase_s = {p: 0.0 for p in PHASES}
        for p in Progress(phases, desc="phases"):
            reset_peak_rss()
            phase_s[p] = best_time(calls[p], FLAGS.repeats)
            rss[p] = max(rss[p], peak_rss_mb())
        cycle_s = sum(counts[p] * phase_s[p] for p in PHASES)
    peak_gflops = max(peak_start, peak(5))

    images = CYCLE * batch
    cycle_gflop = sum(counts[p] * gflop[p] for p in PHASES)
    achieved = cycle_gflop / cycle_s
    result = dict(
        preset=FLAGS.preset, img_resolution=trainer.G.img_resolution, batch=batch, cycles=FLAGS.cycles,
        precision=trainer.precision, recompute=FLAGS.recompute, recomputed_blocks=trainer.recompute,
        composed_from_phases=FLAGS.cycles == 0, images_per_s=images / cycle_s, sec_per_kimg=cycle_s / images * 1000,
        cycle_s=cycle_s, gflop_per_image=cycle_gflop / images, gflop_per_minibatch=cycle_gflop / CYCLE,
        g_forward_gflop_per_image=g_fwd, d_forward_gflop_per_image=d_fwd, gflops=achieved,
        peak_gflops=peak_gflops, fraction_of_peak=achieved / peak_gflops, peak_rss_mb=peak_rss_mb(),
        onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS"), ops=dispatch.default_impl(),
        num_threads=os.cpu_count(),
        phases=[dict(phase=p, calls_per_cycle=counts[p], first_call_s=first[p], ms=phase_s[p] * 1e3,
                     peak_rss_mb=rss[p],
                     share_of_cycle=counts[p] * phase_s[p] / cycle_s, gflop_per_call=gflop[p],
                     gflops=gflop[p] / phase_s[p] if phase_s[p] else 0.0,
                     fraction_of_peak=gflop[p] / phase_s[p] / peak_gflops if phase_s[p] else 0.0)
                for p in phases])
    if len(phases) < len(PHASES):  # no cycle to compose
        result.update(images_per_s=None, sec_per_kimg=None, cycle_s=None, gflops=None, fraction_of_peak=None)
        for p in result["phases"]:
            p["share_of_cycle"] = None
    return result


def print_tables(r):
    if r["cycle_s"] is None:
        print("preset %s (%dx%d), batch %d, %s, recompute %s (blocks %s): phases %s only" % (
            r["preset"], r["img_resolution"], r["img_resolution"], r["batch"], r["precision"], r["recompute"],
            r["recomputed_blocks"], ",".join(p["phase"] for p in r["phases"])))
    else:
        print_cycle(r)
    if FLAGS.profile or r["cycle_s"] is None:
        print("%-6s %6s %10s %10s %8s %10s %8s %8s %9s" % ("phase", "calls", "first [s]", "ms/call", "cycle",
                                                              "GFLOP/call", "GFLOP/s", "of peak", "RSS [MB]"))
        for p in r["phases"]:
            print("%-6s %6d %10.2f %10.1f %7.1f%% %10.2f %8.1f %7.1f%% %9.0f" % (
                p["phase"], p["calls_per_cycle"], p["first_call_s"], p["ms"], 100 * (p["share_of_cycle"] or 0),
                p["gflop_per_call"], p["gflops"], 100 * p["fraction_of_peak"], p["peak_rss_mb"]))


def print_cycle(r):
    print("preset %s (%dx%d), batch %d, %s, recompute %s: %.3f img/s, %.1f sec/kimg (%s)" % (
        r["preset"], r["img_resolution"], r["img_resolution"], r["batch"], r["precision"], r["recompute"],
        r["images_per_s"], r["sec_per_kimg"],
        "composed from per-phase times" if r["composed_from_phases"] else "%d timed cycle(s) of 16 minibatches"
        % r["cycles"]))
    print("%.2f GFLOP/image over a cycle (G forward %.3f, D forward %.3f), %.1f GFLOP/s = %.1f%% of the %.1f GFLOP/s "
          "matmul peak; peak RSS %.0f MB" % (r["gflop_per_image"], r["g_forward_gflop_per_image"],
                                             r["d_forward_gflop_per_image"], r["gflops"], 100 * r["fraction_of_peak"],
                                             r["peak_gflops"], r["peak_rss_mb"]))


def main(argv):
    del argv
    try:
        if FLAGS.preset is None:
            raise cli.CommandError("give --preset (%s)" % ", ".join(sorted(PRESETS)))
        if FLAGS.cycles < 0 or FLAGS.repeats < 1 or (FLAGS.batch is not None and FLAGS.batch < 1):
            raise cli.CommandError("--cycles must be >= 0, --repeats and --batch >= 1")
        unknown = sorted(set(FLAGS.phases) - set(PHASES))
        if unknown or not FLAGS.phases:
            raise cli.CommandError("--phases takes some of %s, got %s" % (",".join(PHASES), ",".join(FLAGS.phases)))
        if FLAGS.cycles > 0 and set(FLAGS.phases) != set(PHASES):
            raise cli.CommandError("--phases needs --cycles=0 (a cycle runs every phase)")
        result = run_benchmark()
    except (cli.CommandError, ValueError, OSError) as e:
        print("bench_training: error: %s" % str(e).strip().splitlines()[0], file=sys.stderr)
        sys.exit(1)
    if FLAGS.json:
        print(json.dumps(result, indent=1))
    else:
        print_tables(result)


if __name__ == "__main__":
    app.run(main, flags_parser=lambda argv: FLAGS(cli.normalize_flag_spellings(argv)))
