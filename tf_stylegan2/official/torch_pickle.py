"""Restricted reader for StyleGAN2-ADA PyTorch snapshot pickles (`network-snapshot-*.pkl`), without PyTorch.

A snapshot is a plain pickle of a dict (`G`, `D`, `G_ema`, `augment_pipe`, `training_set_kwargs`).
Each network module is pickled by `torch_utils.persistence` as
`_reconstruct_persistent_obj(meta)`, `meta = {type, version, module_src, class_name, state}`,
`state` being the module's `__dict__` (`_parameters`, `_buffers`, `_modules`, `_init_kwargs`, ...).
`module_src` is Python source: it is kept as a string and never executed. Tensors are
`_rebuild_parameter(_rebuild_tensor_v2(storage, offset, size, stride, ...), ...)`, and each storage
is `torch.storage._load_from_bytes(bytes)`: a `torch.save` stream of its own (the legacy format that
`Storage.__reduce__` writes, or the zip format), read here into a 1-D NumPy array.

Only the globals below are resolved, each to a function of this module; anything else is refused.
"""

import io
import pickle
import struct
import zipfile

import numpy as np

from tf_stylegan2.official import unpickler
from tf_stylegan2.official.unpickler import NetworkPickleError

# torch.save's legacy stream: these three small pickles, the object pickle, its storage keys, then the data.
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
                   "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
                   "BoolStorage": "?"}
_MAX_DIMS = 16
_MAX_HEADER_BYTES = 1 << 16
MAX_DEPTH = 32  # of a module tree (StyleGAN2's are 4 deep)


class PersistentModule:
    """Stand-in for a `torch_utils.persistence` object: its class name and state dict, nothing executed.

    Attributes:
      class_name: e.g. "Generator", "SynthesisLayer".
      state: the module's `__dict__` as pickled.
    """

    def __init__(self, class_name, state):
        self.class_name, self.state = class_name, state

    @property
    def init_kwargs(self):
        kwargs = self.state.get("_init_kwargs", {})
        if not isinstance(kwargs, dict):
            raise NetworkPickleError("%s: _init_kwargs is not a dict" % self.class_name)
        return kwargs

    def submodules(self, depth=0):
        """`{name: PersistentModule or None}` (the module's `_modules`); `depth`: this module's depth
        in the tree (a tree deeper than `MAX_DEPTH`, e.g. a cycle, is refused)."""
        if depth > MAX_DEPTH:
            raise NetworkPickleError("module tree deeper than %d levels (a cycle?)" % MAX_DEPTH)
        return _dict_entry(self, "_modules")

    def tensors(self, prefix="", depth=0):
        """`{dotted name: ndarray}` of all parameters and buffers, recursively (torch's
        `named_parameters` + `named_buffers` names). None entries (absent parameters) are skipped."""
        out = {}
        for key in ("_parameters", "_buffers"):
            for name, value in _dict_entry(self, key).items():
                if value is None:
                    continue
                if not isinstance(value, np.ndarray):
                    raise NetworkPickleError("%s: %s%s is not a tensor" % (self.class_name, prefix, name))
                out[prefix + name] = value
        for name, module in self.submodules(depth).items():
            if module is not None:
                out.update(module.tensors(prefix + name + ".", depth + 1))
        return out


def _dict_entry(module, key):
    value = module.state.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise NetworkPickleError("%s: %s is not a dict of names" % (module.class_name, key))
    for name, item in value.items():
        if key == "_modules" and not (item is None or isinstance(item, PersistentModule)):
            raise NetworkPickleError("%s: submodule %r is a %s, not a persistent module"
                                     % (module.class_name, name, type(item).__name__))
    return value


def _reconstruct_persistent_obj(meta):
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise NetworkPickleError("persistent object of an unsupported kind (expected type 'class')")
    class_name, state = meta.get("class_name"), meta.get("state")
    if not isinstance(class_name, str) or not isinstance(state, dict) or not isinstance(meta.get("module_src"), str):
        raise NetworkPickleError("malformed persistent object: needs a class_name, module_src and state dict")
    return PersistentModule(class_name, state)


class _EasyDict(dict):
    """Stand-in for `dnnlib.util.EasyDict` (a dict with attribute access): here a plain dict."""


def _ordered_dict():
    """`collections.OrderedDict()` (torch's hook dicts, empty): a plain dict."""
    return {}


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    """The tensor `size`/`stride` view of `storage` (a 1-D ndarray) from `storage_offset`, as a
    C-contiguous ndarray (a view when the tensor is contiguous, else a copy)."""
    del requires_grad, backward_hooks, metadata
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise NetworkPickleError("tensor without a storage")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride) <= _MAX_DIMS
            and all(type(v) is int and v >= 0 for v in size + stride)
            and type(storage_offset) is int and storage_offset >= 0):
        raise NetworkPickleError("malformed tensor size %r / stride %r / offset %r" % (size, stride, storage_offset))
    numel = int(np.prod(size, dtype=np.int64)) if size else 1
    if numel == 0:
        return np.zeros(size, storage.dtype)
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise NetworkPickleError("tensor of size %s reads past its storage of %d elements" % (size, storage.size))
    contiguous = tuple(int(np.prod(size[i + 1:], dtype=np.int64)) for i in range(len(size)))
    if all(n == 1 or s == c for n, s, c in zip(size, stride, contiguous)):
        return storage[storage_offset:storage_offset + numel].reshape(size)
    itemsize = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[storage_offset:], shape=size,
                                           strides=[s * itemsize for s in stride], writeable=False)
    return np.ascontiguousarray(view)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    del requires_grad, backward_hooks
    if not isinstance(data, np.ndarray):
        raise NetworkPickleError("parameter without a tensor")
    return data


def _load_from_bytes(data):
    """A storage pickled by `Storage.__reduce__` -> 1-D ndarray (a view of `data`)."""
    if not unpickler.is_data(data):
        raise NetworkPickleError("storage data is not bytes")
    if bytes(data[:4]) == b"PK\x03\x04":
        return _storage_from_zip(bytes(data))
    return _storage_from_legacy(data)


class _StorageRef:
    """What a storage's persistent id becomes inside its own torch.save stream."""

    def __init__(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise NetworkPickleError("unsupported persistent id in a tensor storage")
        _, storage_type, key, _location, numel = pid[:5]
        if len(pid) == 6 and pid[5] is not None:
            raise NetworkPickleError("storage views (PyTorch < 0.4 files) are not supported")
        if (not isinstance(storage_type, _StorageType) or not isinstance(key, str) or type(numel) is not int
                or numel < 0):
            raise NetworkPickleError("malformed storage persistent id")
        self.dtype, self.key, self.numel = storage_type.dtype, key, numel


class _StorageType:
    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)


class _StorageUnpickler(pickle._Unpickler):
    """The small pickles inside a storage's torch.save stream: plain data and `torch.<X>Storage` only."""

    def find_class(self, module, name):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise NetworkPickleError("refused to load global %s.%s inside a tensor storage" % (module, name))

    def persistent_load(self, pid):
        return _StorageRef(pid)


def _read_pickle(f):
    return _StorageUnpickler(f).load()


def _single_ref(obj):
    if not isinstance(obj, _StorageRef):
        raise NetworkPickleError("a tensor storage stream holds a %s, not a storage" % type(obj).__name__)
    return obj


def _storage_from_legacy(data):
    f = io.BytesIO(memoryview(data)[:_MAX_HEADER_BYTES])  # the small pickles; the values stay in `data`
    if _read_pickle(f) != _LEGACY_MAGIC or _read_pickle(f) != _LEGACY_PROTOCOL:
        raise NetworkPickleError("tensor storage is not a torch.save stream")
    sys_info = _read_pickle(f)
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise NetworkPickleError("tensor storage is not little-endian")
    ref = _single_ref(_read_pickle(f))
    if _read_pickle(f) != [ref.key]:
        raise NetworkPickleError("tensor storage keys do not match its data")
    header = f.read(8)
    if len(header) != 8 or struct.unpack("<q", header)[0] != ref.numel:
        raise NetworkPickleError("tensor storage size does not match its data (or its header is too long)")
    start = f.tell()
    nbytes = ref.numel * ref.dtype.itemsize
    if len(data) - start != nbytes:
        raise NetworkPickleError("tensor storage has %d bytes of data, expected %d" % (len(data) - start, nbytes))
    return np.frombuffer(data, dtype=ref.dtype, count=ref.numel, offset=start)


def _storage_from_zip(data):
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
            pkl = [n for n in names if n.endswith("/data.pkl")]
            if len(pkl) != 1:
                raise NetworkPickleError("tensor storage zip lacks its data.pkl")
            root = pkl[0][:-len("data.pkl")]
            if root + "byteorder" in names and z.read(root + "byteorder").strip() != b"little":
                raise NetworkPickleError("tensor storage is not little-endian")
            ref = _single_ref(_read_pickle(io.BytesIO(z.read(pkl[0]))))
            raw = z.read(root + "data/" + ref.key)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError, NotImplementedError) as e:
        if isinstance(e, NetworkPickleError):
            raise
        raise NetworkPickleError("unreadable tensor storage zip (%s)" % type(e).__name__) from None
    if len(raw) != ref.numel * ref.dtype.itemsize:
        raise NetworkPickleError("tensor storage has %d bytes of data, expected %d"
                                 % (len(raw), ref.numel * ref.dtype.itemsize))
    return np.frombuffer(raw, dtype=ref.dtype)


ALLOWED = dict(unpickler.ALLOWED_GLOBALS)
ALLOWED.update({
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("collections", "OrderedDict"): _ordered_dict,
    ("dnnlib.util", "EasyDict"): _EasyDict,
})
