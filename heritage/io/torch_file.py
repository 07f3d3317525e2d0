"""Reader for PyTorch pickles (``.bin``, ``.pt``, ``.pth``, ``.ckpt``).

Plain zip-format state dicts (what ``torch.save(model.state_dict())`` writes) are read by the
restricted unpickler of :mod:`heritage.io.torch_zip`, without importing torch. Every other file
goes to ``torch.load(..., weights_only=True)``, imported only then: a pickle that needs anything
beyond tensors and plain containers is refused with :class:`UnsafeCheckpointError` and never
executed. Zip-format files are memory-mapped either way, so tensors are paged in block by block.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from heritage.exceptions import CorruptCheckpointError, NotAWeightFileError, UnsafeCheckpointError
from heritage.io.base import TensorInfo, TensorLoader
from heritage.io.convert import dtype_name, to_numpy
from heritage.io.torch_zip import LazyTensor, NotPlainStateDict, PlainZipStateDict

if TYPE_CHECKING:
    import torch

# Phrases torch's restricted unpickler uses when a pickle asks for code rather than data (matched
# case-insensitively: torch says both "Unsupported global: GLOBAL x" and "unsupported GLOBAL x ... is blocked").
_UNSAFE_MARKERS = ("unsupported global", "unsupported class", "trying to call", "unsupported type",
                   "is not an allowed global")
# "Unsupported operand N" means code only for the opcodes that import or build objects (STACK_GLOBAL,
# INST, OBJ, NEWOBJ_EX, EXT1/2/4); any other opcode is damaged or random bytes.
_CODE_OPCODES = frozenset(pickle.STACK_GLOBAL + pickle.INST + pickle.OBJ + pickle.NEWOBJ_EX
                          + pickle.EXT1 + pickle.EXT2 + pickle.EXT4)
_OPERAND = re.compile(r"Unsupported operand (\d+)")


def _flatten(obj: object, prefix: str, out: dict[str, object], tensor_type: type) -> None:
    """Collect tensors from nested dicts (``{"state_dict": {...}}`` and the like) under dotted names."""
    if isinstance(obj, tensor_type):
        out[prefix] = obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), out, tensor_type)


class TorchPickleReader(TensorLoader):
    """One PyTorch checkpoint file, loaded with the restricted unpickler."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        tensors: dict[str, object] = {}
        self._plain: PlainZipStateDict | None = None
        is_zip = zipfile.is_zipfile(self.path)
        if is_zip:
            try:
                self._plain = PlainZipStateDict(self.path)
            except NotPlainStateDict:
                self._plain = None
        if self._plain is not None:
            _flatten(self._plain.obj, "", tensors, LazyTensor)
            self._info = {n: TensorInfo(t.shape, t.dtype) for n, t in tensors.items()}  # type: ignore[attr-defined]
        else:
            import torch

            _flatten(self._load(is_zip), "", tensors, torch.Tensor)
            self._info = {n: TensorInfo(tuple(t.shape), dtype_name(t.dtype))  # type: ignore[attr-defined]
                          for n, t in tensors.items()}
        if not tensors:
            raise NotAWeightFileError(self.path, "the checkpoint holds no tensors")
        self._tensors = tensors

    def _load(self, is_zip: bool) -> object:
        import torch

        try:
            return torch.load(self.path, map_location="cpu", weights_only=True, mmap=is_zip)
        except pickle.UnpicklingError as exc:
            text = str(exc)
            unsafe = _unsafe_line(text)
            if unsafe is not None:
                raise UnsafeCheckpointError(
                    self.path,
                    "refused: the pickle needs code beyond tensors to load "
                    f"({unsafe}); re-save it as safetensors from a trusted environment",
                ) from exc
            raise CorruptCheckpointError(
                self.path, f"not a readable PyTorch checkpoint ({_unpickler_line(text)}); truncated or damaged?"
            ) from exc
        except Exception as exc:  # damaged pickles fail in arbitrary ways (IndexError, TypeError, ...)
            raise CorruptCheckpointError(
                self.path,
                f"not a readable PyTorch checkpoint ({type(exc).__name__}: {_first_line(str(exc))}); "
                "truncated or damaged?",
            ) from exc

    def info(self) -> dict[str, TensorInfo]:
        return self._info

    def files(self) -> list[Path]:
        return [self.path]

    def get_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        tensor = self._tensors[name]
        if self._plain is not None:
            assert isinstance(tensor, LazyTensor)
            try:
                return self._plain.rows(tensor, start, stop)
            except (NotPlainStateDict, OSError, ValueError) as exc:
                raise CorruptCheckpointError(self.path, f"cannot read tensor {name!r}: {exc}") from exc
        torch_tensor: torch.Tensor = tensor  # type: ignore[assignment]
        return to_numpy(torch_tensor[start:stop] if torch_tensor.dim() else torch_tensor)

    def close(self) -> None:
        self._tensors = {}
        if self._plain is not None:
            self._plain.close()


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else "unknown error"


def _unsafe_line(text: str) -> str | None:
    """The line of torch's message saying the pickle asked for code, or None when it did not."""
    for line in text.splitlines():
        lower = line.lower()
        operand = _OPERAND.search(line)
        if any(m in lower for m in _UNSAFE_MARKERS) or (operand and int(operand.group(1)) in _CODE_OPCODES):
            return line.split("WeightsUnpickler error:")[-1].strip()[:300]
    return None


def _unpickler_line(text: str) -> str:
    """The restricted unpickler's own complaint, without the advice torch wraps around it."""
    return _first_line(text.split("WeightsUnpickler error:")[-1].split("Check the documentation of torch.load")[0])
