"""Reader for ``.safetensors`` files: memory-mapped, header first, row blocks through ``get_slice``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from heritage.exceptions import CorruptCheckpointError, NotAWeightFileError
from heritage.io.base import TensorInfo, TensorLoader
from heritage.io.convert import to_numpy


class SafetensorsReader(TensorLoader):
    """One ``.safetensors`` file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._handle = safe_open(str(self.path), framework="pt", device="cpu")
            self._info = {
                name: TensorInfo(tuple(self._handle.get_slice(name).get_shape()),
                                 self._handle.get_slice(name).get_dtype())
                for name in self._handle.keys()  # noqa: SIM118 - safe_open is not a mapping
            }
        except (SafetensorError, OSError, ValueError) as exc:
            raise CorruptCheckpointError(
                self.path, f"not a valid safetensors file ({exc}); the file may be truncated or damaged"
            ) from exc
        if not self._info:
            raise NotAWeightFileError(self.path, "safetensors file holds no tensors")

    def info(self) -> dict[str, TensorInfo]:
        return self._info

    def files(self) -> list[Path]:
        return [self.path]

    def get_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        try:
            part = self._handle.get_slice(name)
            tensor = part[start:stop] if self._info[name].shape else self._handle.get_tensor(name)
        except (SafetensorError, OSError, RuntimeError) as exc:
            raise CorruptCheckpointError(self.path, f"cannot read tensor {name!r}: {exc}") from exc
        assert isinstance(tensor, torch.Tensor)
        return to_numpy(tensor)

    def close(self) -> None:
        # safe_open has no close(); dropping the handle releases the memory map.
        self.__dict__.pop("_handle", None)
