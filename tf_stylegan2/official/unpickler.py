"""Restricted reader for official StyleGAN2 network pickles.

Official pickles hold `dnnlib.tflib.network.Network` objects whose state carries the network's
Python source (`build_module_src`). That source is never executed here: the unpickler resolves
only the handful of globals the format needs (numpy array/scalar reconstruction and a stand-in
for `Network` that just keeps its state dict); anything else is refused.
"""

import io
import math
import pickle
import struct
import sys

import numpy as np

from tf_stylegan2.layers.initialization import aligned_empty

ALIGNED_MIN_BYTES = 4096


class NetworkPickleError(ValueError):
    """The file is not a readable official network pickle (or was refused as unsafe)."""


class NetworkState:
    """Stand-in for `dnnlib.tflib.network.Network`: records the pickled state dict, nothing else."""

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise NetworkPickleError("unexpected constructor arguments for Network")
        self.state = None

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise NetworkPickleError("Network state is %s, expected a dict" % type(state).__name__)
        self.state = state


_NUMERIC_KINDS = "biuf"


def _safe_dtype(spec, *args):
    """`numpy.dtype` limited to plain numeric types (no object arrays)."""
    dt = np.dtype(spec, *args)
    if dt.kind not in _NUMERIC_KINDS or dt.fields is not None:
        raise NetworkPickleError("refused numpy dtype %r" % (spec,))
    return dt


class _NdarrayType:
    """What the pickle sees as `numpy.ndarray`: only valid as `_reconstruct`'s subtype argument."""

    def __init__(self, *args, **kwargs):
        raise NetworkPickleError("refused direct numpy.ndarray construction")


def is_data(value):
    """Whether `value` is what a bytes opcode gives: `bytes`, or a 1-D uint8 array (large `BINBYTES`)."""
    return isinstance(value, bytes) or (isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim == 1)


class _PendingArray:
    """What `numpy.core.multiarray._reconstruct` returns here; the pickle's BUILD then supplies
    `(version, shape, dtype, is_fortran, raw data)`. The array is a view of that data (no copy:
    the unpickler's memo keeps it alive anyway), swapped in by `validate_state`."""

    def __init__(self):
        self.array = None

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 5):
            raise NetworkPickleError("malformed numpy array state")
        version, shape, dtype, fortran, raw = state
        if (version != 1 or not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape)
                or not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS or not is_data(raw)):
            raise NetworkPickleError("malformed numpy array state")
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise NetworkPickleError("numpy array of shape %s has %d bytes of data" % (shape, len(raw)))
        self.array = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _safe_reconstruct(subtype, shape, dtype_code):
    if subtype is not _NdarrayType or shape != (0,) or dtype_code != b"b":
        raise NetworkPickleError("refused numpy array reconstruction %r" % ((subtype, shape, dtype_code),))
    return _PendingArray()


def _safe_scalar(dtype, data):
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS or not isinstance(data, bytes):
        raise NetworkPickleError("refused numpy scalar")
    if len(data) != dtype.itemsize:
        raise NetworkPickleError("numpy scalar has %d bytes, expected %d" % (len(data), dtype.itemsize))
    return np.frombuffer(data, dtype=dtype)[0]


ALLOWED_GLOBALS = {("dnnlib.tflib.network", "Network"): NetworkState, ("numpy", "ndarray"): _NdarrayType,
                   ("numpy", "dtype"): _safe_dtype}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    ALLOWED_GLOBALS[(_mod, "_reconstruct")] = _safe_reconstruct
    ALLOWED_GLOBALS[(_mod, "scalar")] = _safe_scalar


class RestrictedUnpickler(pickle._Unpickler):
    """Unpickler that resolves only the allow-listed globals (`allowed`: {(module, name): callable},
    default `ALLOWED_GLOBALS`).

    `BINBYTES` / `BINBYTES8` of at least `ALIGNED_MIN_BYTES` are read straight from the file into
    writable 64-byte aligned uint8 arrays (`layers.initialization.aligned_empty`) instead of `bytes`:
    the weights then become variables without another copy.

    Built on the pure-Python unpickler: its memo is a dict, so a forged `LONG_BINPUT 4e8` costs one
    entry, where the C unpickler would allocate a memo table of that size (seconds and gigabytes).
    Official pickles have few opcodes (the weights are single BINBYTES), so it is as fast here.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, f, allowed=None, **kwargs):
        super().__init__(f, **kwargs)
        self.allowed = ALLOWED_GLOBALS if allowed is None else allowed
        self._file_readinto = getattr(f, "readinto", None)

    def _read_data(self, size):
        if size > sys.maxsize:
            raise pickle.UnpicklingError("bytes object of %d bytes exceeds the maximum size" % size)
        if size < ALIGNED_MIN_BYTES:
            return self.read(size)
        buf = aligned_empty(size)
        frame = self._unframer.current_frame
        if frame is not None and frame.tell() == frame.getbuffer().nbytes:
            self._unframer.current_frame = frame = None  # an exhausted frame: large data follows outside it
        if frame is None and self._file_readinto is not None:
            n = self._file_readinto(buf)
        else:
            data = self.read(size)
            n = len(data)
            buf[:n] = np.frombuffer(data, np.uint8)
        if n != size:
            raise EOFError("pickle data truncated (%d of %d bytes)" % (n, size))
        return buf

    def _load_binbytes(self):
        size, = struct.unpack("<I", self.read(4))
        self.append(self._read_data(size))
    dispatch[pickle.BINBYTES[0]] = _load_binbytes

    def _load_binbytes8(self):
        size, = struct.unpack("<Q", self.read(8))
        self.append(self._read_data(size))
    dispatch[pickle.BINBYTES8[0]] = _load_binbytes8

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise NetworkPickleError("refused to load global %s.%s: not part of the official network format"
                                     % (module, name)) from None


def _array(value):
    """A variable's value: numpy scalar, or the array of a `_PendingArray`."""
    if isinstance(value, np.generic):
        return value
    if isinstance(value, _PendingArray) and value.array is not None:
        return value.array
    raise NetworkPickleError("unexpected value of type %s where an array was expected" % type(value).__name__)


def load_object(f, allowed=None):
    """Unpickle from a binary file object with `RestrictedUnpickler(f, allowed)`.

    Raises:
      NetworkPickleError: unreadable, truncated, not a pickle, or unsafe.
    """
    try:
        return RestrictedUnpickler(f, allowed, encoding="latin1").load()
    except NetworkPickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            OverflowError, MemoryError, UnicodeDecodeError, RecursionError, struct.error) as e:
        reason = str(e).splitlines()[0] if str(e) else ""
        raise NetworkPickleError("not a valid network pickle (%s: %s)" % (type(e).__name__, reason)) from None


def load_states(f):
    """Read an official pickle from a binary file object -> tuple of `NetworkState`s.

    Raises:
      NetworkPickleError: unreadable, truncated, not a pickle, unsafe, or of the wrong structure.
    """
    return validate_states(load_object(f))


def validate_states(obj):
    """Check an unpickled official `(G, D, Gs)` (any tuple of `NetworkState`s) -> the tuple."""
    if not isinstance(obj, tuple) or not obj or not all(isinstance(n, NetworkState) for n in obj):
        raise NetworkPickleError("expected a tuple of Network objects, got %s" % type(obj).__name__)
    for net in obj:
        validate_state(net)
    return obj


def validate_state(net, path="network"):
    """Check a NetworkState's structure recursively (keys, types, variables) and turn its
    pending arrays into (read-only) numpy arrays."""
    s = net.state
    if s is None:
        raise NetworkPickleError("%s has no state" % path)
    for key, typ in (("name", str), ("static_kwargs", dict), ("components", dict), ("variables", list),
                     ("build_func_name", str)):
        if not isinstance(s.get(key), typ):
            raise NetworkPickleError("%s state lacks a %s %r" % (path, typ.__name__, key))
    if not all(isinstance(k, str) for k in list(s["static_kwargs"]) + list(s["components"])):
        raise NetworkPickleError("%s has a static kwarg or component name that is not a string" % path)
    if s.get("version") not in (2, 3, 4, 5):  # 5 (StyleGAN2-ADA TF) adds input/output shapes and names: unused
        raise NetworkPickleError("%s has unsupported Network version %r" % (path, s.get("version")))
    for item in s["variables"]:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise NetworkPickleError("%s has a malformed variable entry" % path)
    s["variables"] = [(name, _array(value)) for name, value in s["variables"]]
    for name, comp in s["components"].items():
        if not isinstance(comp, NetworkState):
            raise NetworkPickleError("%s component %r is not a Network" % (path, name))
        validate_state(comp, "%s/%s" % (path, name))


def load_states_from_bytes(data):
    """`load_states` for an in-memory pickle."""
    return load_states(io.BytesIO(data))
