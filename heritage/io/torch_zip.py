"""Plain zip-format PyTorch state dicts read without torch: a restricted unpickler over a memory map.

``torch.save`` writes a zip archive: ``<prefix>/data.pkl`` (the pickled containers, tensors as
``torch._utils._rebuild_tensor_v2`` calls on persistent storage ids) and one uncompressed record
``<prefix>/data/<key>`` per storage. For the common case -- nested dicts of plain tensors -- this
module resolves the tensors as strided views of the memory-mapped records, so opening the
hundreds of ``pytorch_model.bin`` files of a model zoo costs no torch import.

The unpickler resolves only the globals listed in :data:`_ALLOWED` (the Python documentation's
"restricting globals" recipe); it is a strict subset of what ``torch.load(weights_only=True)``
accepts. Anything else -- another global, a compressed record, a big-endian file, a storage
too small for its tensor -- raises :class:`NotPlainStateDict`, and the caller hands the file to
``torch.load(weights_only=True)``, which decides (and words) whether it is unsafe or damaged.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import pickle
import struct
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heritage.io.convert import RAW_FLOATS, widen, widen_raw

# torch storage class -> (safetensors-style dtype name, numpy dtype of the raw record)
_STORAGES = {
    "DoubleStorage": ("F64", "<f8"), "FloatStorage": ("F32", "<f4"), "HalfStorage": ("F16", "<f2"),
    "BFloat16Storage": ("BF16", "<u2"), "LongStorage": ("I64", "<i8"), "IntStorage": ("I32", "<i4"),
    "ShortStorage": ("I16", "<i2"), "CharStorage": ("I8", "i1"), "ByteStorage": ("U8", "u1"),
    "BoolStorage": ("BOOL", "?"),
}
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, (skipped fields), name length, extra length


class NotPlainStateDict(Exception):
    """The file is not a plain zip state dict this reader can resolve; torch must look at it."""


@dataclass(frozen=True)
class _Storage:
    dtype: str
    np_dtype: str
    key: str
    numel: int


@dataclass(frozen=True)
class LazyTensor:
    """A tensor as a strided view of one storage record (nothing is read until :meth:`rows`)."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def dtype(self) -> str:
        return self.storage.dtype


def _rebuild_tensor(storage: object, offset: object, size: object, stride: object, requires_grad: object = False,
                    hooks: object = None, metadata: object = None) -> LazyTensor:
    if not isinstance(storage, _Storage) or not isinstance(requires_grad, bool) or hooks or metadata:
        raise NotPlainStateDict("tensor with hooks or metadata")
    if not (isinstance(offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)
            and len(size) == len(stride) and all(isinstance(v, int) and v >= 0 for v in (*size, *stride))):
        raise NotPlainStateDict("malformed tensor record")
    extent = offset + sum((s - 1) * st for s, st in zip(size, stride)) + 1 if all(size) else offset
    if offset < 0 or extent > storage.numel:
        raise NotPlainStateDict("tensor outside its storage")
    return LazyTensor(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data: object, requires_grad: object, hooks: object = None) -> object:
    if hooks or not isinstance(data, LazyTensor):
        raise NotPlainStateDict("parameter with hooks")
    return data


_ALLOWED = {("collections", "OrderedDict"): OrderedDict, ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if module == "torch" and name in _STORAGES:
            return name  # a storage type; only meaningful inside a persistent id
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise NotPlainStateDict(f"global {module}.{name}") from None

    def persistent_load(self, pid: object) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and pid[1] in _STORAGES
                and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise NotPlainStateDict(f"persistent id {pid!r}")
        dtype, np_dtype = _STORAGES[pid[1]]
        return _Storage(dtype, np_dtype, pid[2], pid[4])


class PlainZipStateDict:
    """The tensors of one zip-format ``torch.save`` file, as :class:`LazyTensor` views of a memory map."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with zipfile.ZipFile(path) as archive:
                members = {info.filename: info for info in archive.infolist()}
                pickles = [n for n in members if n.endswith("/data.pkl") and n.count("/") == 1]
                if len(pickles) != 1:
                    raise NotPlainStateDict("no single data.pkl")
                prefix = pickles[0][: -len("data.pkl")]
                byteorder = archive.read(prefix + "byteorder") if prefix + "byteorder" in members else b"little"
                if byteorder.strip() != b"little":
                    raise NotPlainStateDict("big-endian file")
                self.obj = _Unpickler(io.BytesIO(archive.read(pickles[0]))).load()
            with open(path, "rb") as handle:
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            self._records: dict[str, np.ndarray] = {}
            for storage in self._storages():
                record = self._records.setdefault(storage.key, self._record(members, prefix, storage.key))
                if len(record) < storage.numel * np.dtype(storage.np_dtype).itemsize:
                    raise NotPlainStateDict(f"storage record {storage.key!r} shorter than its storage")
        except NotPlainStateDict:
            raise
        except Exception as exc:  # damaged archives fail in many ways; torch will say how
            raise NotPlainStateDict(f"{type(exc).__name__}: {exc}") from exc

    def _storages(self) -> list[_Storage]:
        storages: list[_Storage] = []

        def walk(obj: object) -> None:
            if isinstance(obj, LazyTensor):
                storages.append(obj.storage)
            elif isinstance(obj, dict):
                for value in obj.values():
                    walk(value)
            elif isinstance(obj, (list, tuple)):
                for value in obj:
                    walk(value)

        walk(self.obj)
        return storages

    def _record(self, members: dict[str, zipfile.ZipInfo], prefix: str, key: str) -> np.ndarray:
        info = members.get(f"{prefix}data/{key}")
        if info is None or info.compress_type != zipfile.ZIP_STORED:
            raise NotPlainStateDict(f"storage record {key!r} missing or compressed")
        signature, name_len, extra_len = _LOCAL_HEADER.unpack_from(memoryview(self._map), info.header_offset)
        if signature != b"PK\x03\x04":
            raise NotPlainStateDict("bad local header")
        start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
        if start + info.file_size > len(self._map):
            raise NotPlainStateDict("storage record beyond the end of the file")
        return np.frombuffer(self._map, dtype=np.uint8, count=info.file_size, offset=start)

    def rows(self, tensor: LazyTensor, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of a tensor (0-d: its value), copied out and widened like every reader's blocks."""
        storage = tensor.storage
        record = self._records[storage.key]
        itemsize = np.dtype(storage.np_dtype).itemsize
        flat = record[: storage.numel * itemsize].view(storage.np_dtype)
        view = np.lib.stride_tricks.as_strided(flat[tensor.offset:], shape=tensor.shape,
                                               strides=tuple(s * itemsize for s in tensor.stride), writeable=False)
        block = np.array(view[start:stop] if tensor.shape else view)
        if storage.dtype in RAW_FLOATS:
            return widen_raw(block.ravel(), storage.dtype).reshape(block.shape)
        return widen(block)

    def close(self) -> None:
        self._records = {}
        with contextlib.suppress(BufferError):  # a caller still holds a view; the map goes when it does
            self._map.close()
