"""Restricted readers of PyTorch files, without PyTorch: StyleGAN2-ADA snapshot pickles
(`network-snapshot-*.pkl`, `ALLOWED`) and whole `torch.save` files (`load_torch_file`).

A snapshot is a plain pickle of a dict (`G`, `D`, `G_ema`, `augment_pipe`, `training_set_kwargs`).
Each network module is pickled by `torch_utils.persistence` as
`_reconstruct_persistent_obj(meta)`, `meta = {type, version, module_src, class_name, state}`,
`state` being the module's `__dict__` (`_parameters`, `_buffers`, `_modules`, `_init_kwargs`, ...).
`module_src` is Python source: it is kept as a string and never executed. Tensors are
`_rebuild_parameter(_rebuild_tensor_v2(storage, offset, size, stride, ...), ...)`, and each storage
is `torch.storage._load_from_bytes(bytes)`: a `torch.save` stream of its own (the legacy format that
`Storage.__reduce__` writes, or the zip format), read here into a 1-D NumPy array.

Only the globals below are resolved, each to a function of this module; anything else is refused.

`load_torch_file` reads a `torch.save` file (a checkpoint `.pt`): the zip format of PyTorch >= 1.6
(`<root>/data.pkl`, `<root>/data/<key>` raw storages, `<root>/byteorder`) or the legacy stream
(magic, protocol and system-info pickles, the object pickle, the list of storage keys, then
each storage as an int64 element count and its raw bytes). Storages are named in the object
pickle by persistent ids `("storage", torch.<X>Storage, key, location, numel)`; the location
(`"cpu"`, `"cuda:0"`, ...) is ignored. Each storage is read once, straight from the file into its
own aligned array; tensors are views of it.
"""

import collections

import io
import os
import pickle
import struct
import zipfile
import zlib

import numpy as np

from tf_stylegan2.layers.initialization import aligned_empty
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


class StateDict(collections.OrderedDict):
    """Stand-in for `collections.OrderedDict` (state dicts, torch's hook dicts): an OrderedDict whose
    pickled attributes (a state dict's `_metadata`: per-module versions) are kept in `metadata`
    as plain data (None when it had none), never set as attributes."""

    metadata = None

    def __setstate__(self, state):
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise NetworkPickleError("OrderedDict with a malformed pickled state")
        self.metadata = state


class ArgsNamespace(dict):
    """Stand-in for `argparse.Namespace` (e.g. the `args` of a training checkpoint): its attributes
    as a plain dict (`args["arch"]`), read as data, nothing imported."""

    def __setstate__(self, state):
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise NetworkPickleError("argparse.Namespace with a malformed pickled state")
        self.update(state)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    """The tensor `size`/`stride` view of `storage` (a 1-D ndarray) from `storage_offset`, as a
    C-contiguous ndarray (a view when the tensor is contiguous, else a copy)."""
    view = _tensor_view(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata)
    return view if view.flags.c_contiguous else np.ascontiguousarray(view)


def _tensor_view(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """`torch._utils._rebuild_tensor_v2` as a view of `storage` (a 1-D ndarray) that copies nothing:
    a reshaped slice when the tensor is contiguous, else a read-only strided view."""
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
    return np.lib.stride_tricks.as_strided(storage[storage_offset:], shape=size,
                                           strides=[s * itemsize for s in stride], writeable=False)


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
    ("collections", "OrderedDict"): StateDict,
    ("dnnlib.util", "EasyDict"): _EasyDict,
})

# Globals of a torch.save file: tensors and parameters (views of their storages), state dicts,
# argparse namespaces, torch's storage types (in persistent ids), numpy arrays and scalars.
FILE_ALLOWED = {key: value for key, value in unpickler.ALLOWED_GLOBALS.items() if key[0] != "dnnlib.tflib.network"}
FILE_ALLOWED.update({("torch._utils", "_rebuild_tensor_v2"): _tensor_view,
                     ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
                     ("collections", "OrderedDict"): StateDict,
                     ("argparse", "Namespace"): ArgsNamespace})
FILE_ALLOWED.update({("torch", name): _StorageType(dtype) for name, dtype in _STORAGE_DTYPES.items()})
_ZIP_MAGIC = b"PK\x03\x04"
_TAR_MAGIC_OFFSET = 257  # "ustar" of a tar archive (torch.save of PyTorch < 0.4)
_CHUNK = 1 << 24
_READ_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
                OverflowError, MemoryError, UnicodeDecodeError, RecursionError, struct.error, zipfile.BadZipFile,
                zlib.error, NotImplementedError)


class _FileUnpickler(unpickler.RestrictedUnpickler):
    """`RestrictedUnpickler` with `FILE_ALLOWED`; persistent ids of storages go to `storage(ref)`
    (`ref`: a `_StorageRef`), which returns the storage's 1-D array."""

    def __init__(self, f, storage):
        super().__init__(f, FILE_ALLOWED, encoding="latin1")
        self._storage = storage
        self._storages = {}

    def find_class(self, module, name):
        if module == "torch" and name.endswith("Storage") and (module, name) not in self.allowed:
            raise NetworkPickleError("tensors stored as torch.%s are not supported (only %s)"
                                     % (name, ", ".join(sorted(_STORAGE_DTYPES))))
        return super().find_class(module, name)

    def persistent_load(self, pid):
        if isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage" and not isinstance(pid[3], str):
            raise NetworkPickleError("malformed storage location in a persistent id")
        ref = _StorageRef(pid)
        known = self._storages.get(ref.key)
        if known is None:
            known = self._storages[ref.key] = self._storage(ref)
        elif known.dtype != ref.dtype or known.size != ref.numel:
            raise NetworkPickleError("storage %s is named with two different types or sizes" % ref.key)
        return known


def is_torch_file(path):
    """Whether `path` is a file that starts like a `torch.save` file (zip archive or legacy stream)."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError:
        return False
    return head[:4] == _ZIP_MAGIC or _LEGACY_MAGIC.to_bytes(10, "little") in head


def load_torch_file(path):
    """Read a `torch.save` file (zip or legacy format) into plain Python objects.

    Tensors and parameters become NumPy arrays with torch's shapes (views of their storage: a
    non-contiguous tensor is a read-only strided view), `OrderedDict`s `StateDict`s,
    `argparse.Namespace`s `ArgsNamespace` dicts; storages on any device (`"cuda:0"`) load alike.
    Each storage is read once straight into its array (peak memory about the file's size).

    Raises:
      NetworkPickleError (a ValueError): unreadable, truncated, unsafe (a global outside
        `FILE_ALLOWED`: nothing is imported or called) or malformed file; one-line message.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise NetworkPickleError("%s is a directory, not a PyTorch file" % path)
    try:
        with open(path, "rb") as f:
            head = f.read(_TAR_MAGIC_OFFSET + 5)
            f.seek(0)
            if head[:4] == _ZIP_MAGIC:
                return _load_zip(f)
            if head[_TAR_MAGIC_OFFSET:] == b"ustar":
                raise NetworkPickleError("%s is a tar-format torch.save file (PyTorch < 0.4): not supported" % path)
            return _load_legacy(f)
    except OSError as e:
        raise NetworkPickleError("cannot read %s: %s" % (path, e.strerror or e)) from None
    except NetworkPickleError:
        raise
    except _READ_ERRORS as e:
        text = str(e).strip()
        raise NetworkPickleError("%s is not a readable PyTorch file (%s: %s)"
                                 % (path, type(e).__name__, text.splitlines()[0] if text else "")) from None


def _empty_storage(ref):
    """A writable aligned 1-D array for the storage `ref` (contents undefined)."""
    return aligned_empty(ref.numel * ref.dtype.itemsize).view(ref.dtype)


def _load_zip(f):
    with zipfile.ZipFile(f) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise NetworkPickleError("zip archive without one <root>/data.pkl: not a torch.save file")
        root = pkl[0][:-len("data.pkl")]
        if root + "byteorder" in names and z.read(root + "byteorder").strip() != b"little":
            raise NetworkPickleError("big-endian torch.save file: not supported")

        def storage(ref):
            return _read_record(z, root + "data/" + ref.key, ref)

        return _FileUnpickler(io.BytesIO(z.read(pkl[0])), storage).load()


def _read_record(z, name, ref):
    """The zip member `name` -> the storage `ref` (its size checked before anything is allocated),
    read in chunks straight into its array."""
    try:
        info = z.getinfo(name)
    except KeyError:
        raise NetworkPickleError("torch.save file lacks the storage %s" % name) from None
    nbytes = ref.numel * ref.dtype.itemsize
    if info.file_size != nbytes:
        raise NetworkPickleError("storage %s has %d bytes, expected %d" % (name, info.file_size, nbytes))
    out = _empty_storage(ref)
    view = memoryview(out.view(np.uint8))
    with z.open(info) as member:
        pos = 0
        while pos < nbytes:
            chunk = member.read(min(_CHUNK, nbytes - pos))
            if not chunk:
                raise NetworkPickleError("storage %s is truncated" % name)
            view[pos:pos + len(chunk)] = chunk
            pos += len(chunk)
    return out


def _load_legacy(f):
    if _read_pickle(f) != _LEGACY_MAGIC:
        raise NetworkPickleError("not a torch.save file (neither a zip archive nor the legacy stream)")
    if _read_pickle(f) != _LEGACY_PROTOCOL:
        raise NetworkPickleError("torch.save stream of an unsupported protocol version")
    sys_info = _read_pickle(f)
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise NetworkPickleError("big-endian torch.save file: not supported")
    storages = {}
    budget = [os.fstat(f.fileno()).st_size]  # the storages follow in the file: they cannot hold more

    def storage(ref):
        budget[0] -= ref.numel * ref.dtype.itemsize
        if budget[0] < 0:
            raise NetworkPickleError("storage %s claims more data than the file holds" % ref.key)
        storages[ref.key] = out = _empty_storage(ref)
        return out

    obj = _FileUnpickler(f, storage).load()
    keys = _read_pickle(f)
    if not isinstance(keys, list) or sorted(keys) != sorted(storages):
        raise NetworkPickleError("the storage keys of the torch.save stream do not match its tensors")
    for key in keys:  # written in this order, each as int64 numel + raw data
        out = storages[key]
        header = f.read(8)
        if len(header) != 8 or struct.unpack("<q", header)[0] != out.size:
            raise NetworkPickleError("storage %s: size header does not match its tensors (or the file is "
                                     "truncated)" % key)
        data = out.view(np.uint8)
        if f.readinto(data) != data.size:
            raise NetworkPickleError("storage %s is truncated" % key)
    return obj
