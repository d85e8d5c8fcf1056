"""Write `torch.save`'s zip format (or its legacy stream) without PyTorch, for what `torch.load`
(also with `weights_only=True`) and `official.torch_pickle.load_torch_file` read back.

Layout, as PyTorch >= 1.6 writes it: a stored (uncompressed) zip whose records sit under one root
folder: `data.pkl` (the object, pickle protocol 2), `.format_version`, `.storage_alignment`,
`byteorder` ("little"), `data/<key>` (each tensor's raw little-endian storage, starting on a
64-byte boundary of the file, padded through the local header's extra field as torch does),
`version` ("3"). Each tensor is its own storage (offset 0, C-contiguous strides), on "cpu".
The legacy stream (`_use_new_zipfile_serialization=False`): the magic number, protocol and
system-info pickles, the object pickle, the list of storage keys, then per storage its int64
element count and raw bytes.

Values: `dict` (a `collections.OrderedDict` is written as one, like a state dict), `np.ndarray`
(numeric dtypes torch has a storage type for), `str`, `int`, `float`, `bool`, None.
"""

import collections
import hashlib
import io
import pickle
import struct
import zipfile

import numpy as np

from tf_stylegan2.files import atomic_path
from tf_stylegan2.official.torch_pickle import _LEGACY_MAGIC as LEGACY_MAGIC, _LEGACY_PROTOCOL as LEGACY_PROTOCOL

ALIGNMENT = 64
LEGACY_SYS_INFO = {"protocol_version": LEGACY_PROTOCOL, "little_endian": True,
                   "type_sizes": {"short": 2, "int": 4, "long": 4}}
_STORAGE_TYPES = {np.dtype("<f4"): "FloatStorage", np.dtype("<f8"): "DoubleStorage", np.dtype("<f2"): "HalfStorage",
                  np.dtype("<i8"): "LongStorage", np.dtype("<i4"): "IntStorage", np.dtype("<i2"): "ShortStorage",
                  np.dtype("i1"): "CharStorage", np.dtype("u1"): "ByteStorage", np.dtype("?"): "BoolStorage"}
_EXTRA_ID = b"FB"  # torch's padding extra field
_ZIP64_EXTRA = 20  # bytes zipfile adds to a local header that needs zip64 sizes


class _Pickle:
    """Protocol-2 pickle opcodes of the supported values; arrays become persistent storage ids."""

    def __init__(self, legacy=False):
        self.legacy = legacy
        self.out = io.BytesIO()
        self.out.write(pickle.PROTO + b"\x02")
        self.storages = []  # (key, C-contiguous array)

    def value(self, obj):
        w = self.out.write
        if obj is None:
            w(pickle.NONE)
        elif obj is True or obj is False:
            w(pickle.NEWTRUE if obj else pickle.NEWFALSE)
        elif isinstance(obj, int):
            self._int(obj)
        elif isinstance(obj, float):
            w(pickle.BINFLOAT + struct.pack(">d", obj))
        elif isinstance(obj, str):
            data = obj.encode("utf-8")
            w(pickle.BINUNICODE + struct.pack("<I", len(data)) + data)
        elif isinstance(obj, tuple):
            self._tuple(obj)
        elif isinstance(obj, dict):
            self._dict(obj)
        elif isinstance(obj, np.ndarray):
            self._tensor(obj)
        else:
            raise TypeError("cannot write a %s into a torch.save file" % type(obj).__name__)

    def _int(self, n):
        if -2 ** 31 <= n < 2 ** 31:
            self.out.write(pickle.BININT + struct.pack("<i", n))
        else:
            data = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
            self.out.write(pickle.LONG1 + bytes([len(data)]) + data)

    def _tuple(self, items):
        if not items:
            self.out.write(pickle.EMPTY_TUPLE)
            return
        self.out.write(pickle.MARK)
        for item in items:
            self.value(item)
        self.out.write(pickle.TUPLE)

    def _global(self, module, name):
        self.out.write(pickle.GLOBAL + module.encode() + b"\n" + name.encode() + b"\n")

    def _dict(self, obj):
        if isinstance(obj, collections.OrderedDict):
            self._global("collections", "OrderedDict")
            self.out.write(pickle.EMPTY_TUPLE + pickle.REDUCE)
        else:
            self.out.write(pickle.EMPTY_DICT)
        if obj:
            self.out.write(pickle.MARK)
            for key, item in obj.items():
                self.value(key)
                self.value(item)
            self.out.write(pickle.SETITEMS)

    def _tensor(self, array):
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        storage_type = _STORAGE_TYPES.get(np.dtype(dtype))
        if storage_type is None:
            raise TypeError("cannot write a %s tensor into a torch.save file" % array.dtype)
        array = np.asarray(array, dtype, order="C")  # keeps 0-d arrays 0-d (ascontiguousarray makes them 1-d)
        key = str(len(self.storages))
        self.storages.append((key, array))
        shape = tuple(int(n) for n in array.shape)
        strides = tuple(int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape)))
        self._global("torch._utils", "_rebuild_tensor_v2")
        self.out.write(pickle.MARK)
        self.out.write(pickle.MARK)
        self.value("storage")
        self._global("torch", storage_type)
        self.value(key)
        self.value("cpu")
        self._int(int(array.size))
        if self.legacy:
            self.value(None)  # no view metadata
        self.out.write(pickle.TUPLE + pickle.BINPERSID)
        self._int(0)
        self._tuple(shape)
        self._tuple(strides)
        self.value(False)
        self._dict(collections.OrderedDict())
        self.out.write(pickle.TUPLE + pickle.REDUCE)

    def data(self):
        return self.out.getvalue() + pickle.STOP


def save_torch_file(obj, path, root="archive", legacy=False):
    """Write `obj` (see the module docstring) to `path` in torch.save's zip format (`legacy`: its
    legacy stream), atomically.

    Raises:
      TypeError: a value that has no torch.save form here.
      OSError: the file cannot be written (nothing is left behind).
    """
    p = _Pickle(legacy)
    p.value(obj)
    data = p.data()
    if legacy:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                _write_legacy(f, data, p.storages)
        return
    serialization_id = str(int.from_bytes(hashlib.sha256(data).digest()[:16], "little")).zfill(40)[:40]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
            z.writestr(root + "/data.pkl", data)
            z.writestr(root + "/.format_version", "1")
            z.writestr(root + "/.storage_alignment", str(ALIGNMENT))
            z.writestr(root + "/byteorder", "little")
            for key, array in p.storages:
                _write_aligned(z, f, "%s/data/%s" % (root, key), array.reshape(-1).view(np.uint8))
            z.writestr(root + "/version", "3\n")
            z.writestr(root + "/.data/serialization_id", serialization_id)


def _write_aligned(z, f, name, data):
    """A stored record whose data starts on an `ALIGNMENT` boundary of the file."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    header = 30 + len(name.encode("utf-8")) + (_ZIP64_EXTRA if data.size * 1.05 > zipfile.ZIP64_LIMIT else 0)
    pad = -(f.tell() + header + 4) % ALIGNMENT
    info.extra = _EXTRA_ID + struct.pack("<H", pad) + b"Z" * pad
    z.writestr(info, memoryview(data))


def _write_legacy(f, data, storages):
    for header in (LEGACY_MAGIC, LEGACY_PROTOCOL, LEGACY_SYS_INFO):
        f.write(pickle.dumps(header, protocol=2))
    f.write(data)
    f.write(pickle.dumps([key for key, _ in storages], protocol=2))
    for _, array in storages:
        f.write(struct.pack("<q", array.size))
        f.write(memoryview(array.reshape(-1).view(np.uint8)))
