"""A model stored in several files: Hugging Face shards (with or without ``*.index.json``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from heritage.exceptions import CorruptCheckpointError
from heritage.io.base import TensorInfo, TensorLoader


class MultiFileReader(TensorLoader):
    """Union of several per-file readers; every tensor name must come from exactly one file."""

    def __init__(self, path: Path, parts: list[TensorLoader], index: Path | None = None) -> None:
        self.path = path
        self._parts = parts
        self._index = index
        self._owner: dict[str, TensorLoader] = {}
        self._info: dict[str, TensorInfo] = {}
        for part in parts:
            for name, info in part.info().items():
                if name in self._owner:
                    raise CorruptCheckpointError(
                        part.path, f"tensor {name!r} also appears in {self._owner[name].path.name}"
                    )
                self._owner[name] = part
                self._info[name] = info
        if index is not None:
            self._check_index(index)

    def _check_index(self, index: Path) -> None:
        weight_map = read_weight_map(index)
        missing = sorted(set(weight_map) - set(self._info))
        if missing:
            raise CorruptCheckpointError(
                index, f"{len(missing)} tensors listed in the index are in no shard (first: {missing[0]!r})"
            )

    def info(self) -> dict[str, TensorInfo]:
        return self._info

    def files(self) -> list[Path]:
        return [p for part in self._parts for p in part.files()]

    def get_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        return self._owner[name].get_rows(name, start, stop)

    def close(self) -> None:
        for part in self._parts:
            part.close()


def read_weight_map(index: Path) -> dict[str, str]:
    """``weight_map`` of a Hugging Face ``*.index.json``, validated."""
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptCheckpointError(index, f"not a valid shard index ({exc})") from exc
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CorruptCheckpointError(index, "weight_map must map tensor names to shard file names")
    return weight_map
