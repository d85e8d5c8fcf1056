"""pSp checkpoints in `torch.save`'s zip format, written without PyTorch, for tests and benchmarks.

`save(path, obj)` writes what `torch.save(obj, path)` writes for plain containers of float32/int64
tensors (given as NumPy arrays): `archive/data.pkl` (protocol 2; each tensor is
`torch._utils._rebuild_tensor_v2(storage, 0, shape, stride, False, OrderedDict())`, each storage a
persistent id `('storage', torch.FloatStorage, key, 'cpu', numel)`), `archive/data/<key>` (raw
little-endian values), `archive/byteorder` and `archive/version`.
"""

import collections
import io
import pickle
import zipfile

import numpy as np

_STORAGES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage"}


class _Global:
    """A global written by name (`module.name`), never imported."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self):  # pickle's save_reduce only checks that the function is callable
        raise TypeError("a stand-in for %s.%s" % (self.module, self.name))


class _Storage:
    def __init__(self, array, key):
        self.array, self.key = array, key


class _Tensor:
    def __init__(self, storage):
        self.storage = storage

    def __reduce__(self):
        shape = self.storage.array.shape
        stride = tuple(int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape)))
        return (_Global("torch._utils", "_rebuild_tensor_v2"),
                (self.storage, 0, shape, stride, False, collections.OrderedDict()))


class _Pickler(pickle._Pickler):
    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, f, renames):
        super().__init__(f, protocol=2)
        self.renames = renames

    def save_named_global(self, obj):
        module, name = self.renames.get((obj.module, obj.name), (obj.module, obj.name))
        self.write(pickle.GLOBAL + ("%s\n%s\n" % (module, name)).encode())

    dispatch[_Global] = save_named_global

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", _Global("torch", _STORAGES[obj.array.dtype]), obj.key, "cpu", obj.array.size)
        return None


def _stand_ins(obj, storages):
    if isinstance(obj, np.ndarray):
        storages.append(_Storage(np.array(obj, order="C"), str(len(storages))))
        return _Tensor(storages[-1])
    if isinstance(obj, dict):
        return type(obj)((k, _stand_ins(v, storages)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_stand_ins(v, storages) for v in obj)
    return obj


def save(path, obj, renames=None):
    """`torch.save(obj, path)` for dicts (plain or OrderedDict), lists, scalars, strings and NumPy
    float32/int64 arrays. `renames`: `{(module, name): (module, name)}` respells globals (hostile files)."""
    storages = []
    buf = io.BytesIO()
    _Pickler(buf, renames or {}).dump(_stand_ins(obj, storages))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", "little")
        for s in storages:
            z.writestr("archive/data/" + s.key, s.array.tobytes())
        z.writestr("archive/version", "3\n")
