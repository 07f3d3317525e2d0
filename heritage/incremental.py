"""Models added, removed and re-placed one at a time, against a data directory and its catalog.

A model's id is its path relative to the data directory, as in a scan. Adding one:

1. open it (headers, sha256) and sketch it in one read (:mod:`heritage.sketch`): the *load* time;
2. choose its family from the stored sketches alone (:func:`heritage.placement.place`): the
   *assign* time -- no stored model is read;
3. rebuild that family's tree from its members' files (:meth:`Heritage.scan_sources` on the
   family only, as one family): the *tree* time. If that rebuild or its write fails, the model is
   taken out of the catalog again, so a failed add leaves nothing placed.

Concurrency: placement decisions are serialised by one lock, so two models uploaded at once see
each other and cannot both found a family; each family's rebuild (and the caller's write of it)
runs under that family's lock, so a rebuild always sees every member placed before it started
and writes never interleave; a recluster excludes everything else. A family's tree is always
rebuilt whole and written as one unit, so no model can end up with two parents.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from heritage.catalog import Catalog
from heritage.config import HeritageConfig
from heritage.exceptions import DuplicateModelError, NotFoundError
from heritage.io import ModelSource
from heritage.pipeline import Heritage, open_fingerprinted
from heritage.placement import Placement, place
from heritage.result import HeritageResult
from heritage.sketch import ModelSketch, sketch_model

CATALOG_DIR = Path(".heritage") / "catalog"
FamilySink = Callable[[HeritageResult], object]  # e.g. GraphStore.write_result


@dataclass
class Outcome:
    """What one incremental operation did; ``seconds`` has ``load``, ``assign`` and ``tree``."""

    model: str | None
    family_key: str | None
    placement: Placement | None
    results: list[HeritageResult] = field(default_factory=list)  # every family rebuilt, in order
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        model = None
        for result in self.results:
            for m in result.models:
                if m.id == self.model:
                    model = m
        return {"model": self.model, "family": model.family if model else None,
                "parent": model.parent if model else None, "family_key": self.family_key,
                "placement": self.placement.as_dict() if self.placement else None,
                "families_rebuilt": [f.id for r in self.results for f in r.families],
                "rejected": [{"id": r.id, "reason": r.reason} for res in self.results for r in res.rejected],
                "seconds": {k: round(v, 4) for k, v in self.seconds.items()}}


class IncrementalHeritage:
    """The engine's incremental side (see module docstring); the API and the benchmarks use it alike."""

    def __init__(self, data_dir: str | Path, config: HeritageConfig | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.config = config or HeritageConfig()
        self.catalog = Catalog(self.data_dir / CATALOG_DIR)
        self._placement = threading.Lock()
        self._world = _SharedExclusive()
        self._family_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # -- operations -----------------------------------------------------------------------------------
    def add(self, model_id: str, write: FamilySink | None = None) -> Outcome:
        """Place the model stored at ``data_dir/model_id`` and rebuild its family."""
        with self._world.shared():
            tick = time.perf_counter()
            sketch = self._sketch(model_id)
            load = time.perf_counter() - tick
            tick = time.perf_counter()
            with self._placement:
                if model_id in self.catalog:
                    raise DuplicateModelError(model_id, "a model with this id is already placed")
                same = self.catalog.by_sha(sketch.sha256)
                if same is not None:
                    raise DuplicateModelError(model_id, f"same bytes as model {same!r}")
                placement = place(sketch, self.catalog.families(), self.config.min_shared_fraction,
                                  self.config.relatedness_cosine)
                key = placement.family or new_family_key()
                self.catalog.put(sketch, key)
            assign = time.perf_counter() - tick
            tick = time.perf_counter()
            result = self._rebuild(key, write, placed=model_id)
            return Outcome(model_id, key, placement, [result],
                           {"load": load, "assign": assign, "tree": time.perf_counter() - tick})

    def rebuild(self, key: str, write: FamilySink | None = None) -> Outcome:
        """Rebuild one family's tree from its members' files."""
        with self._world.shared():
            if not self.catalog.members(key):
                raise NotFoundError(f"family key {key!r} has no members in the catalog")
            tick = time.perf_counter()
            result = self._rebuild(key, write)
            return Outcome(None, key, None, [result], {"tree": time.perf_counter() - tick})

    def remove(self, model_id: str, delete_node: Callable[[str], None] | None = None,
               write: FamilySink | None = None) -> Outcome:
        """Forget a model, delete its files, and rebuild its family without it.

        Order: the rebuilt family is computed first, then ``delete_node`` and ``write`` run (the
        graph), and only then are the catalog entry and the files removed, so a failure on the
        way leaves the model where it was.
        """
        with self._world.shared():
            key = self._key_of(model_id)
            with self._family(key):
                tick = time.perf_counter()
                rest = [m for m in self.catalog.members(key) if m != model_id]
                result = self._scan(rest) if rest else HeritageResult()
                if delete_node:
                    delete_node(model_id)
                if write and rest:
                    write(result)
                self.catalog.remove(model_id)
                self._delete_files(model_id)
                return Outcome(model_id, key, None, [result], {"tree": time.perf_counter() - tick})

    def reprocess(self, model_id: str, write: FamilySink | None = None) -> Outcome:
        """Sketch a model again, place it again (it may move), and rebuild the families involved."""
        with self._world.shared():
            old = self._key_of(model_id)
            tick = time.perf_counter()
            sketch = self._sketch(model_id)
            load = time.perf_counter() - tick
            tick = time.perf_counter()
            with self._placement:
                others = {k: [s for s in members if s.id != model_id] for k, members in self.catalog.families().items()}
                placement = place(sketch, {k: v for k, v in others.items() if v}, self.config.min_shared_fraction,
                                  self.config.relatedness_cosine)
                key = placement.family or (old if not others.get(old) else new_family_key())
                self.catalog.put(sketch, key)
            assign = time.perf_counter() - tick
            tick = time.perf_counter()
            results = [self._rebuild(k, write) for k in dict.fromkeys([key, old]) if self.catalog.members(k)]
            return Outcome(model_id, key, placement, results,
                           {"load": load, "assign": assign, "tree": time.perf_counter() - tick})

    def recluster(self, write: FamilySink | None = None) -> HeritageResult:
        """Batch-scan the whole data directory, then make the catalog agree with it (nothing else runs meanwhile)."""
        with self._world.exclusive():
            result = Heritage(self.config).scan(self.data_dir)
            found = {m.id: m for m in result.models}
            for model_id in self.catalog.ids():
                stored = self.catalog.get(model_id)
                if model_id not in found or (stored is not None and stored.sha256 != found[model_id].sha256):
                    self.catalog.remove(model_id)
            for m in result.models:
                if m.id not in self.catalog:
                    self.catalog.put(self._sketch(m.id), m.family)
            self.catalog.assign({m.id: m.family for m in result.models})
            if write:
                write(result)
            return result

    def key_of_family(self, member_ids: list[str]) -> str:
        """The catalog key of the family holding these (graph) members."""
        keys = {self.catalog.family_of(m) for m in member_ids} - {None}
        if not keys:
            raise NotFoundError("none of the family's members is in the catalog: upload them or recluster")
        return sorted(k for k in keys if k is not None)[0]

    # -- internals --------------------------------------------------------------------------------------
    def _rebuild(self, key: str, write: FamilySink | None, placed: str | None = None) -> HeritageResult:
        """Rebuild and write one family. ``placed``: a model just placed in it; if the rebuild fails, or
        the write fails before its family was committed (``families_written`` on the error), it is
        taken out of the catalog again, still under the family lock, so no other rebuild sees it and
        the catalog agrees with the graph. Its files are the caller's."""
        with self._family(key):
            result = None
            try:
                result = self._scan(self.catalog.members(key))
                if write:
                    write(result)
            except Exception as exc:
                family = next((m.family for m in result.models if m.id == placed), None) if result else None
                if placed is not None and family not in getattr(exc, "families_written", ()):
                    self.catalog.remove(placed)
                raise
            return result

    def _sketch(self, model_id: str) -> ModelSketch:
        model = open_fingerprinted(ModelSource(model_id, self.data_dir / model_id))
        try:
            return sketch_model(model.fp, model.loader, self.config.layer_filter)
        finally:
            model.loader.close()

    def _scan(self, ids: list[str]) -> HeritageResult:
        sources = [ModelSource(m, self.data_dir / m) for m in ids]
        return Heritage(replace(self.config, families=1)).scan_sources(sources)

    def _key_of(self, model_id: str) -> str:
        key = self.catalog.family_of(model_id)
        if key is None:
            raise NotFoundError(f"model {model_id!r} is not in the catalog of {self.data_dir}")
        return key

    @contextmanager
    def _family(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._family_locks.setdefault(key, threading.Lock())
        with lock:
            yield

    def _delete_files(self, model_id: str) -> None:
        path = self.data_dir / model_id
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        parent = path.parent
        while parent != self.data_dir and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def new_family_key() -> str:
    return f"key-{uuid.uuid4().hex[:16]}"


class _SharedExclusive:
    """A readers-writer lock: many shared holders, or one exclusive holder."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive and self._shared == 0)
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()
