"""Replay a recorded trajectory of NVIDIA's training loop through the production trainer.

A recording (`<name>.npz` + `<name>.json`, the format of the trajectory fixture made from
stylegan2-ada-pytorch's `training_loop.py`) holds every random draw of a few minibatches, the real
images, and the full state of G, D and G_ema (official TF1 names and layouts) before and after
each minibatch, with a tolerance per tensor and snapshot. `replay` feeds the draws to a `Trainer`
through its draw seam (`draws.RecordedDraws`), runs each minibatch with the loop's own
`schedule.Schedule.step`, and compares every tensor after every minibatch:

    max|e| <= tol.max  and  rms(e) <= tol.rms,   e = ours - recorded (over the stored subset for the
                                                  tensors stored as one)

`init` (the pickle the recording starts from) must equal the recording exactly, except
`*/mod_bias` (NVIDIA trains `mod_bias + 1` in float32: within 2^-24).
"""

import json
import os
import zipfile

import numpy as np

from tf_stylegan2.networks.common import to_official
from tf_stylegan2.training import options as options_lib
from tf_stylegan2.training.draws import RecordedDraws
from tf_stylegan2.training.schedule import PHASES, Schedule, ema_beta
from tf_stylegan2.training.trainer import Trainer

NETS = ("G", "D", "G_ema")
MOD_BIAS_INIT_TOL = 2.0 ** -24


class RecordingError(ValueError):
    """A recording that cannot be read or replayed (one-line message)."""


class Recording:
    """A trajectory recording: `path` the `.npz`, its `.json` beside it."""

    def __init__(self, path):
        json_path = os.path.splitext(path)[0] + ".json"
        for p in (path, json_path):
            if not os.path.isfile(p):
                raise RecordingError("trajectory recording %s does not exist" % p)
        try:
            with np.load(path, allow_pickle=False) as data:
                self.arrays = {key: data[key] for key in data.files}
            with open(json_path) as f:
                self.info = json.load(f)
            self.hp = self.info["hyperparameters"]
            self.num_minibatches = int(self.hp["num_minibatches"])
            self.tolerance = self.info["tolerance"]["per_snapshot"]
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
            raise RecordingError("cannot read trajectory recording %s: %s" % (path, e)) from None
        if self.hp.get("augment_pipe"):
            raise RecordingError("%s was recorded with augmentation, which a replay does not draw" % path)
        self.path = path

    def snapshots(self):
        return ["init"] + ["after_mb%d" % b for b in range(self.num_minibatches)]

    def reals(self, b):
        """float32 NHWC `[batch, H, W, C]` in [-1, 1]."""
        return self.arrays["real_img/mb%d" % b].transpose(0, 2, 3, 1)

    def draws(self, b):
        """`{(phase, tag): array}` of minibatch `b` in the trainer's names and layouts (see `draws`)."""
        prefix = "draws/mb%d/" % b
        keys = sorted(k for k in self.arrays if k.startswith(prefix))
        batch = int(self.hp["batch_gpu"])
        all_z = self.arrays[prefix + "data/000_all_gen_z"]
        shrink = int(self.hp["loss_kwargs"]["pl_batch_shrink"])
        out = {}
        for key in keys:
            phase, name = key[len(prefix):].split("/")
            if phase == "data":
                continue
            tag = name.split("_", 1)[1]
            value = self.arrays[key]
            if tag.startswith("noise_"):
                tag = "noise%d" % sum(1 for (p, t) in out if p == phase and t.startswith("noise"))
                value = value.transpose(0, 2, 3, 1)
            elif tag == "pl_noise":
                value = value.transpose(0, 2, 3, 1)
            elif tag == "mix_cutoff":
                value = value.astype(np.int32)
            out[(phase, tag)] = value
        for phase in {p for p, _ in out}:  # all_gen_z: one chunk of `batch` rows per phase, in phase order
            n = batch // shrink if phase == "Greg" else batch
            start = PHASES.index(phase) * batch
            out[(phase, "z")] = all_z[start:start + n]
        return out

    def state(self, snap):
        """`{"<net>/<official name>": (values, flat indices or None)}` of snapshot `snap`."""
        out = {}
        for prefix, subset in (("state/%s/" % snap, False), ("state_subset/%s/" % snap, True)):
            for key in self.arrays:
                if key.startswith(prefix):
                    name = key[len(prefix):]
                    index = self.arrays["subset_index/" + name.split("/", 1)[1]] if subset else None
                    out[name] = (self.arrays[key], index)
        return out


def official_states(networks):
    """`{"<net>/<official name>": float32 array}` of `networks` (`Networks(G, D, G_ema)`) in the
    official TF1 names and layouts (`G/G_mapping/...`, `G/G_synthesis/...`, `G/dlatent_avg`, `D/...`)."""
    out = {}
    for net, model in zip(NETS, networks):
        for name, (var, layout) in model.official_weights().items():
            if net != "D":
                name = name.replace("mapping/", "G_mapping/", 1).replace("synthesis/", "G_synthesis/", 1)
            out["%s/%s" % (net, name)] = np.asarray(to_official(var.numpy(), layout), np.float32)
    return out


def replay_options(hp):
    """The training options of a recording's hyperparameters (ADA's lazy-regularisation Adam)."""
    loss = {k: v for k, v in hp["loss_kwargs"].items() if k != "class_name"}
    loss.update(G_reg_interval=hp["G_reg_interval"], D_reg_interval=hp["D_reg_interval"])
    opts = dict(loss_kwargs=loss, batch_size=hp["batch_size"], batch_gpu=hp["batch_gpu"], ema_kimg=hp["ema_kimg"],
                ema_rampup=hp["ema_rampup"], ada_target=None, num_fp16_res=0, precision="fp32")
    for net in ("G", "D"):
        kw = hp["%s_opt_kwargs" % net]
        opts["%s_opt_kwargs" % net] = options_lib.lazy_adam(kw["lr"], hp["%s_reg_interval" % net],
                                                            betas=kw["betas"], eps=kw["eps"])
    return opts


def _errors(ours, ref, index):
    e = (ours.ravel()[index] if index is not None else ours.ravel()) - ref.ravel()
    e = e.astype(np.float64)
    return float(np.max(np.abs(e))) if e.size else 0.0, float(np.sqrt(np.mean(e * e))) if e.size else 0.0


def _ratio(err, tol):
    if tol > 0:
        return err / tol
    return 0.0 if err == 0 else float("inf")


def compare(recording, snap, states):
    """Every recorded tensor of `snap` against `states` (`official_states`).

    Returns:
      `{name: dict(max, rms, tol_max, tol_rms, ratio, worst)}` with `ratio` the larger of max/tol_max
      and rms/tol_rms (> 1: out of tolerance) and `worst` which of the two ("max" or "rms"); a
      tensor we lack, or of another shape, has ratio inf.
    """
    out = {}
    for name, (ref, index) in recording.state(snap).items():
        ours = states.get(name)
        if ours is None or (index is None and ours.shape != ref.shape):
            out[name] = dict(max=float("inf"), rms=float("inf"), tol_max=0.0, tol_rms=0.0, ratio=float("inf"),
                             worst="max")
            continue
        err_max, err_rms = _errors(ours, ref, index)
        if snap == "init":
            tol_max = tol_rms = MOD_BIAS_INIT_TOL if name.endswith("/mod_bias") else 0.0
        else:
            tol = recording.tolerance[snap][name]
            tol_max, tol_rms = tol["max"], tol["rms"]
        r_max, r_rms = _ratio(err_max, tol_max), _ratio(err_rms, tol_rms)
        out[name] = dict(max=err_max, rms=err_rms, tol_max=tol_max, tol_rms=tol_rms, ratio=max(r_max, r_rms),
                         worst="max" if r_max >= r_rms else "rms")
    return out


def replay(recording, networks, on_snapshot=None):
    """Run the recording's minibatches on `networks` (`Networks(G, D, G_ema)`, the pickle it starts
    from; trained in place) through `Trainer` and `Schedule` on the current device, in float32.

    Args:
      on_snapshot: called as `on_snapshot(snap, states, extras)` for "init" and after every minibatch,
        with `states` from `official_states` and `extras` = dict(pl_mean, ema_beta, reports) (ours:
        `reports` `{phase: {stat key: mean}}`, the ema_beta the schedule used).
    Raises:
      RecordingError: networks that do not fit the recording.
    """
    hp = recording.hp
    opts = replay_options(hp)
    if networks.G.c_dim:
        raise RecordingError("%s: conditional recordings cannot be replayed (the labels are not recorded)"
                             % recording.path)
    specs = {key: (value.shape, value.dtype) for key, value in recording.draws(0).items()}
    draws = RecordedDraws(specs)
    trainer = Trainer(*networks, opts, draws=draws)
    if trainer.rounds != 1:
        raise RecordingError("%s: a replay runs one accumulation round on one device" % recording.path)
    schedule = Schedule(trainer, opts)
    on_snapshot = on_snapshot or (lambda *args: None)
    on_snapshot("init", official_states(networks), dict(pl_mean=0.0, ema_beta=None, reports={}))
    for b in range(recording.num_minibatches):
        draws.load(recording.draws(b))
        beta = ema_beta(opts, schedule.cur_nimg)
        stats = schedule.step(recording.reals(b))
        reports = {phase: {k: float(v[0] / v[2]) for k, v in ((k, v.numpy()) for k, v in s.items())}
                   for phase, s in stats.items()}
        on_snapshot("after_mb%d" % b, official_states(networks),
                    dict(pl_mean=float(trainer.pl_mean.numpy()), ema_beta=beta, reports=reports))
