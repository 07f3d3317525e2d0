"""Finding models under a directory and opening each with the right reader.

A model is either a directory holding weight files (Hugging Face layout, sharded or not) or a
single weight file; its id is its path relative to the scanned directory.

Rules, in order, for each directory met while walking (hidden entries are skipped):

1. It is a *model directory* when it holds ``config.json``, a ``*.index.json`` shard index, or
   Hugging Face weight names (``model*.safetensors``, ``pytorch_model*.bin``). It is one model
   and is not descended into.
2. Otherwise every file with a weight suffix in it is a model of its own, and sub-directories
   are walked.

Inside a model directory safetensors files win over pickles (as in ``transformers``), and an
index file, when present, must account for every tensor it lists.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from heritage.exceptions import CheckpointError, CorruptCheckpointError, NotAWeightFileError, UnsafeCheckpointError
from heritage.io.base import TensorLoader
from heritage.io.multi_file import MultiFileReader, read_weight_map
from heritage.io.safetensors_file import SafetensorsReader
from heritage.io.torch_file import TorchPickleReader

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
WEIGHT_SUFFIXES = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES
# Formats we recognise but do not read: each gets a precise rejection instead of silence.
UNSUPPORTED_SUFFIXES = {
    ".pkl": "plain pickle files are never loaded (unpickling can run code); save the weights as safetensors",
    ".pickle": "plain pickle files are never loaded (unpickling can run code); save the weights as safetensors",
    ".joblib": "joblib pickles are never loaded (unpickling can run code); save the weights as safetensors",
    ".onnx": "ONNX graphs are not supported; export the weights as safetensors",
    ".gguf": "GGUF files are not supported; export the weights as safetensors",
    ".h5": "Keras/HDF5 weights are not supported; export the weights as safetensors",
    ".msgpack": "Flax msgpack weights are not supported; export the weights as safetensors",
    ".npz": "numpy archives are not supported; save the weights as safetensors",
}
_HF_WEIGHT_NAME = re.compile(r"^(model|pytorch_model|adapter_model)(-\d+-of-\d+)?\.(safetensors|bin)$")


@dataclass(frozen=True)
class ModelSource:
    """Where one model lives: its id (path relative to the scan root) and its file or directory."""

    id: str
    path: Path


def discover_models(root: str | Path) -> list[ModelSource]:
    """All model candidates under ``root``, sorted by id. ``root`` itself may be one model."""
    root = Path(root)
    if not root.exists():
        raise NotAWeightFileError(root, "no such file or directory")
    if root.is_file():
        return [ModelSource(root.name, root)]
    if _is_model_dir(root):
        return [ModelSource(root.resolve().name, root)]
    found: list[ModelSource] = []
    for current, dirs, files in os.walk(root):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        keep: list[str] = []
        for d in dirs:
            if _is_model_dir(here / d):
                found.append(ModelSource(_rel_id(here / d, root), here / d))
            else:
                keep.append(d)
        dirs[:] = keep
        for name in sorted(files):
            suffix = Path(name).suffix.lower()
            if not name.startswith(".") and (suffix in WEIGHT_SUFFIXES or suffix in UNSUPPORTED_SUFFIXES):
                found.append(ModelSource(_rel_id(here / name, root), here / name))
    return sorted(found, key=lambda s: s.id)


def _rel_id(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _is_model_dir(path: Path) -> bool:
    try:
        names = [p.name for p in path.iterdir() if p.is_file()]
    except OSError:
        return False
    return any(n == "config.json" or n.endswith(".index.json") or _HF_WEIGHT_NAME.match(n) for n in names)


def open_model(path: str | Path) -> TensorLoader:
    """Open a model (file or Hugging Face directory) with the reader its file type calls for.

    Raises
    ------
    CheckpointError
        With the offending file and what is wrong with it.
    """
    path = Path(path)
    if path.is_dir():
        return _open_dir(path)
    return _open_file(path)


def _open_file(path: Path) -> TensorLoader:
    suffix = path.suffix.lower()
    if suffix in UNSUPPORTED_SUFFIXES:
        error = UnsafeCheckpointError if "pickle" in UNSUPPORTED_SUFFIXES[suffix] else NotAWeightFileError
        raise error(path, UNSUPPORTED_SUFFIXES[suffix])
    if not path.is_file():
        raise NotAWeightFileError(path, "no such file")
    if path.stat().st_size == 0:
        raise NotAWeightFileError(path, "the file is empty")
    if suffix in SAFETENSORS_SUFFIXES:
        return SafetensorsReader(path)
    if suffix in PICKLE_SUFFIXES:
        return TorchPickleReader(path)
    raise NotAWeightFileError(path, f"unknown weight file type {suffix!r}; expected one of {WEIGHT_SUFFIXES}")


def _open_dir(path: Path) -> TensorLoader:
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    for suffixes, index_name in ((SAFETENSORS_SUFFIXES, "model.safetensors.index.json"),
                                 (PICKLE_SUFFIXES, "pytorch_model.bin.index.json")):
        index = path / index_name
        if index.is_file():
            shard_names = sorted(set(read_weight_map(index).values()))
            missing = [n for n in shard_names if not (path / n).is_file() or "/" in n or n.startswith(".")]
            if missing:
                raise CorruptCheckpointError(index, f"the index names shard {missing[0]!r}, which is missing")
            return _union(path, [path / n for n in shard_names], index)
        weights = [p for p in files if p.suffix.lower() in suffixes]
        if weights:
            return _union(path, weights, None)
    raise NotAWeightFileError(path, "the directory holds no weight files (.safetensors, .bin, .pt, .pth)")


def _union(path: Path, files: list[Path], index: Path | None) -> TensorLoader:
    readers: list[TensorLoader] = []
    try:
        for file in files:
            readers.append(_open_file(file))
    except CheckpointError:
        for reader in readers:
            reader.close()
        raise
    if len(readers) == 1 and index is None:
        return readers[0]
    return MultiFileReader(path, readers, index)
