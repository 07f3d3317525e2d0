"""Streamed passes over a block's tensors, one tensor (row block) at a time across models.

The *block pass* reads every tensor of every model exactly once: shared tensors are read across
all models of the block at once and feed the per-model statistics (kurtosis, norm) and the Gram
sums every pair needs (l2, cosine, relatedness); tensors a model does not share are read on their
own for its statistics. The expensive pairwise metrics (largest absolute difference, ranks) are
only needed for some pairs -- pairs inside one family for the trees, a few probe pairs for the
``auto`` rules -- so :func:`pair_pass` reads the *compared* tensors of just the models involved
once more and computes them for those pairs only. Ranks need only a small random sketch of each
compared matrix: when ranks may be read and the sketches of the whole block fit in
``chunk_bytes``, the block pass keeps them and no pass is needed for ranks at all. Memory is
bounded by ``chunk_bytes`` (one row block of one tensor across the models of a pass; kept
sketches, separately), never by model size.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from heritage.blocks import Block
from heritage.config import DistanceMetric, HeritageConfig
from heritage.distance import (
    THREADED_VALUES,
    THREADS,
    GramAccumulator,
    MaxAbsAccumulator,
    PairwiseAccumulator,
    PairwiseStats,
    RankAccumulator,
    run_in_threads,
)
from heritage.exceptions import CheckpointError, CorruptCheckpointError
from heritage.fingerprint import Fingerprint, MomentAccumulator
from heritage.io.base import TensorLoader, row_blocks

_TEMPORARIES = 4  # float64 copies alive at once while a row block is processed
# Values per sub-block handed to the accumulators. Reads go in row blocks as large as the budget
# allows (fewer calls), the arithmetic in cache-sized slices of them: large float64 temporaries
# cost page faults and memory bandwidth, and made the statistics two to three times slower.
_CACHE_VALUES = 1 << 18


@dataclass
class PassResult:
    stats: PairwiseStats
    bad: dict[int, str] = field(default_factory=dict)  # block-local index -> reason the model is unusable
    sketches: RankAccumulator | None = None  # kept rank sketches of the compared matrices, when asked and small


def run_block_pass(block: Block, fps: list[Fingerprint], loaders: list[TensorLoader], config: HeritageConfig,
                   on_tensor: Callable[[], None] | None = None) -> PassResult:
    """Stream the tensors of one block; ``fps`` and ``loaders`` are the block's members, in order.

    When the block holds enough values for threads to pay (:data:`THREADED_VALUES`), the tensors
    are split into :data:`THREADS` groups of about equal size, each streamed by its own thread
    into its own Gram sums (numpy releases the GIL in the arithmetic). The split and
    each thread's order are fixed, so results do not depend on scheduling: the Gram sums are added
    in group order, and a model that is unusable in several tensors is reported with the reason
    from the first of them in block order.
    """
    n = len(fps)
    sizes = [fps[0].tensors[name].numel for name in block.common]
    groups = _balanced_groups(list(block.common), sizes, THREADS if n * sum(sizes) >= THREADED_VALUES else 1)
    per_model_budget = max(1, config.chunk_bytes // (8 * _TEMPORARIES * n * len(groups)))
    compared = set(block.compared)
    grams = [GramAccumulator(n) for _ in groups]
    sketches = ([RankAccumulator(n, config.rank_sketch, config.seed, config.chunk_bytes, keep=True) for _ in groups]
                if _keep_sketches(block, fps, config) else None)
    first_bad: list[dict[int, tuple[int, str]]] = [{} for _ in groups]  # local -> (tensor position, reason)
    report = threading.Lock()

    def stream(g: int) -> None:
        bad: dict[int, str] = {}
        for position, name in groups[g]:
            info = fps[0].tensors[name]
            moments = MomentAccumulator(n)
            if sketches and name in compared:
                sketches[g].start_tensor(name, info.shape, [fp.tensors[name].dtype for fp in fps])
            for start, stop in row_blocks(info.shape, per_model_budget):
                for rows in _cache_slices(_read_rows(fps, loaders, name, start, stop, bad)):
                    rows64 = rows.astype(np.float64, copy=False)
                    moments.update(rows64.reshape(n, -1))
                    if name in compared:
                        grams[g].update(rows64)
                        if sketches:
                            sketches[g].update(rows64)
            if sketches and name in compared:
                sketches[g].end_tensor()
            for local, reason in bad.items():
                first_bad[g].setdefault(local, (position, reason))
            for fp, stats in zip(fps, moments.finish()):
                fp.stats[name] = stats
            if on_tensor:
                with report:
                    on_tensor()

    run_in_threads(stream, list(range(len(groups))), threads=len(groups))
    gram = grams[0]
    for other in grams[1:]:
        gram.add(other)
    if sketches:
        for more in sketches[1:]:
            sketches[0].merge(more)
    bad = {local: min(found[local] for found in first_bad if local in found)[1]
           for local in sorted({local for found in first_bad for local in found})}
    _unshared_stats(fps, loaders, bad, per_model_budget * n)
    return PassResult(PairwiseStats.from_gram(gram), bad, sketches[0] if sketches else None)


def _keep_sketches(block: Block, fps: list[Fingerprint], config: HeritageConfig) -> bool:
    """Whether the block pass also sketches the compared matrices for ranks: when ranks may be read, and they fit."""
    if config.metric not in (DistanceMetric.MATRIX_RANK, DistanceMetric.AUTO) or not block.compared:
        return False
    size = sum(RankAccumulator.sketch_bytes(len(fps), fps[0].tensors[name].shape, config.rank_sketch)
               for name in block.compared)
    return size <= config.chunk_bytes


def _balanced_groups(names: list[str], sizes: list[int], count: int) -> list[list[tuple[int, str]]]:
    """Split ``names`` into up to ``count`` groups of about equal total size, each in block order."""
    loads = [0] * count
    owner = {}
    for position in sorted(range(len(names)), key=lambda p: (-sizes[p], p)):
        g = loads.index(min(loads))
        owner[position] = g
        loads[g] += sizes[position]
    groups = [[(p, name) for p, name in enumerate(names) if owner[p] == g] for g in range(count)]
    return [group for group in groups if group] or [[]]


def pair_pass(block: Block, fps: list[Fingerprint], loaders: list[TensorLoader], config: HeritageConfig,
              metric: DistanceMetric, pairs: tuple[np.ndarray, np.ndarray] | None = None) -> PairwiseAccumulator:
    """Read the compared tensors of ``fps`` once more and accumulate ``metric`` (``mother`` or ``rank``).

    ``pairs`` (rank only) limits the work to those pairs of positions in ``fps``; by default every
    pair. The models were read whole by :func:`run_block_pass` already, so a read failing now
    means a file changed during the scan.
    """
    n = len(fps)
    acc: PairwiseAccumulator
    if metric is DistanceMetric.MOTHER:
        acc = MaxAbsAccumulator(n)
    elif metric is DistanceMetric.MATRIX_RANK:
        acc = RankAccumulator(n, config.rank_sketch, config.seed, config.chunk_bytes, pairs)
    else:
        raise ValueError(f"metric {metric.value!r} needs no second pass")
    bad: dict[int, str] = {}
    per_model_budget = max(1, config.chunk_bytes // (8 * _TEMPORARIES * n))
    for name in block.compared:
        info = fps[0].tensors[name]
        acc.start_tensor(name, info.shape, [fp.tensors[name].dtype for fp in fps])
        for start, stop in row_blocks(info.shape, per_model_budget):
            for rows in _cache_slices(_read_rows(fps, loaders, name, start, stop, bad)):
                acc.update(rows)
            if bad:
                local, reason = next(iter(bad.items()))
                raise CorruptCheckpointError(fps[local].path, f"changed during the scan: {reason}")
        acc.end_tensor()
    return acc


def _cache_slices(rows: np.ndarray) -> Iterator[np.ndarray]:
    """Row slices (views) of a ``(models, rows, cols)`` block, about :data:`_CACHE_VALUES` values each."""
    step = max(1, _CACHE_VALUES // max(rows.shape[0] * rows.shape[2], 1))
    for start in range(0, rows.shape[1], step):
        yield rows[:, start:start + step]


class Ranker:
    """Ranks of chosen pairs of a block's good models: from the block pass's kept sketches, else one more pass.

    ``fps`` and ``loaders`` are the good models; ``positions`` their indices in the block pass.
    """

    def __init__(self, block: Block, fps: list[Fingerprint], loaders: list[TensorLoader], config: HeritageConfig,
                 sketches: RankAccumulator | None, positions: list[int]) -> None:
        self.block, self.fps, self.loaders, self.config, self.sketches = block, fps, loaders, config, sketches
        self.positions = np.asarray(positions, dtype=np.intp)

    def fill(self, rank: np.ndarray, first: np.ndarray, second: np.ndarray,
             at: tuple[np.ndarray, np.ndarray] | None = None) -> float:
        """Write the ranks of the pairs ``(first, second)`` (good-model indices) into ``rank`` at ``at``
        (default: the same indices), symmetrically; return the rank capacity."""
        rows, cols = at if at is not None else (first, second)
        if self.sketches is not None:
            if len(first):
                rank[rows, cols] = rank[cols, rows] = self.sketches.ranks(self.positions[first],
                                                                          self.positions[second])
            return self.sketches.capacity
        if not len(first):
            return 0.0
        involved = sorted(set(first.tolist()) | set(second.tolist()))
        position = {m: p for p, m in enumerate(involved)}
        acc = pair_pass(self.block, [self.fps[i] for i in involved], [self.loaders[i] for i in involved],
                        self.config, DistanceMetric.MATRIX_RANK,
                        (np.array([position[i] for i in first], dtype=np.intp),
                         np.array([position[j] for j in second], dtype=np.intp)))
        assert isinstance(acc, RankAccumulator)
        rank[rows, cols] = rank[cols, rows] = acc.rank[acc.pairs]
        return acc.capacity


def _read_rows(fps: list[Fingerprint], loaders: list[TensorLoader], name: str, start: int, stop: int,
               bad: dict[int, str]) -> np.ndarray:
    """One row block of a shared tensor across models; unusable models contribute zeros.

    float32 unless a model stores the tensor in float64 (every other float dtype widens exactly to float32).
    """
    shape = fps[0].tensors[name].shape
    per_row = math.prod(shape[1:])
    rows = max(stop - start, 1)
    wide = any(fp.tensors[name].dtype == "F64" for fp in fps)
    block = np.zeros((len(fps), rows * per_row), dtype=np.float64 if wide else np.float32)
    for local, (fp, loader) in enumerate(zip(fps, loaders)):
        if local in bad:
            continue
        try:
            part = loader.get_rows(fp.stored_names[name], start, stop)
        except CheckpointError as exc:
            bad[local] = exc.reason
            continue
        # A sum is finite exactly when every value is, unless finite values overflow it: only then look closer.
        if not np.isfinite(part.sum()) and not np.isfinite(part).all():
            bad[local] = _nonfinite_reason(fp.stored_names[name], part)
            continue
        block[local] = part.reshape(-1)
    return block.reshape(len(fps), rows, -1)


def _unshared_stats(fps: list[Fingerprint], loaders: list[TensorLoader], bad: dict[int, str], budget: int) -> None:
    """Statistics of the float tensors not every model of the block shares (heads, resized embeddings).

    Models holding the same such tensor (same name and shape) are read together, like shared ones.
    A model unusable in several of them is reported with the first in its own tensor order.
    """
    groups: dict[tuple[str, tuple[int, ...]], list[int]] = {}
    for local, fp in enumerate(fps):
        if local not in bad:
            for name, info in fp.tensors.items():
                if name not in fp.stats and info.is_float:
                    groups.setdefault((name, info.shape), []).append(local)
    failures: dict[int, tuple[int, str]] = {}
    for (name, shape), members in groups.items():
        group_fps, group_loaders = [fps[i] for i in members], [loaders[i] for i in members]
        group_bad: dict[int, str] = {}
        moments = MomentAccumulator(len(members))
        for start, stop in row_blocks(shape, max(1, budget // len(members))):
            for rows in _cache_slices(_read_rows(group_fps, group_loaders, name, start, stop, group_bad)):
                moments.update(rows.astype(np.float64, copy=False).reshape(len(members), -1))
        for k, (fp, stats) in enumerate(zip(group_fps, moments.finish())):
            if k in group_bad:
                found = (list(fp.tensors).index(name), group_bad[k])
                failures[members[k]] = min(failures.get(members[k], found), found)
            else:
                fp.stats[name] = stats
    for local in sorted(failures):
        bad[local] = failures[local][1]


def _nonfinite_reason(name: str, values: np.ndarray) -> str:
    nan, inf = int(np.isnan(values).sum()), int(np.isinf(values).sum())
    return f"tensor {name!r} holds non-finite weights ({nan} NaN, {inf} Inf in the first bad block)"
