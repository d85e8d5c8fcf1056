"""The pSp fixture in `tests/data/psp` (a copy of the shared `psp` fixture: pSp's exact structure
and checkpoint format with narrowed widths, 64 px input, 8 styles, a 32 px rosinality decoder;
references computed by pSp's PyTorch code in float32): paths, references, loaded encoders."""

import os

import numpy as np

from conftest import DATA, nhwc, run_in_process as run_app  # noqa: F401 (re-exported for the pSp tests)

PSP = os.path.join(DATA, "psp")
TOL = dict(atol=1e-4, rtol=1e-4)  # the fixture README's suggestion for a float32 port
_REFS = {}
_ENCODERS = {}


def psp_path(name="psp-narrow.pt"):
    return os.path.join(PSP, name)


def psp_refs():
    """`refs.npz` (the forward and PNG references of the shared fixture, NCHW as pSp writes them)."""
    if not _REFS:
        with np.load(psp_path("refs.npz")) as f:
            _REFS.update({k: f[k] for k in f.files})
    return _REFS


def load_psp(name="psp-narrow.pt"):
    """`sg.load_encoder` of a fixture checkpoint, loaded once per test session (treat as read-only)."""
    import tf_stylegan2 as sg
    if name not in _ENCODERS:
        _ENCODERS[name] = sg.load_encoder(psp_path(name))
    return _ENCODERS[name]
