"""An encoder training run (`run_encoder_training.py`): pSp's training loop (`Coach.train`) in a
numbered run directory, resumable exactly after a SIGKILL.

Run directory `<outdir>/<NNNNN>-encoder-<dataset name>/`:
- `training_options.json`: the run's options (this module's names, see `new_options`);
- `log.txt`: what was printed (options, loss lines, validation, checkpoints);
- TensorBoard events: `train/<loss>` every `board_interval` steps, `test/<loss>` at each
  validation (pSp's names: `loss`, `loss_l2`, `loss_lpips`, `loss_id`, `id_improve`, ...), image
  grids `train/faces`, `test/faces`;
- `images/train/<step:06d>.png`, `images/test/<step:06d>.png`: one row per image, columns input | target |
  output (the output of the encoder in eval mode after the step, with the step's noise);
- `checkpoints/best_model.pt` (the lowest validation loss), `checkpoints/iteration_<step>.pt`
  (every `save_interval` steps and at `max_steps`) in pSp's checkpoint format;
- `checkpoint-<step:09d>/`: the resumable state (`training.checkpoints`: encoder weights and
  BatchNorm statistics, optimizer state, latent_avg, trained decoder weights; step, data position,
  best validation loss), written at each validation and pSp checkpoint and at the end.

Step `s` counts optimizer updates; its batch comes from the data order at that point and the
decoder's noise from `[seed, s]` (`step.seeded_noise`), validation noise from `[seed, -1 - batch]`,
so a resumed run repeats the uninterrupted one's computations.
"""

import json
import os
import time

import numpy as np

from tf_stylegan2.encoder_training import data as encoder_data
from tf_stylegan2.encoder_training.checkpoint import PSP_DEFAULT_OPTS, psp_opts, save_psp_checkpoint
from tf_stylegan2.encoder_training.setup import PSP_DEPTHS, Parts
from tf_stylegan2.files import atomic_path, create_run_dir
from tf_stylegan2.progress import Progress
from tf_stylegan2.training import checkpoints, grid
from tf_stylegan2.training.loop import RunLog, format_time, _naming_errors, _stderr_to_log
from tf_stylegan2.training.stats import StatsWriter

OPTIONS_FILE = "training_options.json"
MAX_GRID_IMAGES = 4
# pSp's TrainOptions for the options a run records (the rest of pSp's opts keep its defaults).
PSP_NAMES = {"batch": "batch_size", "test_batch": "test_batch_size", "lr": "learning_rate", "optim": "optim_name",
             "train_decoder": "train_decoder", "start_from_latent_avg": "start_from_latent_avg",
             "l2_lambda": "l2_lambda", "lpips_lambda": "lpips_lambda", "id_lambda": "id_lambda",
             "w_norm_lambda": "w_norm_lambda", "lpips_lambda_crop": "lpips_lambda_crop",
             "l2_lambda_crop": "l2_lambda_crop", "max_steps": "max_steps", "image_interval": "image_interval",
             "board_interval": "board_interval", "val_interval": "val_interval", "save_interval": "save_interval"}
DEFAULTS = dict(decoder=None, encoder_init=None, psp_checkpoint=None, batch=4, test_batch=2, lr=1e-4, optim="ranger",
                start_from_latent_avg=False, l2_lambda=1.0, lpips_lambda=0.8, id_lambda=0.0, w_norm_lambda=0.0,
                lpips_lambda_crop=0.0, l2_lambda_crop=0.0, id_weights=None, lpips_net="alex", lpips_weights=None,
                max_steps=500000, image_interval=100, board_interval=50, val_interval=1000, save_interval=None,
                seed=0, train_decoder=False, encoder_depths=list(PSP_DEPTHS), val_fraction=0.05)
# what --resume=<run dir> may change: the length and the intervals (they do not change the trajectory)
RESUMABLE = ("max_steps", "image_interval", "board_interval", "val_interval", "save_interval")


class RunError(ValueError):
    """A run that cannot start or continue (one-line message)."""


def is_run_dir(path):
    return bool(path) and os.path.isdir(path) and os.path.isfile(os.path.join(path, OPTIONS_FILE))


def new_options(dataset, outdir="results", **options):
    """The options of a new run: `DEFAULTS` updated with `options` (unknown names refused)."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise RunError("unknown options: %s" % ", ".join(unknown))
    return dict(DEFAULTS, dataset=os.fspath(dataset), outdir=os.fspath(outdir), **options)


def read_options(run_dir):
    path = os.path.join(run_dir, OPTIONS_FILE)
    try:
        with open(path, "rb") as f:
            opts = json.loads(f.read().decode("utf-8"))
        if not isinstance(opts, dict) or "encoder_kwargs" not in opts:
            raise ValueError("not an encoder training options file")
    except (OSError, ValueError) as e:
        raise RunError("%s is unreadable (%s): the run cannot be resumed" % (path, str(e).splitlines()[0])) from None
    return opts


def write_options(run_dir, opts):
    with atomic_path(os.path.join(run_dir, OPTIONS_FILE)) as tmp:
        with open(tmp, "w") as f:
            json.dump(opts, f, indent=2)


def checkpoint_opts(opts, decoder):
    """pSp's `opts` for this run's checkpoints: its TrainOptions defaults with the run's values;
    a lambda stays pSp's default (an int 0 for some) unless the run changed it."""
    values = {}
    for ours, theirs in PSP_NAMES.items():
        value = opts[ours]
        if value != PSP_DEFAULT_OPTS[theirs] or type(value) is bool:
            values[theirs] = float(value) if isinstance(PSP_DEFAULT_OPTS[theirs], float) or "lambda" in theirs \
                else value
    return psp_opts(decoder.img_resolution, exp_dir=opts["run_dir"], stylegan_weights=opts["decoder"] or "default",
                    checkpoint_path=opts.get("psp_checkpoint"), **values)


def train(dataset=None, resume=None, log=None, **options):
    """Start a run (`dataset` and `options`, see `DEFAULTS`; `resume` a pSp checkpoint to start
    from) or continue one (`resume` a run directory; only the `RESUMABLE` options may be given again).

    Returns the run directory.
    Raises:
      RunError, SetupError, DataError, NetworkPickleError, CheckpointError: one-line messages.
    """
    if is_run_dir(resume):
        changed = sorted(k for k in options if k not in RESUMABLE + ("outdir",))
        if changed or dataset:
            raise RunError("--%s would change the run that --resume=%s continues (its options come from its %s); "
                           "drop it, or start a new run" % ((changed or ["dataset"])[0].replace("_", "-"), resume,
                                                            OPTIONS_FILE))
        opts = read_options(resume)
        opts.update({k: v for k, v in options.items() if k in RESUMABLE})
        state = checkpoints.find_valid(resume, log=log or RunLog(resume))
        parts = Parts(opts, resuming=True)
        write_options(resume, opts)
        return _Run(opts, resume, parts, log).run(state)
    if resume and not os.path.isfile(resume):
        raise RunError("--resume=%s is neither a run directory (with %s) nor a pSp checkpoint file" % (resume,
                                                                                                       OPTIONS_FILE))
    if not dataset:
        raise RunError("give --dataset (a generate-pairs directory or zip, or an image folder)")
    opts = new_options(dataset, psp_checkpoint=resume, **options)
    parts = Parts(opts)
    opts["encoder_kwargs"] = parts.encoder_kwargs
    outdir = opts["outdir"]
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise RunError("result directory %s exists and is not a directory" % outdir)
    run_dir = create_run_dir(outdir, "encoder-" + parts.dataset.name)
    opts["run_dir"] = run_dir
    write_options(run_dir, opts)
    return _Run(opts, run_dir, parts, log).run(None)


class _Run:
    """The loop over an opened run (one object so the counters live together)."""

    def __init__(self, opts, run_dir, parts, log):
        self.opts, self.run_dir, self.parts = opts, run_dir, parts
        self.log = log or RunLog(run_dir)
        self.seed = int(opts["seed"])
        n = len(parts.dataset)
        self.n_train = n - parts.n_val
        self.val = encoder_data.val_batches(self.n_train, parts.n_val, int(opts["test_batch"]))
        self.psp_opts = checkpoint_opts(opts, parts.decoder)
        self.meta = dict(step=0, position=[0, 0], best_val_loss=None, total_sec=0.0)

    def run(self, state):
        with _stderr_to_log(self.run_dir):
            self._run(state)
        return self.run_dir

    def _run(self, state):
        opts, parts = self.opts, self.parts
        if state is not None:
            self.meta.update(checkpoints.load(state, parts.state_variables()))
            self.log("Resuming from %s (step %d)" % (state, self.meta["step"]))
        else:
            self.log("Training options:\n" + json.dumps(opts, indent=2))
            self.log("%d training pairs, %d held out for validation (the last %d in file order)"
                     % (self.n_train, parts.n_val, parts.n_val))
        order = encoder_data.BatchOrder(self.n_train, int(opts["batch"]), self.seed, self.meta["position"])
        step, max_steps = self.meta["step"], int(opts["max_steps"])
        if step >= max_steps:
            self.log("The run is complete (%d steps): nothing to do" % max_steps)
            return
        self.writer = StatsWriter(self.run_dir)
        progress = Progress(total=max_steps, desc="train")
        progress.update(step)
        start = time.time() - self.meta["total_sec"]
        try:
            while step < max_steps:
                indices = order.next()
                x, y = parts.dataset.read(indices)
                terms = parts.step.step(x, y, noise_seed=[self.seed, step + 1])
                step += 1
                terms = {k: float(v) for k, v in terms.items()}
                progress.update(1, status="loss %.4f" % terms["loss"])
                if not np.isfinite(terms["loss"]):
                    raise RunError("non-finite loss at step %d: training stopped; the last checkpoints stay as they "
                                   "were" % step)
                self.meta.update(step=step, position=order.position, total_sec=time.time() - start)
                self._maintenance(step, terms, x, y)
        finally:
            progress.close()
            self.writer.close()
        self.log("Training done: %d steps in %s" % (step, format_time(time.time() - start)))

    def _due(self, step, key):
        interval = self.opts[key]
        return step == int(self.opts["max_steps"]) or (interval is not None and step % int(interval) == 0)

    def _maintenance(self, step, terms, x, y):
        if self._due(step, "board_interval"):
            for key, value in terms.items():
                self.writer.write_scalar("train/" + key, value, step / 1000)
            self.log("step %-7d %s  time %s" % (step, _terms_text(terms), format_time(self.meta["total_sec"])))
        if self._due(step, "image_interval"):
            self._grid("train", step, x[:MAX_GRID_IMAGES], y[:MAX_GRID_IMAGES], [self.seed, step])
        saved = False
        if self._due(step, "val_interval") and self.val:
            val = self._validate(step)
            best = self.meta["best_val_loss"]
            if best is None or val["loss"] < best:
                self.meta["best_val_loss"] = val["loss"]
                self._save_psp("best_model.pt", step, val)
            saved = True
        if self._due(step, "save_interval"):
            self._save_psp("iteration_%d.pt" % step, step, terms)
            saved = True
        if saved or step == int(self.opts["max_steps"]):
            path = os.path.join(self.run_dir, "checkpoint-%09d" % step)
            with _naming_errors(path):
                checkpoints.save(self.run_dir, step, self.parts.state_variables(), self.meta)

    def _validate(self, step):
        """pSp's `validate`: the loss terms over the held-out pairs (eval mode), averaged over batches."""
        sums = {}
        for i, indices in enumerate(self.val):
            x, y = self.parts.dataset.read(indices)
            terms, y_hat = self.parts.step.evaluate(x, y, noise_seed=[self.seed, -1 - i])
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            if i == 0:
                self._save_grid("test", step, x[:MAX_GRID_IMAGES], y[:MAX_GRID_IMAGES], y_hat[:MAX_GRID_IMAGES])
        val = {k: v / len(self.val) for k, v in sums.items()}
        for key, value in val.items():
            self.writer.write_scalar("test/" + key, value, step / 1000)
        self.log("step %-7d validation %s" % (step, _terms_text(val)))
        return val

    def _grid(self, kind, step, x, y, noise_seed):
        _, y_hat = self.parts.step.evaluate(x, y, noise_seed=noise_seed)
        self._save_grid(kind, step, x, y, y_hat)

    def _save_grid(self, kind, step, x, y, y_hat):
        rows = np.stack([x, y, np.asarray(y_hat)], axis=1)  # [n, 3, 256, 256, 3]: input | target | output
        path = os.path.join(self.run_dir, "images", kind, "%06d.png" % step)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with _naming_errors(path):
            image = grid.save_grid(path, rows.reshape((-1,) + rows.shape[2:]), (3, len(rows)), (-1, 1))
        self.writer.write_image(kind + "/faces", image, step / 1000)

    def _save_psp(self, name, step, terms):
        path = os.path.join(self.run_dir, "checkpoints", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        parts = self.parts
        with _naming_errors(path):
            save_psp_checkpoint(path, parts.encoder, parts.decoder, self.psp_opts, parts.latent_avg, bn_steps=step)
        self.log("step %-7d wrote %s (loss %.4f)" % (step, os.path.relpath(path, self.run_dir), terms["loss"]))


def _terms_text(terms):
    return " ".join("%s %.4f" % (k, v) for k, v in sorted(terms.items()))
