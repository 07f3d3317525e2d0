"""Pairwise weight distances, accumulated tensor by tensor across all models of a block.

Every accumulator sees the same stream: ``start_tensor`` with the tensor's shape and storage
dtypes, ``update`` with row blocks stacked across models (``(models, rows, cols)`` float64), and
``end_tensor``. Results are symmetric ``(models, models)`` matrices. Nothing here reads files.

Metrics (the registry :data:`METRICS`, keyed by CLI name):

``l2``
    Euclidean distance between the models' compared tensors, concatenated. Accumulated from
    centred Gram matrices, so near-identical fine-tunes do not lose precision to cancellation.
``cosine``
    ``1 - cos`` of the concatenated compared tensors (derived from the same Gram sums).
``mother``
    The published full-fine-tune distance: the largest absolute weight difference over the
    compared tensors (the published code uses square matrices: ``--layers square``).
``rank``
    Sum over compared matrices of the numerical rank of the weight difference, the published
    distance for LoRA fine-tunes. Ranks are computed on a random Gaussian sketch ``(A - B) @ G``
    with ``k`` columns (exact for ranks below ``k``; matrices with at most ``k`` columns are used
    whole). A singular value counts when it exceeds the rounding noise the two *stored*
    matrices can carry: ``4 * u * sqrt(|A|_F^2 + |B|_F^2) * (sqrt(n) + sqrt(k))``, with ``u`` the
    unit round-off of the coarser storage dtype (2^-24 for float32, 2^-8 for bfloat16).
``auto``
    Per block: ``rank`` when the differences between related models (see below) are low-rank --
    median relative rank below 0.5 -- else ``mother``, which recovered the undirected trees of
    full fine-tunes better than ``l2`` on our development zoos.

Relatedness (what ``auto`` clustering joins): two models are related when the cosine similarity
of their compared tensors is at least ``max(relatedness_cosine, 8 / sqrt(P))`` -- independently
initialised networks of ``P`` compared parameters are near orthogonal, their cosine is of order
``1 / sqrt(P)`` -- or when their difference is low-rank (relative rank at most 0.5), as merged
LoRA fine-tunes are even when they moved far from their base.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from heritage.config import DistanceMetric

UNIT_ROUNDOFF = {"F64": 2.0**-53, "F32": 2.0**-24, "F16": 2.0**-11, "BF16": 2.0**-8,
                 "F8_E4M3": 2.0**-4, "F8_E5M2": 2.0**-3}
LOW_RANK_RELATIVE = 0.5


class PairwiseAccumulator:
    """Base class: a symmetric statistic summed tensor by tensor."""

    def __init__(self, models: int) -> None:
        self.models = models

    def start_tensor(self, name: str, shape: tuple[int, ...], dtypes: list[str]) -> None:  # noqa: B027
        """A new tensor begins; ``dtypes`` are the storage dtypes per model."""

    def update(self, block: np.ndarray) -> None:
        raise NotImplementedError

    def end_tensor(self) -> None:  # noqa: B027
        """The current tensor is complete."""


class GramAccumulator(PairwiseAccumulator):
    """Squared Euclidean distances and squared norms, from centred Gram matrices."""

    def __init__(self, models: int) -> None:
        super().__init__(models)
        self.sq_dist = np.zeros((models, models))
        self.sq_norm = np.zeros(models)

    def update(self, block: np.ndarray) -> None:
        flat = block.reshape(self.models, -1)
        self.sq_norm += np.einsum("ij,ij->i", flat, flat)
        centred = flat - flat.mean(axis=0)
        gram = centred @ centred.T
        diag = np.diag(gram)
        self.sq_dist += np.maximum(diag[:, None] + diag[None, :] - 2.0 * gram, 0.0)

    def l2(self) -> np.ndarray:
        out = np.sqrt(self.sq_dist)
        np.fill_diagonal(out, 0.0)
        return out

    def cosine_similarity(self) -> np.ndarray:
        norm = np.sqrt(self.sq_norm)
        with np.errstate(divide="ignore", invalid="ignore"):
            dot = (self.sq_norm[:, None] + self.sq_norm[None, :] - self.sq_dist) / 2.0
            sim = np.where(np.outer(norm, norm) > 0, dot / np.outer(norm, norm), 0.0)
        np.fill_diagonal(sim, 1.0)
        return np.clip(sim, -1.0, 1.0)

    def cosine_distance(self) -> np.ndarray:
        # 1 - cos from the distance itself: (|a-b|^2 - (|a|-|b|)^2) / (2|a||b|), precise when cos ~ 1.
        norm = np.sqrt(self.sq_norm)
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = (self.sq_dist - (norm[:, None] - norm[None, :]) ** 2) / (2.0 * np.outer(norm, norm))
        dist = np.where(np.isfinite(dist), dist, 1.0)
        np.fill_diagonal(dist, 0.0)
        return np.clip(dist, 0.0, 2.0)


class MaxAbsAccumulator(PairwiseAccumulator):
    """Largest absolute elementwise difference (the published MoTHer full-fine-tune distance).

    Differences are taken in float32, into one reused buffer: checkpoints store float32 or less,
    so the values are exact and each difference is off by at most one float32 rounding.
    """

    def __init__(self, models: int) -> None:
        super().__init__(models)
        self.value = np.zeros((models, models))

    def update(self, block: np.ndarray) -> None:
        flat = block.reshape(self.models, -1).astype(np.float32)
        buffer = np.empty((self.models - 1, flat.shape[1]), dtype=np.float32)
        for i in range(self.models - 1):
            rest = buffer[: self.models - 1 - i]
            np.subtract(flat[i + 1:], flat[i], out=rest)
            np.abs(rest, out=rest)
            top = rest.max(axis=1)
            self.value[i, i + 1:] = np.maximum(self.value[i, i + 1:], top)
            self.value[i + 1:, i] = self.value[i, i + 1:]


class RankAccumulator(PairwiseAccumulator):
    """Numerical rank of pairwise weight differences, on a random sketch (see module docstring)."""

    def __init__(self, models: int, sketch: int, seed: int, chunk_bytes: int) -> None:
        super().__init__(models)
        self.sketch, self.seed, self.chunk_bytes = sketch, seed, chunk_bytes
        self.rank = np.zeros((models, models))
        self.capacity = 0.0  # summed largest possible rank, for relative ranks
        self._active = False

    def start_tensor(self, name: str, shape: tuple[int, ...], dtypes: list[str]) -> None:
        self._active = len(shape) >= 2 and min(shape[0], int(np.prod(shape[1:]))) > 1
        if not self._active:
            return
        rows, cols = shape[0], int(np.prod(shape[1:]))
        self._k = min(self.sketch, cols)
        if cols > self._k:
            rng = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
            self._omega: np.ndarray | None = rng.standard_normal((cols, self._k))
        else:
            self._omega = None
        self._cols = cols
        self._sketches = np.zeros((self.models, rows, self._k))
        self._sq_norm = np.zeros(self.models)
        self._row = 0
        self._roundoff = max(UNIT_ROUNDOFF.get(d, 2.0**-24) for d in dtypes)

    def update(self, block: np.ndarray) -> None:
        if not self._active:
            return
        flat = block.reshape(self.models, block.shape[1], -1)
        stop = self._row + flat.shape[1]
        self._sketches[:, self._row:stop] = flat if self._omega is None else flat @ self._omega
        self._sq_norm += np.einsum("ijk,ijk->i", flat, flat)
        self._row = stop

    def end_tensor(self) -> None:
        if not self._active:
            return
        rows = self._sketches.shape[1]
        self.capacity += min(rows, self._k)
        spread = np.sqrt(self._cols) + (np.sqrt(self._k) if self._omega is not None else 1.0)
        per_pair = rows * self._k * 8 * 3
        step = max(1, self.chunk_bytes // max(per_pair, 1))
        for i in range(self.models - 1):
            for lo in range(i + 1, self.models, step):
                js = np.arange(lo, min(self.models, lo + step))
                sv = np.linalg.svd(self._sketches[js] - self._sketches[i], compute_uv=False)
                tol = 4.0 * self._roundoff * np.sqrt(self._sq_norm[i] + self._sq_norm[js]) * spread
                r = (sv > tol[:, None]).sum(axis=1)
                self.rank[i, js] += r
                self.rank[js, i] += r
        del self._sketches


@dataclass
class PairwiseStats:
    """Every distance computed for one block (``None`` where the metric was not asked for)."""

    l2: np.ndarray
    cosine: np.ndarray  # 1 - cosine similarity
    cosine_similarity: np.ndarray
    mother: np.ndarray | None = None
    rank: np.ndarray | None = None
    rank_capacity: float = 0.0
    sq_norm: np.ndarray | None = None  # per model: squared norm of the compared tensors

    def subset(self, keep: list[int]) -> PairwiseStats:
        """The same statistics restricted to the models at positions ``keep``."""
        ix = np.ix_(keep, keep)
        return PairwiseStats(self.l2[ix], self.cosine[ix], self.cosine_similarity[ix],
                             None if self.mother is None else self.mother[ix],
                             None if self.rank is None else self.rank[ix], self.rank_capacity,
                             None if self.sq_norm is None else self.sq_norm[keep])

    def matrix(self, metric: DistanceMetric) -> np.ndarray:
        value = {DistanceMetric.L2_DISTANCE: self.l2, DistanceMetric.COSINE_SIMILARITY: self.cosine,
                 DistanceMetric.MOTHER: self.mother, DistanceMetric.MATRIX_RANK: self.rank}[metric]
        if value is None:
            raise ValueError(f"metric {metric.value!r} was not computed for this block")
        return value


def accumulators_for(metric: DistanceMetric, models: int, sketch: int, seed: int,
                     chunk_bytes: int) -> dict[str, PairwiseAccumulator]:
    """The accumulators a metric needs; Gram sums are always kept (cosine relatedness uses them)."""
    accs: dict[str, PairwiseAccumulator] = {"gram": GramAccumulator(models)}
    if metric in (DistanceMetric.MOTHER, DistanceMetric.AUTO):
        accs["mother"] = MaxAbsAccumulator(models)
    if metric in (DistanceMetric.MATRIX_RANK, DistanceMetric.AUTO):
        accs["rank"] = RankAccumulator(models, sketch, seed, chunk_bytes)
    return accs


def finish(accs: dict[str, PairwiseAccumulator]) -> PairwiseStats:
    gram = accs["gram"]
    assert isinstance(gram, GramAccumulator)
    stats = PairwiseStats(l2=gram.l2(), cosine=gram.cosine_distance(), cosine_similarity=gram.cosine_similarity(),
                          sq_norm=gram.sq_norm.copy())
    if "mother" in accs:
        stats.mother = accs["mother"].value  # type: ignore[attr-defined]
    if "rank" in accs:
        rank = accs["rank"]
        assert isinstance(rank, RankAccumulator)
        stats.rank, stats.rank_capacity = rank.rank, rank.capacity
    return stats


def relatedness(stats: PairwiseStats, compared_params: int, relatedness_cosine: float) -> np.ndarray:
    """Scaled relatedness distance: at most 1 exactly when two models are related (module docstring)."""
    gate = max(relatedness_cosine, 8.0 / np.sqrt(max(compared_params, 1)))
    scaled = (1.0 - stats.cosine_similarity) / max(1.0 - gate, 1e-12)
    if stats.rank is not None and stats.rank_capacity > 0:
        scaled = np.minimum(scaled, stats.rank / stats.rank_capacity / LOW_RANK_RELATIVE)
    np.fill_diagonal(scaled, 0.0)
    return np.maximum(scaled, 0.0)


def choose_metric(requested: DistanceMetric, stats: PairwiseStats, related: np.ndarray) -> DistanceMetric:
    """Resolve ``auto`` for one block (rule in the module docstring); other metrics pass through.

    ``related`` is the block's scaled relatedness (:func:`relatedness`).
    """
    if requested is not DistanceMetric.AUTO:
        return requested
    full_rank = DistanceMetric.MOTHER if stats.mother is not None else DistanceMetric.L2_DISTANCE
    if stats.rank is None or stats.rank_capacity <= 0:
        return full_rank
    upper = np.triu_indices(stats.l2.shape[0], k=1)
    pairs = related[upper] <= 1.0
    if not pairs.any():
        return full_rank
    relative = stats.rank[upper][pairs] / stats.rank_capacity
    return DistanceMetric.MATRIX_RANK if np.median(relative) < LOW_RANK_RELATIVE else full_rank
