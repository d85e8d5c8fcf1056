"""Paired datasets for encoder training: the same W and the same noise rendered by two networks
(e.g. the original and a fine-tuned/blended one), as `run_generator.py generate-pairs` writes them.

Layout of the output directory: `source/seed%04d.png` (network A), `target/seed%04d.png`
(network B), `pairs.json`: `{"network", "network_b", "truncation_psi", "noise_mode", "class_idx",
"num_ws", "w_dim", "pairs": [{"seed", "source", "target", "w"}]}` where `w` is the seed's W
`[w_dim]` (A's mapping of `RandomState(seed).randn(1, z_dim)`, truncated; every layer gets it), or
`[num_ws, w_dim]` where the layers differ (a truncation cutoff).
`pairs.json` is rewritten atomically after each batch, so it always lists complete pairs only.
"""

import json
import os

import numpy as np

from tf_stylegan2 import generation
from tf_stylegan2.files import atomic_path, save_png
from tf_stylegan2.seeds import seeded_noise

PAIR_NOISE_MODES = ("const", "seeded", "random", "none")


def check_arguments(a, b, noise_mode="const", class_idx=None):
    """Raises ValueError (one line) unless B can render A's W (same `num_ws` and `w_dim`), both
    take noise overrides, the noise mode is known and the class fits A."""
    if (a.num_ws, a.w_dim) != (b.num_ws, b.w_dim):
        raise ValueError("the networks are not compatible: A takes %d ws of %d, B %d ws of %d"
                         % (a.num_ws, a.w_dim, b.num_ws, b.w_dim))
    for name, G in (("A", a), ("B", b)):
        if not hasattr(G.synthesis, "num_noise"):
            raise ValueError("network %s has no noise override (a SavedModel?): generate-pairs needs Keras networks "
                             "(a pickle or a converted directory)" % name)
    if noise_mode not in PAIR_NOISE_MODES:
        raise ValueError("noise mode must be one of %s, got %r" % (", ".join(PAIR_NOISE_MODES), noise_mode))
    generation.class_labels(a, class_idx, 1)


def shared_noise(G, seeds, noise_mode):
    """Per-layer noise `[n, r, r, 1]` both networks receive: A's stored buffers ("const"), TF1's
    per-seed draws ("seeded"), fresh normal draws ("random"), or None ("none")."""
    syn, n = G.synthesis, len(seeds)
    if noise_mode == "none":
        return None
    if noise_mode == "const":
        return [np.repeat(buf.numpy(), n, axis=0) for buf in syn.noise_buffers]
    if noise_mode == "seeded":
        drawn = [seeded_noise(s, G.z_dim, syn.num_noise, syn.noise_resolution)[1] for s in seeds]
        return [np.concatenate(layer) for layer in zip(*drawn)]
    return [np.random.randn(n, syn.noise_resolution(i), syn.noise_resolution(i), 1).astype(np.float32)
            for i in range(syn.num_noise)]


def _load_record(out_dir, settings):
    """The pairs.json of an earlier run into `out_dir` (ValueError if written with other
    `settings`), or a new record."""
    path = os.path.join(out_dir, "pairs.json")
    if not os.path.exists(path):
        return dict(settings, pairs=[])
    try:
        with open(path) as f:
            record = json.load(f)
        pairs = record["pairs"]
        seeds = [int(p["seed"]) for p in pairs]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError("cannot resume from %s: %s" % (path, str(e) or type(e).__name__)) from None
    differ = sorted(k for k in settings if record.get(k) != settings[k])
    if differ:
        raise ValueError("cannot resume from %s: it was written with other %s" % (path, ", ".join(differ)))
    record["pairs"] = [p for p, s in zip(pairs, seeds) if all(
        os.path.isfile(os.path.join(out_dir, sub, "seed%04d.png" % s)) for sub in ("source", "target"))]
    return record


def generate_pairs(a, b, seeds, out_dir, truncation_psi=1.0, noise_mode="const", class_idx=None, batch_size=4,
                   progress=None, info=None):
    """Render `seeds` through generators `a` and `b` into `out_dir` (see the module docstring).
    Resumes: seeds that the directory's pairs.json already lists (with both images present) are
    skipped, provided it was written with the same settings.

    Args:
      info: extra top-level entries for pairs.json (e.g. the network paths), part of the settings.
      progress: an object with `update(n)`, or None.
    Raises:
      ValueError: incompatible networks, a bad noise mode or class, a pairs.json of other settings
        (before anything is written).
    """
    check_arguments(a, b, noise_mode, class_idx)
    settings = dict(info or {}, truncation_psi=truncation_psi, noise_mode=noise_mode, class_idx=class_idx,
                    num_ws=a.num_ws, w_dim=a.w_dim)
    record = _load_record(out_dir, settings)
    done = {p["seed"] for p in record["pairs"]}
    todo = [s for s in seeds if s not in done]
    if progress is not None:
        progress.update(len(seeds) - len(todo))
    for sub in ("source", "target"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    for batch in generation.batches(todo, batch_size):
        ws = generation.seed_ws(a, batch, truncation_psi, class_idx)
        noise = shared_noise(a, batch, noise_mode)
        names = ["seed%04d.png" % s for s in batch]
        for sub, G in (("source", a), ("target", b)):
            for name, img in zip(names, generation.render_ws(G, ws, "none" if noise is None else "const", noise)):
                save_png(os.path.join(out_dir, sub, name), img)
        record["pairs"] += [{"seed": int(s), "source": "source/" + n, "target": "target/" + n,
                             "w": (w[0] if np.all(w == w[:1]) else w).tolist()} for s, n, w in zip(batch, names, ws)]
        with atomic_path(os.path.join(out_dir, "pairs.json")) as tmp:
            with open(tmp, "w") as f:
                json.dump(record, f)
        if progress is not None:
            progress.update(len(batch))
    return record
