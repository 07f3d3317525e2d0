"""The single pass over a block's tensors: every tensor of every model is read exactly once.

Shared tensors are read across all models of the block at once, one row block at a time, and
feed both the per-model statistics (kurtosis) and the pairwise accumulators; tensors a model
does not share are read on their own for its statistics. Memory is bounded by ``chunk_bytes``
(one row block of one tensor across the block's models, in float64), never by model size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from heritage.blocks import Block
from heritage.config import HeritageConfig
from heritage.distance import PairwiseStats, accumulators_for, finish
from heritage.exceptions import CheckpointError
from heritage.fingerprint import Fingerprint, MomentAccumulator
from heritage.io.base import TensorLoader, row_blocks

_TEMPORARIES = 4  # float64 copies alive at once while a row block is processed


@dataclass
class PassResult:
    stats: PairwiseStats
    bad: dict[int, str] = field(default_factory=dict)  # block-local index -> reason the model is unusable


def run_block_pass(block: Block, fps: list[Fingerprint], loaders: list[TensorLoader], config: HeritageConfig,
                   on_tensor: Callable[[], None] | None = None) -> PassResult:
    """Stream the tensors of one block; ``fps`` and ``loaders`` are the block's members, in order."""
    n = len(fps)
    accs = accumulators_for(config.metric, n, config.rank_sketch, config.seed, config.chunk_bytes)
    bad: dict[int, str] = {}
    per_model_budget = max(1, config.chunk_bytes // (8 * _TEMPORARIES * n))
    compared = set(block.compared)
    for name in block.common:
        info = fps[0].tensors[name]
        is_compared = name in compared
        if is_compared:
            for acc in accs.values():
                acc.start_tensor(name, info.shape, [fp.tensors[name].dtype for fp in fps])
        moments = MomentAccumulator(n)
        for start, stop in row_blocks(info.shape, per_model_budget):
            rows = _read_rows(fps, loaders, name, start, stop, bad)
            moments.update(rows.reshape(n, -1))
            if is_compared:
                for acc in accs.values():
                    acc.update(rows)
        for fp, stats in zip(fps, moments.finish()):
            fp.stats[name] = stats
        if is_compared:
            for acc in accs.values():
                acc.end_tensor()
        if on_tensor:
            on_tensor()
    for local, (fp, loader) in enumerate(zip(fps, loaders)):
        for name in fp.tensors:
            if name not in fp.stats and fp.tensors[name].is_float and local not in bad:
                _own_tensor_stats(fp, loader, name, per_model_budget * n, local, bad)
    return PassResult(finish(accs), bad)


def _read_rows(fps: list[Fingerprint], loaders: list[TensorLoader], name: str, start: int, stop: int,
               bad: dict[int, str]) -> np.ndarray:
    """One row block of a shared tensor across models, float64; unusable models contribute zeros."""
    parts: list[np.ndarray | None] = []
    for local, (fp, loader) in enumerate(zip(fps, loaders)):
        part = None
        if local not in bad:
            try:
                part = np.asarray(loader.get_rows(fp.stored_names[name], start, stop), dtype=np.float64)
            except CheckpointError as exc:
                bad[local] = exc.reason
            else:
                if not np.isfinite(part).all():
                    bad[local] = _nonfinite_reason(fp.stored_names[name], part)
                    part = None
        parts.append(part)
    shape = next((p.shape for p in parts if p is not None), None)
    if shape is None:
        shape = (stop - start, *fps[0].tensors[name].shape[1:])
    block = np.zeros((len(parts), *shape) if shape else (len(parts), 1))
    for local, part in enumerate(parts):
        if part is not None:
            block[local] = part
    return block.reshape(len(parts), max(stop - start, 1), -1)


def _own_tensor_stats(fp: Fingerprint, loader: TensorLoader, name: str, budget: int, local: int,
                      bad: dict[int, str]) -> None:
    moments = MomentAccumulator(1)
    for start, stop in row_blocks(fp.tensors[name].shape, budget):
        try:
            rows = np.asarray(loader.get_rows(fp.stored_names[name], start, stop), dtype=np.float64)
        except CheckpointError as exc:
            bad[local] = exc.reason
            return
        if not np.isfinite(rows).all():
            bad[local] = _nonfinite_reason(fp.stored_names[name], rows)
            return
        moments.update(rows.reshape(1, -1))
    fp.stats[name] = moments.finish()[0]


def _nonfinite_reason(name: str, values: np.ndarray) -> str:
    nan, inf = int(np.isnan(values).sum()), int(np.isinf(values).sum())
    return f"tensor {name!r} holds non-finite weights ({nan} NaN, {inf} Inf in the first bad block)"
