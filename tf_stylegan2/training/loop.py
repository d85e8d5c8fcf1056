"""The training loop of StyleGAN2-ADA's `training_loop.py` (spec §10, §12.2-12.3): phases per
minibatch, G_ema, the ADA p heuristic, ticks, the run directory's logs, image grids, network
snapshots and checkpoints.

`train(args)` starts a run (from scratch or fine-tuning a network) or continues one in place;
`run(...)` is the loop over an opened run.
"""

import contextlib
import json
import os
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2 import datasets, metrics
from tf_stylegan2.files import atomic_path, create_run_dir
from tf_stylegan2.networks import Discriminator, Generator
from tf_stylegan2.official import Networks, save_pickle
from tf_stylegan2.stylegan1 import StyleGAN1Generator
from tf_stylegan2.training import augment, checkpoints, distribute, grid, options
from tf_stylegan2.training.data import BatchStream
from tf_stylegan2.training.schedule import Schedule
from tf_stylegan2.training.stats import Accumulator, StatsWriter, cpu_mem_gb, nonfinite_keys, truncate_jsonl
from tf_stylegan2.training.trainer import Trainer

OPTIONS_FILE = "training_options.json"
class TrainingError(ValueError):
    """Training cannot start or continue (one-line message)."""


class RunLog:
    """Prints to stdout and appends to `<run_dir>/log.txt` (flushed per line)."""

    def __init__(self, run_dir=None):
        self.path = os.path.join(run_dir, "log.txt") if run_dir else None

    def __call__(self, text=""):
        print(text, flush=True)
        if self.path:
            with open(self.path, "a") as f:
                f.write(text + "\n")


class _Tee:
    """A text stream that writes to `stream` and appends to the open file `log`."""

    def __init__(self, stream, log):
        self.stream, self.log = stream, log

    def write(self, text):
        self.log.write(text)
        self.log.flush()
        return self.stream.write(text)

    def __getattr__(self, name):  # flush, isatty, fileno, encoding: the terminal's
        return getattr(self.stream, name)


@contextlib.contextmanager
def _stderr_to_log(run_dir):
    stream = sys.stderr
    with open(os.path.join(run_dir, "log.txt"), "a") as log:
        sys.stderr = _Tee(stream, log)
        try:
            yield
        finally:
            sys.stderr = stream


def format_time(seconds):
    """ADA's `format_time`: `Ns`, `Mm SSs`, `Hh MMm SSs` or `Dd HHh MMm`."""
    s = int(np.rint(seconds))
    if s < 60:
        return "%ds" % s
    if s < 3600:
        return "%dm %02ds" % (s // 60, s % 60)
    if s < 86400:
        return "%dh %02dm %02ds" % (s // 3600, (s // 60) % 60, s % 60)
    return "%dd %02dh %02dm" % (s // 86400, (s // 3600) % 24, (s // 60) % 60)


def is_run_dir(path):
    return bool(path) and os.path.isdir(path) and os.path.exists(os.path.join(path, OPTIONS_FILE))


def open_training_set(path, use_labels=True):
    """`datasets.open_dataset` plus the checks training needs (non-empty, square power-of-two images)."""
    if not path:
        raise TrainingError("no dataset: give --data (or --data-dir and --dataset)")
    ds = datasets.open_dataset(path, use_labels=use_labels)
    if ds.num_images == 0:
        raise TrainingError("dataset %s holds no images" % path)
    r = ds.resolution
    if r < 4 or r & (r - 1):
        raise TrainingError("dataset %s is %dx%d: the networks need a power-of-two resolution >= 4 (make one with "
                            "dataset_tool.py --resolution)" % (path, r, r))
    return ds


def _load_resume_networks(source, ds, cond):
    from tf_stylegan2.sources import load_network
    nets = load_network(options.RESUME_ALIASES.get(source, source), progress=True)
    if nets.G is None or nets.D is None:
        raise TrainingError("--resume=%s has no training G and D (a SavedModel?): give a pickle or converted "
                            "directory" % source)
    if isinstance(nets.G, StyleGAN1Generator):
        raise TrainingError("--resume=%s is a StyleGAN (v1) network: training v1 networks (progressive growing) "
                            "is not supported, they load for generation, projection and export only" % source)
    G = nets.G
    if (G.img_resolution, G.img_channels) != (ds.resolution, ds.num_channels):
        raise TrainingError("--resume network makes %dx%d images with %d channels, but dataset %s is %dx%d with %d"
                            % (G.img_resolution, G.img_resolution, G.img_channels, ds.name, ds.resolution,
                               ds.resolution, ds.num_channels))
    label_dim = ds.label_dim if cond else 0
    if G.c_dim != label_dim:
        raise TrainingError("--resume network takes %d labels, but the run has %d (%s)"
                            % (G.c_dim, label_dim, "--cond" if cond else "no --cond"))
    return nets


def train(args, log=None):
    """Start or continue a run from command-line values (see `options.training_options` for `args`;
    `args["resume"]` may be a run directory: continue it in place; `args["inception"]`, `args["vgg16"]`:
    the metric detectors' files, see `metric_detectors`), on the devices of `args["gpus"]`
    and the cluster of `TF_CONFIG` (`distribute.make_strategy`; call before TensorFlow runs anything
    for a cluster).

    Returns:
      the run directory (None on a worker that is not the chief).
    """
    strategy = distribute.make_strategy(args.get("gpus"))
    with strategy.scope():
        return _train(dict(args, gpus=strategy.num_replicas_in_sync), log)


def _train(args, log):
    resume = args.get("resume")
    if resume and is_run_dir(resume):
        opts = _read_options(resume)
        log = log or RunLog(resume)
        ckpt = checkpoints.find_valid(resume, log=log)
        resumed = options.resumed_options(opts, args)
        if resumed != opts:
            opts = _record_options(resume, resumed)
        detectors = metric_detectors(opts["metrics"], None, args.get("inception"), args.get("vgg16"))
        run(opts, resume, checkpoint=ckpt, log=log, detectors=detectors)
        return resume

    data = args.get("data") or (os.path.join(args["data_dir"], args["dataset"]) if args.get("data_dir") and
                                args.get("dataset") else None)
    if args.get("data_dir") and not os.path.isdir(args["data_dir"]):
        raise TrainingError("dataset root directory does not exist: %s" % args["data_dir"])
    ds = open_training_set(data, use_labels=bool(args.get("cond")))
    args = dict(args, data=data)
    nets = _load_resume_networks(resume, ds, bool(args.get("cond"))) if resume else None
    opts = options.training_options(args, ds)
    if nets is not None:
        opts["G_kwargs"], opts["D_kwargs"] = nets.G.get_config(), nets.D.get_config()
        group = nets.D.mbstd_group_size
        if nets.D.mbstd is not None and group and opts["batch_gpu"] % min(group, opts["batch_gpu"]):
            raise TrainingError("the per-GPU batch %d does not split into the --resume D's minibatch-stddev groups "
                                "of %d" % (opts["batch_gpu"], group))
    detectors = metric_detectors(opts["metrics"], None, args.get("inception"), args.get("vgg16"))
    outdir = args.get("outdir") or "results"
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise TrainingError("result directory %s exists and is not a directory" % outdir)
    if not distribute.is_chief():
        with tempfile.TemporaryDirectory(prefix="worker-") as scratch:  # the chief alone writes the run
            run(dict(opts, run_dir=scratch), scratch, networks=nets, log=log, detectors=detectors)
        return None
    run_dir = create_run_dir(outdir, opts["desc"])
    opts["run_dir"] = run_dir
    _write_options(run_dir, opts)
    run(opts, run_dir, networks=nets, log=log, detectors=detectors)
    return run_dir


def _record_options(run_dir, opts):
    """`opts` of a resumed run with new resume-time values (`options.resumed_options`), recorded
    in the run's options file by the chief."""
    if distribute.is_chief():
        _write_options(run_dir, opts)
    return opts


def _read_options(run_dir):
    """`training_options.json` of `run_dir` (TrainingError naming it when it is unreadable)."""
    path = os.path.join(run_dir, OPTIONS_FILE)
    try:
        with open(path, "rb") as f:
            opts = json.loads(f.read().decode("utf-8"))
        if not isinstance(opts, dict) or "total_kimg" not in opts:
            raise ValueError("not a training options dict")
    except (OSError, ValueError) as e:
        raise TrainingError("%s is unreadable (%s): the run cannot be resumed" % (path, str(e).splitlines()[0]))
    return opts


def _write_options(run_dir, opts):
    """`training_options.json` of `run_dir`, written atomically."""
    with atomic_path(os.path.join(run_dir, OPTIONS_FILE)) as tmp:
        with open(tmp, "w") as f:
            json.dump(opts, f, indent=2)


def precision_line(opts, precision):
    """One log line: what computes in which dtype."""
    if precision == "fp32":
        return "Precision: float32 throughout" + (" (auto on a CPU: bfloat16 trains slower here)"
                                                  if opts.get("num_fp16_res") else "")
    return "Mixed precision: the %d highest resolutions of G and D in %s, conv_clamp %s" % (
        opts["num_fp16_res"], {"fp16": "float16", "bf16": "bfloat16"}[precision],
        opts["D_kwargs"].get("conv_clamp") or 256)


def build_networks(opts):
    """Fresh `Networks(G, D, G_ema)` from the options' configs; G_ema starts as a copy of G."""
    G = Generator.from_config(dict(opts["G_kwargs"], name="G"))
    G_ema = Generator.from_config(dict(opts["G_kwargs"], name="G_ema"))
    D = Discriminator(**dict(opts["D_kwargs"], name="D"))
    for src, dst in zip(G.weights, G_ema.weights):
        dst.assign(src)
    return Networks(G, D, G_ema)


def _augment_pipe(opts):
    if not opts.get("augment_kwargs"):
        return None
    spec = augment.AUGPIPE_SPECS[opts["augment_kwargs"]["augpipe"]]
    return augment.AugmentPipe(p=opts["augment_p"], **spec)


def metric_detectors(names, detectors=None, inception=None, vgg16=None):
    """The feature detectors the metrics `names` need, loaded once per run: `{"inception": ...,
    "vgg16": ..., "distance": ...}` for `metrics.calc_metric`; entries of `detectors` are kept.
    `inception`: a `.pb`/`.tgz` path or URL (None: TensorFlow's graph, downloaded once into the
    cache); `vgg16`: "imagenet" (None: the same, Keras's download) or a Keras weights file, for PR
    (the whole classifier) and PPL (its convolutional part)."""
    out = dict(detectors or {})
    kinds = {metrics.parse_metric(name).kind for name in names}
    if kinds & {"fid", "kid", "is"} and out.get("inception") is None:
        out["inception"] = metrics.load_inception(inception)
    if "pr" in kinds and out.get("vgg16") is None:
        out["vgg16"] = metrics.load_vgg16(vgg16 or "imagenet")
    if "ppl" in kinds and out.get("distance") is None:
        out["distance"] = metrics.lpips_distance(vgg16 or "imagenet")
    return out


def run(opts, run_dir, networks=None, checkpoint=None, log=None, detectors=None):
    """`_run`, with stderr also appended to `<run_dir>/log.txt` (ADA's log holds both streams)."""
    with _stderr_to_log(run_dir):
        return _run(opts, run_dir, networks, checkpoint, log, detectors)


def _run(opts, run_dir, networks=None, checkpoint=None, log=None, detectors=None):
    """Train per `opts` in `run_dir`: from `networks` (fine-tuning) or fresh ones, or continue from
    `checkpoint` (a checkpoint directory of this run). `opts["metrics"]` are evaluated on G_ema after
    every network snapshot with `detectors` (see `metric_detectors`; loaded when not given).

    Raises:
      TrainingError: a dataset that does not fit the options, or non-finite losses (training stops;
        the last snapshot and checkpoint stay as they were).
    """
    log = log or RunLog(run_dir)
    detectors = metric_detectors(opts["metrics"], detectors)
    tso = opts["training_set_kwargs"]
    ds = open_training_set(tso["path"], use_labels=tso["use_labels"])
    if (ds.resolution, ds.num_channels) != (tso["resolution"], tso["num_channels"]):
        raise TrainingError("dataset %s is now %dx%d with %d channels, the run was made for %dx%d with %d"
                            % (tso["path"], ds.resolution, ds.resolution, ds.num_channels, tso["resolution"],
                               tso["resolution"], tso["num_channels"]))
    if (ds.label_dim if tso["use_labels"] else 0) != tso["label_dim"]:
        raise TrainingError("dataset %s has %d labels, the run was made for %d" % (tso["path"], ds.label_dim,
                                                                                  tso["label_dim"]))
    seed = int(opts["random_seed"])
    keras.utils.set_random_seed(seed)  # the initial weights and TF's op-level randomness follow --seed
    G, D, G_ema = networks if networks is not None else build_networks(opts)
    pipe = _augment_pipe(opts)
    trainer = Trainer(G, D, G_ema, opts, labels=ds.labels if tso["use_labels"] else None, augment_pipe=pipe,
                      seed=seed)
    log(precision_line(opts, trainer.precision) + (", XLA-compiled phases" if trainer.xla else ""))
    meta = dict(cur_nimg=0, cur_tick=0, batch_idx=0, total_sec=0.0, data_position=[0, 0], ada_signs=[0.0, 0.0])
    if checkpoint is not None:
        meta.update(checkpoints.load(checkpoint, trainer.state_variables()))
        truncate_jsonl(os.path.join(run_dir, "stats.jsonl"), meta["cur_tick"] - 1)
        log("Resuming from %s (tick %d, kimg %.1f)" % (checkpoint, meta["cur_tick"], meta["cur_nimg"] / 1000))
        if meta["cur_nimg"] >= opts["total_kimg"] * 1000:
            log("The run is complete (%g kimg): nothing to do" % opts["total_kimg"])
            return
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if opts.get("num_replicas", 1) != replicas:
        raise TrainingError("the run trains on %d replicas, this process has %d: give --gpus=%d"
                            % (opts.get("num_replicas", 1), replicas, opts.get("num_replicas", 1)))
    stream = BatchStream(ds, distribute.worker_batch(opts["batch_size"]), seed=distribute.worker_seed(seed),
                         mirror=tso["xflip"], position=meta["data_position"])

    (gw, gh), grid_reals, grid_c = grid.select_reals(ds, mirror=tso["xflip"], use_labels=tso["use_labels"])
    grid_z = np.random.RandomState(seed).randn(gw * gh, G.z_dim).astype(np.float32)
    writer = StatsWriter(run_dir)
    if checkpoint is None:
        log("Training options:\n" + json.dumps(opts, indent=2))
        log("Training for %g kimg..." % opts["total_kimg"])
        grid.save_grid(os.path.join(run_dir, "reals.png"), grid_reals, (gw, gh), (0, 255))
        fakes = grid.render_fakes(G_ema, grid_z, grid_c)
        grid.save_grid(os.path.join(run_dir, "fakes_init.png"), fakes, (gw, gh), (-1, 1))

    loop = _Loop(opts, run_dir, trainer, stream, writer, log, meta, (gw, gh), grid_z, grid_c,
                 lambda pkl: _evaluate_metrics(opts, ds, trainer.G_ema, run_dir, pkl, writer, log, detectors))
    try:
        loop.run()
    finally:
        writer.close()
    log("Exiting...")


class _Loop:
    """The minibatch loop and its per-tick maintenance (one object so the counters live together)."""

    def __init__(self, opts, run_dir, trainer, stream, writer, log, meta, grid_shape, grid_z, grid_c, evaluate):
        self.opts, self.run_dir, self.trainer, self.stream, self.evaluate = opts, run_dir, trainer, stream, evaluate
        self.writer, self.log, self.grid_shape, self.grid_z, self.grid_c = writer, log, grid_shape, grid_z, grid_c
        self.cond = bool(opts["training_set_kwargs"]["use_labels"])
        self.schedule = Schedule(trainer, opts, meta["cur_nimg"], meta["batch_idx"], meta["ada_signs"])
        self.cur_tick = meta["cur_tick"]
        self.start_time = time.time() - meta["total_sec"]
        self.stats = Accumulator()
        self.timing = {}
        self.chief = distribute.is_chief()

    @property
    def cur_nimg(self):
        return self.schedule.cur_nimg

    def _timed(self, name, fn, *args):
        t0 = time.time()
        out = fn(*args)
        self.stats.add({k: v.numpy() for k, v in out.items()})
        self.timing[name] = (time.time() - t0) * 1000
        return out

    def step(self):
        """One minibatch of the next reals (`schedule.Schedule.step`), its phases timed and their
        statistics accumulated."""
        reals, labels = self.stream.next()
        self.schedule.step(reals, labels if self.cond else None, run_phase=self._timed)

    def run(self):
        opts = self.opts
        total_nimg = opts["total_kimg"] * 1000
        tick_start_nimg, tick_start_time = self.cur_nimg, time.time()
        maintenance_time = 0.0
        while True:
            self.step()
            done = self.cur_nimg >= total_nimg
            if not done and self.cur_tick != 0 and self.cur_nimg < tick_start_nimg + opts["kimg_per_tick"] * 1000:
                continue
            tick_end_time = time.time()
            summary = self._tick_summary(tick_start_nimg, tick_start_time, tick_end_time, maintenance_time)
            bad = nonfinite_keys(summary)
            if bad:
                last = checkpoints.latest(self.run_dir)
                raise TrainingError("non-finite %s at tick %d (kimg %.1f): training stopped; the last good snapshot "
                                    "and checkpoint are %s" % (", ".join(bad), self.cur_tick, self.cur_nimg / 1000,
                                                               last or "none (none written yet)"))
            self.log(self._progress_line(summary))
            self.writer.write(summary, self.cur_nimg / 1000)
            snap = opts["network_snapshot_ticks"]
            if self.chief and (done or self.cur_tick % opts["image_snapshot_ticks"] == 0):
                self._image_snapshot()
            if self.chief and (done or self.cur_tick % snap == 0):
                self.evaluate(self._network_snapshot())
            self.cur_tick += 1
            tick_start_nimg, tick_start_time = self.cur_nimg, time.time()
            maintenance_time = tick_start_time - tick_end_time
            self.stats.reset()
            if done:
                return

    def _tick_summary(self, tick_start_nimg, tick_start_time, tick_end_time, maintenance_time):
        total_sec = tick_end_time - self.start_time
        tick_sec = tick_end_time - tick_start_time
        tick_kimg = (self.cur_nimg - tick_start_nimg) / 1000
        values = {"Progress/tick": self.cur_tick, "Progress/kimg": self.cur_nimg / 1000,
                  "Progress/augment": float(self.trainer.augment_pipe.p.numpy()) if self.trainer.augment_pipe else 0.0,
                  "Timing/total_sec": total_sec, "Timing/sec_per_tick": tick_sec,
                  "Timing/sec_per_kimg": tick_sec / tick_kimg if tick_kimg else 0.0,
                  "Timing/maintenance_sec": maintenance_time, "Timing/total_hours": total_sec / 3600,
                  "Timing/total_days": total_sec / 86400, "Resources/cpu_mem_gb": cpu_mem_gb(),
                  "Resources/peak_gpu_mem_gb": 0.0}
        values.update({"Timing/" + k: v for k, v in self.timing.items()})
        for key, value in values.items():
            self.stats.add_value(key, value)
        return self.stats.summary()

    def _progress_line(self, s):
        m = {k: v["mean"] for k, v in s.items()}
        return ("tick %-5d kimg %-8.1f time %-12s sec/tick %-7.1f sec/kimg %-7.2f maintenance %-6.1f cpumem %-6.2f "
                "gpumem %-6.2f augment %.3f" % (self.cur_tick, self.cur_nimg / 1000, format_time(m["Timing/total_sec"]),
                                                m["Timing/sec_per_tick"], m["Timing/sec_per_kimg"],
                                                m["Timing/maintenance_sec"], m["Resources/cpu_mem_gb"],
                                                m["Resources/peak_gpu_mem_gb"], m["Progress/augment"]))

    def _image_snapshot(self):
        path = os.path.join(self.run_dir, "fakes%06d.png" % (self.cur_nimg // 1000))
        fakes = grid.render_fakes(self.trainer.G_ema, self.grid_z, self.grid_c)
        with _naming_errors(path):
            image = grid.save_grid(path, fakes, self.grid_shape, (-1, 1))
        self.writer.write_image("fakes", image, self.cur_nimg / 1000)

    def _network_snapshot(self):
        """The snapshot pickle, then the checkpoint (a run resumes from the checkpoint only)."""
        t = self.trainer
        path = os.path.join(self.run_dir, "network-snapshot-%06d.pkl" % (self.cur_nimg // 1000))
        with _naming_errors(path):
            save_pickle(Networks(t.G, t.D, t.G_ema), path)
        meta = dict(cur_nimg=self.cur_nimg, cur_tick=self.cur_tick + 1, batch_idx=self.schedule.batch_idx,
                    total_sec=time.time() - self.start_time, data_position=self.stream.position,
                    ada_signs=self.schedule.ada_signs)
        with _naming_errors(os.path.join(self.run_dir, "checkpoint-%09d" % self.cur_nimg)):
            checkpoints.save(self.run_dir, self.cur_nimg, t.state_variables(), meta)
        return path


def _evaluate_metrics(opts, ds, G_ema, run_dir, snapshot_pkl, writer, log, detectors):
    """Each of `opts["metrics"]` on G_ema: `metric-<name>.jsonl`, the log, TensorBoard `Metrics/<key>`."""
    for name in opts["metrics"]:
        result = metrics.calc_metric(name, G_ema, ds, mirror=opts["training_set_kwargs"]["xflip"], progress=False,
                                     **detectors)
        metrics.report_metric(result, run_dir, snapshot_pkl=snapshot_pkl)
        log(metrics.format_result_line(result, os.path.basename(snapshot_pkl)))
        for key, value in result["results"].items():
            writer.write_scalar("Metrics/" + key, value, int(os.path.basename(snapshot_pkl)[17:23]))


@contextlib.contextmanager
def _naming_errors(path):
    """OSError while writing `path` -> OSError "cannot write <path>: <reason>" (one line)."""
    try:
        yield
    except OSError as e:
        raise OSError("cannot write %s: %s" % (path, e.strerror or e)) from None


