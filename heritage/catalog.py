"""The stored per-model sketches and family assignments of a data directory (incremental placement's memory).

Layout, under ``<data dir>/.heritage/catalog/`` (hidden, so scans never see it):

``models/<digest of id>.npz``
    One file per model, written once: its sketch arrays and a JSON ``meta`` (id, sha256, shapes,
    squared norms). Loaded without pickle.
``families.json``
    Model id -> family key, rewritten atomically on every change. A family key is stable while
    the family's graph id (``family:<root>``) follows its root: a fresh ``key-...`` when placement
    founds a family, or the family id a batch scan (recluster) gave it.

Everything is held in memory once loaded; writes go to disk first, then to memory. One lock
serialises changes (callers coordinate placement with their own locks).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from heritage.exceptions import CorruptCheckpointError
from heritage.sketch import ModelSketch


class Catalog:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._models_dir = self.root / "models"  # created by the first write
        self._lock = threading.RLock()
        self._sketches: dict[str, ModelSketch] = {}
        self._family: dict[str, str] = {}
        self._load()

    # -- reads ------------------------------------------------------------------------------------------
    def __contains__(self, model_id: object) -> bool:
        return model_id in self._sketches

    def __len__(self) -> int:
        return len(self._sketches)

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(self._sketches)

    def get(self, model_id: str) -> ModelSketch | None:
        return self._sketches.get(model_id)

    def family_of(self, model_id: str) -> str | None:
        return self._family.get(model_id)

    def by_sha(self, sha256: str) -> str | None:
        with self._lock:
            return next((s.id for s in self._sketches.values() if s.sha256 == sha256), None)

    def families(self) -> dict[str, list[ModelSketch]]:
        """Family key -> member sketches (a snapshot)."""
        with self._lock:
            out: dict[str, list[ModelSketch]] = {}
            for model_id, key in sorted(self._family.items()):
                out.setdefault(key, []).append(self._sketches[model_id])
            return out

    def members(self, key: str) -> list[str]:
        with self._lock:
            return sorted(m for m, k in self._family.items() if k == key)

    # -- writes -----------------------------------------------------------------------------------------
    def put(self, sketch: ModelSketch, family: str) -> None:
        with self._lock:
            self._models_dir.mkdir(parents=True, exist_ok=True)
            _atomic_write(self._file(sketch.id), lambda handle: _save_sketch(handle, sketch))
            self._sketches[sketch.id] = sketch
            self._set({sketch.id: family})

    def assign(self, families: dict[str, str]) -> None:
        """Move models (id -> family key), all at once."""
        with self._lock:
            unknown = [m for m in families if m not in self._sketches]
            if unknown:
                raise KeyError(f"not in the catalog: {', '.join(sorted(unknown))}")
            self._set(families)

    def remove(self, model_id: str) -> None:
        with self._lock:
            if model_id not in self._sketches:
                return
            families = dict(self._family)
            families.pop(model_id, None)
            self._write_families(families)
            self._family = families
            del self._sketches[model_id]
            self._file(model_id).unlink(missing_ok=True)

    # -- files ------------------------------------------------------------------------------------------
    def _set(self, changes: dict[str, str]) -> None:
        families = self._family | changes
        self._write_families(families)
        self._family = families

    def _write_families(self, families: dict[str, str]) -> None:
        text = json.dumps(families, indent=0, sort_keys=True)
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.root / "families.json", lambda handle: handle.write(text.encode()))

    def _file(self, model_id: str) -> Path:
        return self._models_dir / f"{hashlib.sha256(model_id.encode()).hexdigest()[:40]}.npz"

    def _load(self) -> None:
        for file in sorted(self._models_dir.glob("*.npz")):
            sketch = _load_sketch(file)
            self._sketches[sketch.id] = sketch
        families_file = self.root / "families.json"
        if families_file.exists():
            stored = json.loads(families_file.read_text())
            self._family = {m: k for m, k in stored.items() if m in self._sketches}
        # A sketch without a family (a crash between the two writes) is dropped, as if never placed.
        for orphan in [m for m in self._sketches if m not in self._family]:
            del self._sketches[orphan]
            self._file(orphan).unlink(missing_ok=True)


def _save_sketch(handle: BinaryIO, sketch: ModelSketch) -> None:
    names = sorted(sketch.sketches)
    meta = {"id": sketch.id, "sha256": sketch.sha256, "shapes": {n: list(s) for n, s in sketch.shapes.items()},
            "sq_norms": sketch.sq_norms, "sketched": names}
    arrays = {f"t{i}": sketch.sketches[n] for i, n in enumerate(names)}
    np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]  # numpy stubs: allow_pickle


def _load_sketch(file: Path) -> ModelSketch:
    try:
        with np.load(file, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            sketches = {n: np.array(data[f"t{i}"]) for i, n in enumerate(meta["sketched"])}
    except (OSError, ValueError, KeyError) as exc:
        raise CorruptCheckpointError(file, f"catalog entry cannot be read ({exc}); delete it and recluster") from exc
    shapes = {n: tuple(s) for n, s in meta["shapes"].items()}
    return ModelSketch(meta["id"], meta["sha256"], shapes, sketches, {n: float(v) for n, v in meta["sq_norms"].items()})


def _atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
