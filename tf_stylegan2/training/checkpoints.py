"""Crash-safe training checkpoints: `<run_dir>/checkpoint-<nimg:09d>/` with `state.npz` (every
variable: G, D, G_ema, both optimisers, pl_mean, RNG, augment p, each stored under
`<group>/<variable path>`) and `meta.json`:

    {"format": 2, "meta": {counters, data position, ...},
     "variables": {"<group>/<path>": shape, ...},
     "files": {"state.npz": {"size": bytes, "sha256": hex}},
     "sha256": hex of the canonical JSON of the four fields before it}

A checkpoint directory is built under a temporary name and renamed when complete, so a SIGKILL
leaves either the previous checkpoints or the new one. The newest `KEEP` are kept. On resume,
`find_valid` checks the newest first (files present, sizes and checksums, metadata intact) and
falls back to the previous one, naming the damaged checkpoint in one line; `load` restores by
variable path, checking every name and shape.
"""

import hashlib
import json
import os
import re
import shutil
import zipfile

import numpy as np

from tf_stylegan2.files import atomic_directory

KEEP = 2
FORMAT = 2
STATE_FILE, META_FILE = "state.npz", "meta.json"
_NAME = re.compile(r"^checkpoint-(\d+)$")


class CheckpointError(ValueError):
    """A checkpoint that is damaged, or does not fit the networks being restored (one-line message)."""


def checkpoint_dirs(run_dir):
    """Every `checkpoint-<nimg>` directory of a run (complete or not), oldest first."""
    if not os.path.isdir(run_dir):
        return []
    found = [(int(m.group(1)), os.path.join(run_dir, name))
             for name in os.listdir(run_dir) for m in [_NAME.match(name)] if m]
    return [path for _, path in sorted(found) if os.path.isdir(path)]


def latest(run_dir):
    """The newest checkpoint directory that passes `verify`, or None."""
    for path in reversed(checkpoint_dirs(run_dir)):
        try:
            verify(path)
            return path
        except CheckpointError:
            continue
    return None


def file_sha256(path):
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _body_digest(body):
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _variable_arrays(variables):
    """`{group: {path: variable}}` -> `{"group/path": array}`."""
    return {"%s/%s" % (group, name): np.asarray(var.numpy() if hasattr(var, "numpy") else var)
            for group, named in variables.items() for name, var in named.items()}


def save(run_dir, nimg, variables, meta):
    """Write the checkpoint of a run at `nimg` images atomically, then delete all but the newest `KEEP`.

    Args:
      variables: `{group: {variable path: variable}}` (e.g. `Trainer.state_variables()`).
      meta: JSON-serialisable counters (cur_nimg, tick, batch_idx, data position, ...).
    """
    arrays = _variable_arrays(variables)
    path = os.path.join(run_dir, "checkpoint-%09d" % nimg)
    with atomic_directory(path) as tmp:
        state = os.path.join(tmp, STATE_FILE)
        with open(state, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        body = dict(format=FORMAT, meta=meta, variables={k: list(v.shape) for k, v in arrays.items()},
                    files={STATE_FILE: dict(size=os.path.getsize(state), sha256=file_sha256(state))})
        with open(os.path.join(tmp, META_FILE), "w") as f:
            json.dump(dict(body, sha256=_body_digest(body)), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
    for old in checkpoint_dirs(run_dir)[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return path


def verify(path):
    """Check a checkpoint directory's integrity (without reading its arrays into variables).

    Returns:
      its metadata body (`format`, `meta`, `variables`, `files`).
    Raises:
      CheckpointError: "<path>: <what is wrong>" (a missing file, bad metadata, a size or checksum
        that differs from the metadata's).
    """
    meta_path = os.path.join(path, META_FILE)
    if not os.path.isfile(meta_path):
        raise CheckpointError("%s: %s is missing (an incomplete checkpoint)" % (path, META_FILE))
    try:
        with open(meta_path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
        fmt = doc.get("format", 1)
        if fmt != FORMAT:
            raise CheckpointError("%s: checkpoint format %r, this version reads format %d (written by another "
                                  "version)" % (path, fmt, FORMAT))
        body = {key: doc[key] for key in ("format", "meta", "variables", "files")}
        digest = doc["sha256"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        if isinstance(e, CheckpointError):
            raise
        reason = "missing field %s" % e if isinstance(e, KeyError) else (str(e).splitlines() or [type(e).__name__])[0]
        raise CheckpointError("%s: %s is unreadable (%s)" % (path, META_FILE, reason)) from None
    if _body_digest(body) != digest:
        raise CheckpointError("%s: %s does not match its checksum (damaged metadata)" % (path, META_FILE))
    if not isinstance(body["files"], dict) or STATE_FILE not in body["files"]:
        raise CheckpointError("%s: %s lists no %s" % (path, META_FILE, STATE_FILE))
    for name, expected in body["files"].items():
        file_path = os.path.join(path, name)
        if not os.path.isfile(file_path):
            raise CheckpointError("%s: %s is missing" % (path, name))
        try:
            size = os.path.getsize(file_path)
            if size != expected["size"]:
                raise CheckpointError("%s: %s has %d bytes, %d were written (truncated or replaced)"
                                      % (path, name, size, expected["size"]))
            if file_sha256(file_path) != expected["sha256"]:
                raise CheckpointError("%s: %s does not match its checksum (damaged)" % (path, name))
        except OSError as e:
            raise CheckpointError("%s: %s is unreadable (%s)" % (path, name, e.strerror or e)) from None
    return body


def find_valid(run_dir, log=print):
    """The newest intact checkpoint of `run_dir` (see `verify`); every newer damaged or incomplete
    one is reported with `log` in one line.

    Raises:
      CheckpointError: none is intact: "<run_dir>: no valid checkpoint (<what is wrong with each>)".
    """
    problems = []
    for path in reversed(checkpoint_dirs(run_dir)):
        try:
            verify(path)
        except CheckpointError as e:
            problems.append(str(e))
            continue
        for problem in problems:
            log("Skipping damaged checkpoint %s; resuming from %s" % (problem, os.path.basename(path)))
        return path
    if not problems:
        raise CheckpointError("%s: no checkpoint to resume from (none written yet)" % run_dir)
    raise CheckpointError("%s: no valid checkpoint (%s)" % (run_dir, "; ".join(problems)))


def load(path, variables):
    """Assign a verified checkpoint's arrays to `variables` (`{group: {variable path: variable}}`),
    matched by group and path; every variable must be there with its shape, and nothing else.

    Returns:
      the checkpoint's `meta` dict.
    Raises:
      CheckpointError: damage (see `verify`), or a variable that is missing, extra or of another shape.
    """
    body = verify(path)
    saved = body["variables"]
    wanted = {"%s/%s" % (group, name): var for group, named in variables.items() for name, var in named.items()}
    missing = sorted(set(wanted) - set(saved))
    extra = sorted(set(saved) - set(wanted))
    if missing or extra:
        raise CheckpointError("%s does not fit this run: %s" % (path, "; ".join(
            ["%d variable(s) missing, e.g. %s" % (len(missing), missing[0])] * bool(missing) +
            ["%d unknown variable(s), e.g. %s" % (len(extra), extra[0])] * bool(extra))))
    for key, var in wanted.items():
        if list(saved[key]) != [int(d) for d in var.shape]:
            raise CheckpointError("%s: variable %s has shape %s, the run's has %s"
                                  % (path, key, tuple(saved[key]), tuple(var.shape)))
    try:
        with np.load(os.path.join(path, STATE_FILE), allow_pickle=False) as data:
            values = {key: data[key] for key in wanted}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise CheckpointError("%s: %s is unreadable (%s)" % (path, STATE_FILE, e)) from None
    for key, var in wanted.items():
        if tuple(values[key].shape) != tuple(var.shape):
            raise CheckpointError("%s: array %s has shape %s, its metadata says %s"
                                  % (path, key, values[key].shape, tuple(saved[key])))
        var.assign(values[key])
    return body["meta"]
