"""Make this directory's `trajectory.npz`/`.json` from the full fixture (`../shared/fixtures/trajectory`):
the same recording with every tensor of more than `LIMIT` entries stored as a fixed random subset of
`LIMIT` entries (`state_subset/<snap>/<net>/<name>` at `subset_index/<name>`, the recording format's
own rule), and without the json's `study` and `aggregates` sections.

    python tests/data/trajectory/reduce.py ../shared/fixtures/trajectory/trajectory.npz tests/data/trajectory
"""

import json
import os
import sys

import numpy as np

LIMIT = 1024


def main(src, outdir):
    data = np.load(src)
    with open(os.path.splitext(src)[0] + ".json") as f:
        info = json.load(f)
    rng = np.random.RandomState(0)
    out, index = {}, {}
    for key in data.files:
        parts = key.split("/")
        if parts[0] == "state" and data[key].size > LIMIT:
            name = "/".join(parts[3:])
            if name not in index:
                index[name] = np.sort(rng.choice(data[key].size, LIMIT, replace=False)).astype(np.int64)
            out["state_subset/" + "/".join(parts[1:])] = data[key].ravel()[index[name]]
        elif parts[0] == "state_subset":
            name = "/".join(parts[3:])
            if name not in index:
                keep = np.sort(rng.choice(data["subset_index/" + name].size, LIMIT, replace=False))
                index[name] = data["subset_index/" + name][keep]
            full_pos = np.searchsorted(data["subset_index/" + name], index[name])
            out[key] = data[key][full_pos]
        elif parts[0] != "subset_index":
            out[key] = data[key]
    for name, idx in index.items():
        out["subset_index/" + name] = idx
    for section in ("study", "aggregates"):
        info.pop(section, None)
    info["subset"] = dict(rule="tensors with more than %d elements: state_subset/<snap>/<net>/<name> = flat (C-order, "
                          "official layout) values at subset_index/<name> (%d sorted indices, the same for every "
                          "net and snapshot)" % (LIMIT, LIMIT), tensors=sorted(index))
    np.savez_compressed(os.path.join(outdir, "trajectory.npz"), **out)
    with open(os.path.join(outdir, "trajectory.json"), "w") as f:
        json.dump(info, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
