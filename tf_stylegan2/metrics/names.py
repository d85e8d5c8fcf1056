"""Metric names (spec §13.7): the official ones, and the same families with any sample count.

`fid50k_full`, `kid50k_full`, `pr50k3_full`, `is50k`, `fid50k`, `kid50k`, `pr50k3` and the PPL
variants are the official names; the count in a name is read, so `fid1k`, `kid10k_full`,
`pr5k3` (5000 samples, 3 neighbours) or `is200` work for quick checks, and a count after a PPL
name sets its number of pairs (`ppl_wend1k`; 50000 without). Without a `k`, the last
digit of a `pr` name is the neighbourhood size (`pr2003`: 200 samples, 3 neighbours).

Which convention a name follows (spec §13.2-13.6):
- `*_full` and `kid*`: StyleGAN2-ADA (`_full`: every real image, never mirrored; `kid50k`:
  ADA's legacy variant, the mirrored copies appended after the originals).
- `fid<N>` and `pr<N>k<K>` without `_full`: TF1 StyleGAN2 (the first N reals in file order,
  repeated when the dataset is shorter, each flipped with probability 0.5 when mirroring;
  FID with the unbiased covariance).
- `is<N>` and `ppl_*`: the two agree, except PPL's box downsampling above 256 px, where the
  TF1 rule (the cropped size over 256) is used.
"""

import collections
import re

KNOWN_METRICS = ("fid50k_full", "kid50k_full", "pr50k3_full", "is50k", "ppl_zfull", "ppl_wfull", "ppl_zend",
                 "ppl_wend", "ppl2_wend", "fid50k", "kid50k", "pr50k3")

# Up to how many reals the `_full` variants read (ADA's `max_real`; None = all of them).
FULL_MAX_REALS = {"fid": None, "kid": 1000000, "pr": 200000}

PPL_NUM_SAMPLES = 50000
PPL_EPSILON = 1e-4

MetricSpec = collections.namedtuple("MetricSpec", [
    "name",         # the name as given
    "kind",         # "fid" | "kid" | "pr" | "is" | "ppl"
    "num_fakes",    # generated samples (PPL: pairs)
    "max_reals",    # reals read (None: all of them; 0: none needed)
    "reals",        # "ada_full" (index order, no mirroring) | "ada_legacy" (mirrored copies appended) |
                    # "tf1" (file order, repeated, random flips) | None
    "nhood_size",   # PR neighbourhood size (None otherwise)
    "unbiased_cov", # FID: TF1's unbiased covariance
    "space",        # PPL: "z" | "w"
    "sampling",     # PPL: "full" | "end"
    "crop",         # PPL: crop to the central face region
])


class MetricError(ValueError):
    """Unknown or malformed metric name (one-line message listing the known names)."""


def _count(digits, k):
    return int(digits) * (1000 if k else 1)


def parse_metric(name):
    """Validate a metric name and read its settings -> `MetricSpec`.

    Raises:
      MetricError: unknown names (the message lists the known ones) and zero counts.
    """
    name = str(name).strip()
    spec = None
    m = re.fullmatch(r"(fid|kid|is)(\d+)(k?)(_full)?", name)
    if m and not (m.group(1) == "is" and m.group(4)):
        kind, count, full = m.group(1), _count(m.group(2), m.group(3)), bool(m.group(4))
        if kind == "is":
            spec = _spec(name, "is", count, max_reals=0)
        elif full:
            spec = _spec(name, kind, count, max_reals=FULL_MAX_REALS[kind], reals="ada_full")
        elif kind == "kid":
            spec = _spec(name, "kid", count, max_reals=count, reals="ada_legacy")
        else:
            spec = _spec(name, "fid", count, max_reals=count, reals="tf1", unbiased_cov=True)
    m = re.fullmatch(r"pr(\d+)(k?)(\d+)(_full)?", name)
    if m:
        count, nhood, full = _count(m.group(1), m.group(2)), int(m.group(3)), bool(m.group(4))
        if nhood < 1:
            raise MetricError("bad metric %r: the neighbourhood size (the number after the count) must be at least 1"
                              % name)
        spec = _spec(name, "pr", count, max_reals=FULL_MAX_REALS["pr"] if full else count,
                     reals="ada_full" if full else "tf1", nhood_size=nhood)
    m = re.fullmatch(r"ppl(2?)_([zw])(full|end)(?:(\d+)(k?))?", name)
    if m and not (m.group(1) and (m.group(2), m.group(3)) != ("w", "end")):
        count = _count(m.group(4), m.group(5)) if m.group(4) else PPL_NUM_SAMPLES
        spec = _spec(name, "ppl", count, max_reals=0, space=m.group(2), sampling=m.group(3), crop=not m.group(1))
    if spec is None:
        hint = " (linear separability needs NVIDIA's TF1 CelebA-HQ classifier pickles; not supported)" \
            if name == "ls" else ""
        raise MetricError("unknown metric %r%s; known: %s (the count can change: fid1k, kid10k_full, pr5k3, is200)"
                          % (name, hint, ", ".join(KNOWN_METRICS)))
    if spec.num_fakes < 1:
        raise MetricError("bad metric %r: the sample count must be at least 1" % name)
    return spec


def _spec(name, kind, num_fakes, max_reals, reals=None, nhood_size=None, unbiased_cov=False, space=None,
          sampling=None, crop=None):
    return MetricSpec(name, kind, num_fakes, max_reals, reals, nhood_size, unbiased_cov, space, sampling, crop)


def parse_metric_list(text):
    """'fid50k_full,kid50k_full' (or a list) -> list of `MetricSpec`; 'none' or empty -> []."""
    names = text if isinstance(text, (list, tuple)) else str(text).split(",")
    names = [n.strip() for n in names if n.strip()]
    if names == ["none"]:
        return []
    return [parse_metric(n) for n in names]
