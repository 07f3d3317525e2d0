"""The one interface every checkpoint reader implements: lazy access to tensors by name."""

from __future__ import annotations

import abc
import hashlib
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"})
_HASH_BLOCK = 4 * 2**20


@dataclass(frozen=True)
class TensorInfo:
    """Shape and storage dtype of one tensor, read from the header without loading data."""

    shape: tuple[int, ...]
    dtype: str  # safetensors-style name: F32, BF16, I64, ...

    @property
    def numel(self) -> int:
        return math.prod(self.shape)  # 1 for a 0-d tensor

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES


class TensorLoader(abc.ABC):
    """Lazy, tensor-by-tensor access to one model's weights.

    Readers never load a whole model: ``info`` comes from headers, ``get_rows`` returns a row
    block of one tensor as a numpy array (half precision is widened to float32 per block).
    """

    path: Path

    @abc.abstractmethod
    def info(self) -> dict[str, TensorInfo]:
        """Name -> shape and dtype of every tensor, in storage order."""

    @abc.abstractmethod
    def get_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` along the first axis of tensor ``name`` (0-d tensors: the value)."""

    @abc.abstractmethod
    def files(self) -> list[Path]:
        """The files that hold this model's weights, in a stable order."""

    def keys(self) -> list[str]:
        return list(self.info())

    def get_tensor(self, name: str) -> np.ndarray:
        shape = self.info()[name].shape
        return self.get_rows(name, 0, shape[0] if shape else 1)

    def close(self) -> None:  # noqa: B027 - optional hook, most readers hold nothing to release
        """Release file handles and memory maps."""

    def sha256(self) -> str:
        """Digest of the weight files' bytes (names included for multi-file models), streamed."""
        return sha256_of_files(self.files(), relative_to=self.path if self.path.is_dir() else None)

    def __enter__(self) -> TensorLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sha256_of_files(files: Iterable[Path], relative_to: Path | None = None) -> str:
    digest = hashlib.sha256()
    for file in files:
        if relative_to is not None:
            digest.update(str(file.relative_to(relative_to)).encode() + b"\0")
        with open(file, "rb") as handle:
            while block := handle.read(_HASH_BLOCK):
                digest.update(block)
    return digest.hexdigest()


def row_blocks(shape: tuple[int, ...], max_elements: int) -> Iterator[tuple[int, int]]:
    """Split the first axis of ``shape`` into blocks of at most ``max_elements`` values."""
    rows = shape[0] if shape else 1
    per_row = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    step = max(1, max_elements // max(per_row, 1))
    for start in range(0, rows, step):
        yield start, min(rows, start + step)
