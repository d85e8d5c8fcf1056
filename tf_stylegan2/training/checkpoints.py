"""Crash-safe training checkpoints: `<run_dir>/checkpoint-<nimg:09d>/` with `state.npz` (every
variable: G, D, G_ema, both optimisers, pl_mean, RNG, augment p) and `meta.json` (counters, data
position, variable paths and shapes).

A checkpoint directory is built under a temporary name and renamed when complete, so a SIGKILL
leaves either the previous checkpoints or the new one, never a half-written one. The newest
`KEEP` complete checkpoints are kept.
"""

import json
import os
import re
import shutil

import numpy as np

from tf_stylegan2.files import atomic_directory

KEEP = 2
_NAME = re.compile(r"^checkpoint-(\d+)$")


class CheckpointError(ValueError):
    """A checkpoint that does not fit the networks being restored (one-line message)."""


def checkpoint_dirs(run_dir):
    """Complete checkpoint directories of a run, oldest first."""
    if not os.path.isdir(run_dir):
        return []
    found = []
    for name in os.listdir(run_dir):
        m = _NAME.match(name)
        path = os.path.join(run_dir, name)
        if m and os.path.exists(os.path.join(path, "meta.json")) and os.path.exists(os.path.join(path, "state.npz")):
            found.append((int(m.group(1)), name, path))
    return [path for _, _, path in sorted(found)]


def latest(run_dir):
    """The newest complete checkpoint directory, or None."""
    dirs = checkpoint_dirs(run_dir)
    return dirs[-1] if dirs else None


def save(run_dir, nimg, variables, meta):
    """Write the checkpoint of a run at `nimg` images atomically, then delete all but the newest `KEEP`.

    Args:
      variables: `{group: [variables]}` (e.g. `Trainer.state_variables()`).
      meta: JSON-serialisable counters (cur_nimg, tick, batch_idx, data position, ...).
    """
    arrays, layout = {}, {}
    for group, group_vars in variables.items():
        layout[group] = []
        for i, var in enumerate(group_vars):
            arrays["%s/%d" % (group, i)] = np.asarray(var.numpy() if hasattr(var, "numpy") else var)
            layout[group].append([getattr(var, "path", None) or var.name, list(var.shape)])
    path = os.path.join(run_dir, "checkpoint-%09d" % nimg)
    with atomic_directory(path) as tmp:
        with open(os.path.join(tmp, "state.npz"), "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump(dict(meta, variables=layout), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
    for old in checkpoint_dirs(run_dir)[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return path


def load(path, variables):
    """Assign a checkpoint's arrays to `variables` (`{group: [variables]}` built like the saved ones).

    Returns:
      the meta dict.
    Raises:
      CheckpointError: a group or shape that differs.
    """
    with open(os.path.join(path, "meta.json")) as f:
        meta = json.load(f)
    with np.load(os.path.join(path, "state.npz"), allow_pickle=False) as data:
        for group, group_vars in variables.items():
            saved = meta["variables"].get(group, [])
            if len(saved) != len(group_vars):
                raise CheckpointError("%s: %s has %d variables, the run has %d" % (path, group, len(saved),
                                                                                  len(group_vars)))
            for i, var in enumerate(group_vars):
                value = data["%s/%d" % (group, i)]
                if tuple(value.shape) != tuple(var.shape):
                    raise CheckpointError("%s: %s variable %s has shape %s, expected %s"
                                          % (path, group, saved[i][0], value.shape, tuple(var.shape)))
                var.assign(value)
    return meta
