"""Reader for ``.safetensors`` files: memory-mapped, header first, row blocks through ``get_slice``.

Tensors come straight to numpy (``safe_open(..., framework="np")``), so reading safetensors never
imports torch. numpy has no bfloat16 or 8-bit floats: those tensors are read as raw bytes from a
memory map of the file (their offsets come from the header) and widened to float32 here.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open

from heritage.exceptions import CorruptCheckpointError, NotAWeightFileError
from heritage.io.base import TensorInfo, TensorLoader
from heritage.io.convert import RAW_FLOATS, widen, widen_raw


class SafetensorsReader(TensorLoader):
    """One ``.safetensors`` file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._handle = safe_open(str(self.path), framework="np")
            self._info = {}
            for name in self._handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                part = self._handle.get_slice(name)
                self._info[name] = TensorInfo(tuple(part.get_shape()), part.get_dtype())
        except (SafetensorError, OSError, ValueError) as exc:
            raise CorruptCheckpointError(
                self.path, f"not a valid safetensors file ({exc}); the file may be truncated or damaged"
            ) from exc
        if not self._info:
            raise NotAWeightFileError(self.path, "safetensors file holds no tensors")
        self._raw: np.memmap | None = None
        self._offsets: dict[str, int] = {}

    def info(self) -> dict[str, TensorInfo]:
        return self._info

    def files(self) -> list[Path]:
        return [self.path]

    def get_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        info = self._info[name]
        try:
            if info.dtype in RAW_FLOATS:
                return self._raw_rows(name, info, start, stop)
            part = self._handle.get_slice(name)
            array = part[start:stop] if info.shape else self._handle.get_tensor(name)
        except (SafetensorError, OSError, RuntimeError, ValueError, TypeError) as exc:
            raise CorruptCheckpointError(self.path, f"cannot read tensor {name!r}: {exc}") from exc
        return widen(np.asarray(array))

    def _raw_rows(self, name: str, info: TensorInfo, start: int, stop: int) -> np.ndarray:
        """Rows of a tensor numpy cannot hold, decoded from the file's bytes (safe_open validated the offsets)."""
        if self._raw is None:
            with open(self.path, "rb") as handle:
                size = struct.unpack("<Q", handle.read(8))[0]
                header = json.loads(handle.read(size))
            self._offsets = {n: 8 + size + int(e["data_offsets"][0]) for n, e in header.items() if n != "__metadata__"}
            self._raw = np.memmap(self.path, dtype=np.uint8, mode="r")
        itemsize = RAW_FLOATS[info.dtype]
        per_row = int(np.prod(info.shape[1:], dtype=np.int64)) if len(info.shape) > 1 else 1
        if not info.shape:
            start, stop = 0, 1
        begin = self._offsets[name] + start * per_row * itemsize
        raw = self._raw[begin:begin + (stop - start) * per_row * itemsize]
        return widen_raw(raw, info.dtype).reshape((stop - start, *info.shape[1:]) if info.shape else ())

    def close(self) -> None:
        # safe_open has no close(); dropping the handle (and our memory map) releases the mappings.
        self.__dict__.pop("_handle", None)
        self._raw = None
