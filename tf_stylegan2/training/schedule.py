"""One minibatch of StyleGAN2-ADA's `training_loop.py`: which phases run (lazy regularisation), in
which order, G_ema's decay with its ramp-up, and the ADA p heuristic (spec §10, §12.2)."""

import tensorflow as tf

from tf_stylegan2.training import augment, distribute

PHASES = ("Gmain", "Greg", "Dmain", "Dreg")


def ema_beta(opts, cur_nimg):
    """G_ema's decay for the minibatch starting at `cur_nimg` images:
    `0.5 ** (batch / max(min(ema_kimg * 1000, cur_nimg * ema_rampup), 1e-8))` (no ramp-up when
    `ema_rampup` is None)."""
    ema_nimg = opts["ema_kimg"] * 1000
    if opts["ema_rampup"] is not None:
        ema_nimg = min(ema_nimg, cur_nimg * opts["ema_rampup"])
    return 0.5 ** (opts["batch_size"] / max(ema_nimg, 1e-8))


class Schedule:
    """The loop's counters and its `step`, over a `Trainer`.

    Args:
      trainer: a `trainer.Trainer`.
      opts: the training options (`loss_kwargs`, `batch_size`, `ema_kimg`, `ema_rampup`, `ada_target`,
        `ada_interval`, `ada_kimg`).
      cur_nimg, batch_idx, ada_signs: the counters to continue from (a checkpoint's).
    """

    def __init__(self, trainer, opts, cur_nimg=0, batch_idx=0, ada_signs=(0.0, 0.0)):
        self.trainer, self.opts, self.loss = trainer, opts, opts["loss_kwargs"]
        self.cur_nimg, self.batch_idx, self.ada_signs = int(cur_nimg), int(batch_idx), list(ada_signs)

    def phases_due(self):
        """The phase names of the next minibatch, in the order they run: G main, G reg (every
        `G_reg_interval` minibatches, if `pl_weight` > 0), D main, D reg (every `D_reg_interval`,
        if `r1_gamma` > 0)."""
        k = self.loss
        due = {"Gmain": True, "Greg": k["pl_weight"] > 0 and self.batch_idx % k["G_reg_interval"] == 0,
               "Dmain": True, "Dreg": k["r1_gamma"] > 0 and self.batch_idx % k["D_reg_interval"] == 0}
        return [name for name in PHASES if due[name]]

    def step(self, reals, labels=None, run_phase=None):
        """One minibatch on `reals` (float32 NHWC `[batch, H, W, C]` in [-1, 1], this worker's) and
        their `labels` (None: unconditional): the due phases, G_ema, the counters, ADA's p.

        `run_phase(name, fn, *args)` -> the phase's statistics runs each phase (default: `fn(*args)`;
        the loop times them there).
        Returns:
          `{phase name: statistics dict}` of the phases that ran.
        """
        t, opts = self.trainer, self.opts
        run_phase = run_phase or (lambda name, fn, *args: fn(*args))
        reals, labels = distribute.distribute_batch(reals), distribute.distribute_batch(labels)
        functions = {"Gmain": (t.g_main,), "Greg": (t.g_reg,), "Dmain": (t.d_main, reals, labels),
                     "Dreg": (t.d_reg, reals, labels)}
        out = {name: run_phase(name, *functions[name]) for name in self.phases_due()}
        t.update_ema(tf.constant(ema_beta(opts, self.cur_nimg), tf.float32))
        self.cur_nimg += opts["batch_size"]
        self.batch_idx += 1
        self._adjust_p([out[name]["Loss/signs/real"].numpy() for name in ("Dmain", "Dreg") if name in out])
        return out

    def _adjust_p(self, signs):
        """ADA's heuristic: every `ada_interval` minibatches, p moves by `batch * ada_interval /
        (ada_kimg * 1000)` towards r_t = E[sign(D(real))] = `ada_target`."""
        pipe, opts = self.trainer.augment_pipe, self.opts
        if pipe is None or opts["ada_target"] is None:
            return
        for s in signs:
            self.ada_signs = [self.ada_signs[0] + float(s[0]), self.ada_signs[1] + float(s[2])]
        if self.batch_idx % opts["ada_interval"] == 0:
            rt = self.ada_signs[0] / max(self.ada_signs[1], 1.0)
            pipe.p.assign(augment.adjust_p(float(pipe.p.numpy()), rt, opts["batch_size"], opts["ada_interval"],
                                           opts["ada_kimg"], opts["ada_target"]))
            self.ada_signs = [0.0, 0.0]
