"""`python -m tf_stylegan2.selfcheck`: does this install compute what NVIDIA's code computes?

Run from a clone (it reads the fixtures under `tests/data/`), on one device:

1. `ops`: the custom-op kernels (built first if needed) against the reference ops: upfirdn2d and
   fused_bias_act forward, first- and second-order gradients; tolerance `1e-5 * max|reference|`.
2. `networks`: the fixture networks (`tests/data/{public,orig,ada}/network.pkl`) against the
   outputs NVIDIA's stylegan2-ada-pytorch stored beside them (mapping, synthesis, D), on the
   reference ops and on the custom ops; tolerance 1e-4.
3. `trajectory`: a recording of NVIDIA's training loop (default `tests/data/trajectory`, from
   `tests/data/public/network.pkl`) replayed through the production Trainer (`training.replay`),
   every tensor after every minibatch against the recording's own per-tensor tolerances.

Each row is one comparison: its worst error, the tolerance at that place, and their ratio (> 1:
out of tolerance). Prints a table (one JSON line with `--json`); exits 1 when any row is out of
tolerance. `--quick` runs fewer op cases, the public fixture only and no trajectory replay.
`--bench` adds timings (`run_bench`: generation and training img/s, seconds and peak memory of
random config-f networks, or of a tiny 8 px network with `--quick`) within what is left of
`--bench-budget` seconds after the checks, as a second table (the JSON line's "bench" list); they never change the exit status.
`--save-states=NPZ` writes the replayed states as `state/<snap>/<net>/<official name>` (official
TF1 layout, full tensors) for anyone to compare with the recording independently.

The checks are `CHECKS` (name -> function of the parsed options returning rows), run in order by
`run_checks`; a further section (e.g. timings) is one more entry there.
"""

import collections
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
DEFAULT_TRAJECTORY = os.path.join(DATA, "trajectory", "trajectory.npz")
DEFAULT_TRAJECTORY_NETWORK = os.path.join(DATA, "public", "network.pkl")
NETWORK_FIXTURES = ("public", "orig", "ada")
OPS_RTOL = 1e-5
NETWORK_ATOL = 1e-4

Row = collections.namedtuple("Row", "check error tolerance detail")


class SelfcheckError(ValueError):
    """The self-check cannot run (missing fixtures, a bad device or recording): one line."""


def ratio(row):
    """`error / tolerance` (0 for an exact match at tolerance 0, inf for any other error there)."""
    if row.tolerance > 0:
        return row.error / row.tolerance
    return 0.0 if row.error == 0 else float("inf")


def _require(path, what):
    if not os.path.isfile(path):
        raise SelfcheckError("%s not found at %s (run the self-check from a clone of the repository)" % (what, path))
    return path


# --- 1. custom ops against reference ops ------------------------------------------------------------

def _op_cases(quick):
    """(name, function of impl -> list of arrays) for the op comparisons."""
    import tensorflow as tf
    from tf_stylegan2 import ops
    rng = np.random.RandomState(0)
    cases = []
    upfirdn = [(2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)), (1, 1, (1, 1, 1, 1))]
    for up, down, pad in upfirdn[:1] if quick else upfirdn:
        x = tf.constant(rng.standard_normal([2, 8, 8, 16]).astype(np.float32))
        f = rng.standard_normal([4, 4]).astype(np.float32)

        def upfirdn2d(impl, x=x, f=f, up=up, down=down, pad=pad):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = ops.upfirdn2d(x, f, up=up, down=down, pad=pad, impl=impl)
                loss = tf.reduce_sum(tf.square(y))
            return [v.numpy() for v in (y, tape.gradient(loss, x))]
        cases.append(("upfirdn2d up=%d down=%d (value, gradient)" % (up, down), upfirdn2d))
    for act in ("lrelu",) if quick else ("lrelu", "linear", "relu", "tanh", "sigmoid", "swish"):
        x = tf.constant(rng.standard_normal([4, 6, 6, 8]).astype(np.float32))
        b = tf.constant(rng.standard_normal([8]).astype(np.float32))

        def bias_act(impl, x=x, b=b, act=act):
            with tf.GradientTape() as outer:
                outer.watch([x, b])
                with tf.GradientTape() as inner:
                    inner.watch([x, b])
                    y = ops.fused_bias_act(x, b, act=act, clamp=1.5, impl=impl)
                    loss = tf.reduce_sum(y * y * x)
                gx, gb = inner.gradient(loss, [x, b])
                second = tf.reduce_sum(gx * gx) + tf.reduce_sum(gb)
            return [v.numpy() for v in [y, gx, gb] + outer.gradient(second, [x, b])]
        cases.append(("fused_bias_act %s (value, 1st and 2nd order gradients)" % act, bias_act))
    return cases


def check_ops(opts):
    from tf_stylegan2.ops import custom
    problem = custom.load(build=True)
    if problem is not None:
        return [Row("ops: custom-op library", 0.0, 0.0, "not available, nothing compared: %s" % problem)]
    rows = []
    for name, fn in _op_cases(opts["quick"]):
        ref, got = fn("ref"), fn("custom")
        worst, tol = 0.0, 0.0
        for a, b in zip(got, ref):
            scale = OPS_RTOL * max(float(np.abs(b).max(initial=0.0)), 1e-30)
            err = float(np.abs(a - b).max(initial=0.0))
            if tol == 0.0 or err / scale > worst / tol:
                worst, tol = err, scale
        rows.append(Row("ops: " + name, worst, tol, "custom vs reference"))
    return rows


# --- 2. fixture networks against NVIDIA's outputs -----------------------------------------------------

def _network_rows(name, impl):
    from tf_stylegan2.official import load_pickle
    from tf_stylegan2.ops import dispatch
    nets = load_pickle(_require(os.path.join(DATA, name, "network.pkl"), "fixture network %s" % name))
    with np.load(_require(os.path.join(DATA, name, "reference.npz"), "fixture outputs %s" % name)) as f:
        ref = {k: f[k] for k in f.files}
    G, D = nets.G_ema, nets.D
    c = ref.get("c")
    d_c = ref.get("D_random_c")
    os.environ[dispatch.ENV_VAR] = impl

    w = G.mapping(ref["z"], c).numpy()
    img = G.synthesis(ref["w_psi1"]).numpy()
    score = D(ref["D_random_images"][:4].transpose(0, 2, 3, 1), None if d_c is None else d_c[:4]).numpy()
    pairs = (("mapping w", w, ref["w_psi1"]), ("synthesis image", img, ref["img_psi1_batched"].transpose(0, 2, 3, 1)),
             ("D scores", score, ref["D_score_random_batch4"]))
    return [Row("networks: %s %s (%s ops)" % (name, what, impl), float(np.abs(ours - theirs).max()), NETWORK_ATOL,
                "vs NVIDIA's stored outputs") for what, ours, theirs in pairs]


def check_networks(opts):
    from tf_stylegan2.ops import custom, dispatch
    impls = ["ref"] + (["custom"] if custom.load(build=False) is None else [])
    saved = os.environ.get(dispatch.ENV_VAR)
    try:
        fixtures = NETWORK_FIXTURES[:1] if opts["quick"] else NETWORK_FIXTURES
        return [row for name in fixtures for impl in impls for row in _network_rows(name, impl)]
    finally:
        if saved is None:
            os.environ.pop(dispatch.ENV_VAR, None)
        else:
            os.environ[dispatch.ENV_VAR] = saved


# --- 3. NVIDIA's training trajectory -------------------------------------------------------------------

def _trajectory_extras(recording, b, extras):
    """Rows for minibatch `b`'s pl_mean, G_ema beta and loss reports (the means of NVIDIA's
    per-sample `training_stats.report` values; rtol 1e-4 at b = 0, where the weights are the same,
    1e-3 later, plus 1e-6)."""
    snap = "after_mb%d" % b
    pl_ref = float(recording.arrays["pl_mean"][b + 1])
    beta_ref = float(recording.arrays["ema_beta"][b])
    rows = [Row("trajectory: %s pl_mean" % snap, abs(extras["pl_mean"] - pl_ref), 1e-5 * abs(pl_ref) + 1e-9,
                "vs %.6g" % pl_ref),
            Row("trajectory: %s G_ema beta" % snap, abs(extras["ema_beta"] - beta_ref), 1e-12, "vs %.6g" % beta_ref)]
    rtol = 1e-4 if b == 0 else 1e-3
    worst = Row("trajectory: %s loss reports" % snap, 0.0, 1.0, "")
    for phase, reports in recording.info["minibatches"][b]["reports"].items():
        for key, values in reports:
            ref = float(np.mean(values))
            ours = extras["reports"].get(phase, {}).get(key, float("inf"))
            row = Row(worst.check, abs(ours - ref), rtol * abs(ref) + 1e-6, "worst: %s %s" % (phase, key))
            if ratio(row) >= ratio(worst):
                worst = row
    extra_phases = sorted(set(extras["reports"]) - set(recording.info["minibatches"][b]["reports"]))
    if extra_phases:
        worst = Row(worst.check, float("inf"), 0.0, "phases NVIDIA did not run: %s" % ", ".join(extra_phases))
    return rows + [worst]


def check_trajectory(opts):
    from tf_stylegan2.files import save_npz
    from tf_stylegan2.official import load_pickle
    from tf_stylegan2.training import replay
    from tf_stylegan2.training.checkpoints import file_sha256
    if opts["quick"] and not opts["trajectory"]:
        return []
    if opts["trajectory"] and not opts["trajectory_network"]:
        raise SelfcheckError("--trajectory needs --trajectory-network (the pickle the recording starts from)")
    path = opts["trajectory"] or _require(DEFAULT_TRAJECTORY, "trajectory recording")
    network = opts["trajectory_network"] or _require(DEFAULT_TRAJECTORY_NETWORK, "trajectory network")
    if not os.path.isfile(network):
        raise SelfcheckError("--trajectory-network=%s does not exist" % network)
    recording = replay.Recording(path)
    expected = recording.info.get("pkl_sha256")
    if expected and file_sha256(network) != expected:
        raise SelfcheckError("%s starts from a network with SHA-256 %s, %s is another one" % (path, expected, network))
    rows, states = [], {}

    def on_snapshot(snap, snapshot_states, extras):
        results = replay.compare(recording, snap, snapshot_states)
        worst = max(results, key=lambda name: results[name]["ratio"])
        r = results[worst]
        rows.append(Row("trajectory: %s (%d tensors)" % (snap, len(results)), r[r["worst"]], r["tol_" + r["worst"]],
                        "worst: %s %s" % (worst, "max|e|" if r["worst"] == "max" else "rms(e)")))
        if snap != "init":
            rows.extend(_trajectory_extras(recording, int(snap[len("after_mb"):]), extras))
        if opts["save_states"]:
            states.update({"state/%s/%s" % (snap, name): value for name, value in snapshot_states.items()})

    replay.replay(recording, load_pickle(network), on_snapshot)
    if opts["save_states"]:
        save_npz(opts["save_states"], **states)
    return rows


# --- 4. timings (--bench) --------------------------------------------------------------------------------

# (preset, batch) of the generation rows and the training preset, full and --quick.
BENCH_GENERATION = {False: (("config-f-256", 4), ("config-f-1024", 1)), True: (("tiny-8", 4), ("tiny-8", 1))}
BENCH_TRAINING = {False: "config-f-256", True: "tiny-8"}
# One call of every training phase costs about this many generator calls of the same batch (the
# phases' FLOP counts in benchmarks/bench_training.py: 5 + 3 + 7 + 6), times two (tracing call, timed call).
TRAINING_COST_IN_GENERATOR_CALLS = 42
BenchRow = collections.namedtuple("BenchRow", "measurement images_per_s seconds first_s peak_mb detail")


def mixed_precision(device):
    """The reduced-precision dtype of the mixed-precision training row: float16 on a GPU (what
    `options.compute_precision` picks there), bfloat16 on a CPU (auto would train in float32 there)."""
    return "fp16" if device.upper().startswith("GPU") else "bf16"


def _bench_generation(preset, batch, memory):
    from tf_stylegan2 import benchmark
    from tf_stylegan2.seeds import z_from_seeds
    memory.reset()
    G = benchmark.random_generator(preset)
    z = z_from_seeds(range(batch), G.z_dim)
    first, best, calls = benchmark.time_calls(lambda: G(z).numpy())
    return BenchRow("generate %s batch %d fp32" % (preset, batch), batch / best, best, first, memory.peak_mb(),
                    "s per G(z) call, best of %d" % calls)


def _training_name(preset, precision, mode):
    from tf_stylegan2.benchmark import PRESETS
    return "train %s batch %d %s recompute=%s" % (preset, PRESETS[preset][1], precision, mode)


def _bench_training(preset, precision, mode, memory):
    """One call of every phase (traced first); img/s and s/minibatch of the 16-minibatch cycle composed
    from them (G main, D main, G_ema every minibatch, G reg every 4th, D reg every 16th)."""
    from tf_stylegan2 import benchmark
    memory.reset()
    trainer, opts, reals = benchmark.build_trainer(preset, precision=precision, recompute=mode)
    calls = benchmark.phase_calls(trainer, reals)
    schedule = benchmark.cycle_schedule(trainer, opts)
    first, seconds = 0.0, {}
    for phase in benchmark.PHASES:
        t_first, seconds[phase], _ = benchmark.time_calls(calls[phase])
        first += t_first
    cycle = sum(schedule.count(p) * seconds[p] for p in benchmark.PHASES)
    batch = opts["batch_size"]
    return BenchRow(_training_name(preset, precision, mode),
                    benchmark.CYCLE * batch / cycle, cycle / benchmark.CYCLE, first, memory.peak_mb(),
                    "s per minibatch; ms per call: " + " ".join("%s %.0f" % (p, 1e3 * seconds[p])
                                                                 for p in benchmark.PHASES))


def run_bench(opts, on_row=None):
    """Timings on `opts["device"]` within `opts["bench_budget"]` seconds: generation of each
    `BENCH_GENERATION` entry, then training of `BENCH_TRAINING` in float32 and mixed precision,
    each with recompute off and blocks (`--quick`: a tiny 8 px network). A measurement whose
    estimated time does not fit in the budget left is skipped (a row saying so): the first
    generation is always run, the next ones are estimated by the previous one's time, the first
    training by the generator's call time (`TRAINING_COST_IN_GENERATOR_CALLS`), later ones by
    the longest training so far. Returns `BenchRow`s (None values in skipped rows)."""
    import gc
    import time

    import tensorflow as tf
    from tf_stylegan2 import benchmark
    device = check_device(opts.get("device") or "CPU:0")
    quick, budget = opts["quick"], float(opts.get("bench_budget") or 0)
    memory = benchmark.PeakMemory(device)
    jobs = [("generate %s batch %d fp32" % (p, b), "generation", lambda p=p, b=b: _bench_generation(p, b, memory))
            for p, b in BENCH_GENERATION[quick]]
    preset = BENCH_TRAINING[quick]
    for precision in ("fp32", mixed_precision(device)):
        for mode in ("off", "blocks"):
            jobs.append((_training_name(preset, precision, mode), "training",
                         lambda precision=precision, mode=mode: _bench_training(preset, precision, mode, memory)))
    start, rows, took, gen_call = time.perf_counter(), [], {"generation": [], "training": []}, None
    with tf.device("/device:" + device):
        for name, kind, job in jobs:
            if took[kind]:
                estimate = max(took[kind])
            elif kind == "training" and gen_call is not None:
                estimate = TRAINING_COST_IN_GENERATOR_CALLS * gen_call
            else:
                estimate = None  # the first measurement: always run
            left = budget - (time.perf_counter() - start)
            if estimate is not None and estimate > left:
                row = BenchRow(name, None, None, None, None, "skipped: needs about %.0f s, %.0f s of "
                               "--bench-budget left" % (estimate, max(left, 0.0)))
            else:
                t0 = time.perf_counter()
                row = job()
                took[kind].append(time.perf_counter() - t0)
                if kind == "generation" and gen_call is None:
                    gen_call = row.seconds
                gc.collect()
            rows.append(row)
            if on_row:
                on_row(row)
    return rows


def format_bench_row(row):
    if row.images_per_s is None:
        return "%-52s %9s %9s %9s %10s  %s" % (row.measurement, "-", "-", "-", "-", row.detail)
    return "%-52s %9.3f %9.3f %9.1f %10.0f  %s" % (row.measurement, row.images_per_s, row.seconds, row.first_s,
                                                   row.peak_mb, row.detail)


BENCH_HEADER = "%-52s %9s %9s %9s %10s  %s" % ("timing", "img/s", "s", "first [s]", "peak [MB]", "what s is")


CHECKS = collections.OrderedDict([("ops", check_ops), ("networks", check_networks), ("trajectory", check_trajectory)])


def check_device(device):
    """`device` ("CPU:0", "GPU:0", ...) if this machine has it, else SelfcheckError."""
    import tensorflow as tf
    known = [d.name.replace("/device:", "") for d in tf.config.list_logical_devices()]
    if device not in known:
        raise SelfcheckError("--device=%s: this machine has %s" % (device, ", ".join(known)))
    return device


def run_checks(opts, names=None, on_row=None):
    """Run `CHECKS` (or those in `names`) on `opts["device"]` (e.g. "CPU:0", "GPU:0").

    Args:
      opts: dict(device, quick, trajectory, trajectory_network, save_states).
      on_row: called with each `Row` as soon as it is computed.
    Returns:
      the rows, in order.
    Raises:
      SelfcheckError: the device does not exist, fixtures or a recording are missing or do not fit.
    """
    import tensorflow as tf
    device = check_device(opts.get("device") or "CPU:0")
    rows = []
    with tf.device("/device:" + device):
        for name in names or CHECKS:
            for row in CHECKS[name](opts):
                rows.append(row)
                if on_row:
                    on_row(row)
    return rows


def _number(x):
    """A float for JSON: non-finite values as the strings "inf" / "nan" (strict JSON has no Infinity)."""
    return x if np.isfinite(x) else str(x)


def format_row(row):
    status = "ok" if ratio(row) <= 1 else "OUT OF TOLERANCE"
    if row.tolerance == 0 and row.error == 0 and row.detail.startswith("not available"):
        status = "skipped"
    return "%-68s %11.3g %11.3g %8.3f  %-16s %s" % (row.check, row.error, row.tolerance, ratio(row), status, row.detail)


HEADER = "%-68s %11s %11s %8s  %-16s %s" % ("check", "worst error", "tolerance", "ratio", "result", "where")


def main():
    from absl import flags

    from tf_stylegan2.apps import cli
    flags.DEFINE_string("device", "CPU:0", "The device to check, e.g. CPU:0 or GPU:0.")
    flags.DEFINE_string("trajectory", None, "A recording of NVIDIA's training loop (.npz, its .json beside it); "
                        "default: tests/data/trajectory/trajectory.npz.")
    flags.DEFINE_string("trajectory_network", None, "The pickle --trajectory starts from.")
    flags.DEFINE_string("save_states", None, "Write the replayed states to this .npz (recording keys, official "
                        "layout).")
    flags.DEFINE_boolean("quick", False, "Fewer op cases, the public fixture only, no trajectory replay (unless "
                         "--trajectory is given).")
    flags.DEFINE_boolean("json", False, "One JSON line instead of the table.")
    flags.DEFINE_boolean("bench", False, "Add timings: generation and training (fp32 and mixed precision, recompute "
                         "off and blocks) at config-f 256 (generation at 1024 too); with --quick, of a tiny network.")
    flags.DEFINE_float("bench_budget", 480, "Seconds the whole command may take with --bench (checks included): "
                       "timings estimated not to fit in what is left are skipped (a row says so).")
    FLAGS = flags.FLAGS

    def selfcheck():
        """Custom ops vs reference ops, the fixture networks vs NVIDIA's outputs, NVIDIA's training
        trajectory replayed; exit status 1 when anything is out of tolerance."""
        import time

        import tensorflow as tf
        from absl import logging
        started = time.perf_counter()
        logging.set_verbosity(logging.ERROR)  # the checks build many small graphs: no retracing notices
        tf.get_logger().setLevel("ERROR")
        opts = dict(device=FLAGS.device, quick=FLAGS.quick, trajectory=FLAGS.trajectory,
                    trajectory_network=FLAGS.trajectory_network, save_states=FLAGS.save_states,
                    bench_budget=FLAGS.bench_budget)
        check_device(FLAGS.device)
        if FLAGS.bench_budget < 0:
            raise SelfcheckError("--bench-budget must be >= 0 seconds, got %g" % FLAGS.bench_budget)
        if not FLAGS.json:
            print(HEADER, flush=True)
        rows = run_checks(opts, on_row=None if FLAGS.json else lambda row: print(format_row(row), flush=True))
        failed = [row for row in rows if ratio(row) > 1]
        if not FLAGS.json:
            print("%d check(s), %d out of tolerance" % (len(rows), len(failed)))
        timings = []
        if FLAGS.bench:
            opts["bench_budget"] = max(FLAGS.bench_budget - (time.perf_counter() - started), 0.0)
            if not FLAGS.json:
                from tf_stylegan2.benchmark import PeakMemory
                from tf_stylegan2.ops import dispatch
                print("\ntimings on %s (ops %s, peak memory: %s; %.0f s of the %.0f s budget left)\n%s" % (
                    FLAGS.device, dispatch.default_impl(), PeakMemory(FLAGS.device).kind, opts["bench_budget"],
                    FLAGS.bench_budget, BENCH_HEADER), flush=True)
            timings = run_bench(opts, on_row=None if FLAGS.json else lambda r: print(format_bench_row(r), flush=True))
        if FLAGS.json:
            result = dict(device=FLAGS.device, ok=not failed, checks=[
                dict(check=r.check, error=_number(r.error), tolerance=r.tolerance, ratio=_number(ratio(r)),
                     ok=ratio(r) <= 1, detail=r.detail) for r in rows])
            if FLAGS.bench:
                result["bench"] = [r._asdict() for r in timings]
            print(json.dumps(result))
        if failed:
            sys.exit(1)

    cli.run(selfcheck)


if __name__ == "__main__":
    main()
