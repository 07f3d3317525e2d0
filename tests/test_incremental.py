"""Incremental placement on real trained zoos: sketches, placement, catalog, removal, concurrency."""

from __future__ import annotations

import json
import random
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from heritage import Heritage
from heritage.evaluate import evaluate
from heritage.exceptions import (
    DuplicateModelError,
    GraphStoreUnavailableError,
    NonFiniteWeightsError,
    NotFoundError,
)
from heritage.incremental import IncrementalHeritage
from heritage.result import HeritageResult
from heritage.sketch import CountSketch, ModelSketch, sketched_cosine


def _copy_in(zoo: Path, data: Path, model_id: str, as_id: str | None = None) -> str:
    src, dst = zoo / model_id, data / (as_id or model_id)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy(src, dst)
    return as_id or model_id


def _final_state(inc: IncrementalHeritage, written: dict[str, HeritageResult]) -> HeritageResult:
    """The families as last written, one result per family key."""
    merged = HeritageResult()
    for key in sorted(written):
        merged.models += written[key].models
        merged.families += written[key].families
        merged.edges += written[key].edges
    return merged


def _add_all(inc: IncrementalHeritage, zoo: Path, ids: list[str]) -> dict[str, HeritageResult]:
    written: dict[str, HeritageResult] = {}
    for model_id in ids:
        _copy_in(zoo, inc.data_dir, model_id)
        outcome = inc.add(model_id)
        assert outcome.family_key is not None
        written[outcome.family_key] = outcome.results[0]
    return written


def test_sketch_estimates_cosine(genealogy_zoo) -> None:
    """Sketched cosines agree with exact ones on random vectors and stay apart for unrelated ones."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 96))
    related = a + 0.5 * rng.standard_normal((64, 96))
    unrelated = rng.standard_normal((64, 96))

    def sketch(x: np.ndarray) -> ModelSketch:
        s = CountSketch("w", x.shape)
        for start in range(0, 64, 10):
            s.update(x[start:start + 10])
        return ModelSketch("m", "sha", {"w": x.shape}, {"w": s.values}, {"w": s.sq_norm})

    exact = float((a * related).sum() / np.linalg.norm(a) / np.linalg.norm(related))
    est, params, length = sketched_cosine(sketch(a), sketch(related))
    assert (params, length) == (64 * 96, 512)
    assert abs(est - exact) < 0.1
    assert abs(sketched_cosine(sketch(a), sketch(unrelated))[0]) < 8 / np.sqrt(512)


def test_model_by_model_matches_batch(genealogy_zoo, tmp_path: Path) -> None:
    mode, zoo, truth_path = genealogy_zoo
    truth = json.loads(truth_path.read_text())
    batch = Heritage().scan(zoo)
    ids = [m["id"] for m in truth["models"]]
    random.Random(5).shuffle(ids)  # any upload order, children before parents included
    inc = IncrementalHeritage(tmp_path / "data")
    final = _final_state(inc, _add_all(inc, zoo, ids))
    batch_families = sorted(sorted(f.members) for f in batch.families)
    assert sorted(sorted(f.members) for f in final.families) == batch_families
    assert evaluate(final.to_dict(), truth)["edge_accuracy"] >= evaluate(batch.to_dict(), truth)["edge_accuracy"]
    # The catalog alone (reopened from disk) holds the same families.
    again = IncrementalHeritage(tmp_path / "data")
    assert sorted(sorted(s.id for s in m) for m in again.catalog.families().values()) == batch_families


def test_duplicates_and_bad_weights_are_refused_and_change_nothing(trained_zoo, tmp_path: Path) -> None:
    zoo, truth = trained_zoo
    inc = IncrementalHeritage(tmp_path / "data")
    first = truth["models"][0]["id"]
    _copy_in(zoo, inc.data_dir, first)
    inc.add(first)
    _copy_in(zoo, inc.data_dir, first, "copy-of-first")
    with pytest.raises(DuplicateModelError, match="same bytes as model"):
        inc.add("copy-of-first")
    with pytest.raises(DuplicateModelError, match="already placed"):
        inc.add(first)
    # NaN weights in a real trained model: refused with the tensor's name, nothing placed.
    second = next(m["id"] for m in truth["models"][1:] if m["format"] == "safetensors")
    _copy_in(zoo, inc.data_dir, second, "nan-model")
    weights = inc.data_dir / "nan-model" / "model.safetensors"
    tensors = load_file(weights)
    name = next(n for n, t in tensors.items() if t.ndim == 2)
    tensors[name][0, 0] = np.nan
    save_file(tensors, weights)
    with pytest.raises(NonFiniteWeightsError, match=name):
        inc.add("nan-model")
    assert inc.catalog.ids() == [first]


def test_a_failed_write_takes_the_placement_back_unless_its_family_was_written(trained_zoo, tmp_path: Path) -> None:
    """The graph side is a sink here (the real relay cut is in tests/service/test_uploads.py); what
    the engine must do depends only on which families the error says were committed."""
    zoo, truth = trained_zoo
    inc = IncrementalHeritage(tmp_path / "data")
    first, second, third = (m["id"] for m in truth["models"][:3])
    _copy_in(zoo, inc.data_dir, first)
    inc.add(first)

    def failing(written: tuple[str, ...]):
        def write(result: HeritageResult) -> None:
            error = GraphStoreUnavailableError("Neo4j went away")
            error.families_written = tuple(f.id for f in result.families if f.id in written or "*" in written)
            raise error
        return write

    _copy_in(zoo, inc.data_dir, second)
    with pytest.raises(GraphStoreUnavailableError):
        inc.add(second, write=failing(()))  # nothing committed: not placed, files left to the caller
    assert inc.catalog.ids() == [first] and (inc.data_dir / second).is_dir()
    _copy_in(zoo, inc.data_dir, third)
    with pytest.raises(GraphStoreUnavailableError):
        inc.add(third, write=failing(("*",)))  # its family committed, the run record failed: it stays
    assert inc.catalog.ids() == sorted([first, third])
    assert inc.add(second).model == second  # the taken-back model can be added again


def test_remove_rebuilds_the_family_and_deletes_files(trained_zoo, tmp_path: Path) -> None:
    zoo, truth = trained_zoo
    inc = IncrementalHeritage(tmp_path / "data")
    written = _add_all(inc, zoo, [m["id"] for m in truth["models"]])
    root = next(m["id"] for m in truth["models"] if m["parent"] is None)
    key = inc.catalog.family_of(root)
    assert key is not None and len(inc.catalog.members(key)) == 3
    deleted: list[str] = []
    outcome = inc.remove(root, delete_node=deleted.append, write=lambda r: written.update({key: r}))
    assert deleted == [root]
    assert not (inc.data_dir / root).exists()
    assert root not in inc.catalog and len(inc.catalog.members(key)) == 2
    rebuilt = outcome.results[0]
    assert sorted(m.id for m in rebuilt.models) == inc.catalog.members(key)
    assert len(rebuilt.edges) == 1 and all(root not in (e.parent, e.child) for e in rebuilt.edges)
    with pytest.raises(NotFoundError):
        inc.remove(root)


def test_concurrent_adds_lose_nothing_and_give_one_parent_each(genealogy_zoo, tmp_path: Path) -> None:
    mode, zoo, truth_path = genealogy_zoo
    truth = json.loads(truth_path.read_text())
    inc = IncrementalHeritage(tmp_path / "data")
    ids = [m["id"] for m in truth["models"]]
    for model_id in ids:
        _copy_in(zoo, inc.data_dir, model_id)
    writes: list[HeritageResult] = []
    lock = threading.Lock()

    def sink(result: HeritageResult) -> None:
        with lock:
            writes.append(result)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda m: inc.add(m, write=sink), ids))
    assert sorted(inc.catalog.ids()) == sorted(ids)
    last: dict[str, HeritageResult] = {}
    for result in writes:  # in write order: the last write of each family is what the graph holds
        for m in result.models:
            key = inc.catalog.family_of(m.id)
            assert key is not None
            last[key] = result
    final = _final_state(inc, last)
    assert sorted(m.id for m in final.models) == sorted(ids)  # nothing lost, nobody twice
    children = [e.child for e in final.edges]
    assert len(children) == len(set(children))  # one parent each
    assert len(final.families) == len({m["family"] for m in truth["models"]})
