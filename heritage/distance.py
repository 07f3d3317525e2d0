"""Pairwise weight distances, accumulated tensor by tensor across all models of a block.

Every accumulator sees the same stream: ``start_tensor`` with the tensor's shape and storage
dtypes, ``update`` with row blocks stacked across models (``(models, rows, cols)``, float32 or
float64: every storage dtype but float64 widens exactly to float32), and ``end_tensor``.
Results are symmetric ``(models, models)`` matrices. Nothing here reads files.

Metrics (by CLI name):

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
    unit round-off of the coarser storage dtype (2^-24 for float32, 2^-8 for bfloat16). For
    float32 and coarser storage the singular values come from the eigenvalues of the ``k x k``
    Gram matrix of the sketched difference (its rounding floor, about ``sqrt(eps)`` times the
    largest singular value, lies far below that tolerance); float64 storage uses an SVD.
``auto``
    Per block: ``rank`` when the differences between *nearest* related models are low-rank --
    median relative rank below 0.5 over the :func:`nearest_pairs` (each model with its most
    cosine-similar model) that are related -- else ``mother``, which recovered the undirected
    trees of full fine-tunes better than ``l2`` on our development zoos. Nearest pairs are about
    one fine-tuning step apart, so they show how the models were fine-tuned; far pairs (cousins)
    add up the ranks of several steps and would blur the rule.

Relatedness (what ``auto`` clustering joins): two models are related when the cosine similarity
of their compared tensors is at least ``max(relatedness_cosine, 8 / sqrt(P))`` -- independently
initialised networks of ``P`` compared parameters are near orthogonal, their cosine is of order
``1 / sqrt(P)`` -- or when their cosine is above that chance level ``8 / sqrt(P)`` and their
difference is low-rank (relative rank at most 0.5), as merged LoRA fine-tunes are even when they
moved far from their base. Models at chance-level cosine are never related.

Where the work goes: the Gram sums (``l2``, ``cosine``) cover every pair of a block; ranks are
computed only for the pairs the two rules above read (:func:`rank_pairs_needed`); and the tree
metric (``mother`` or ``rank``) only for pairs inside one family, once families are known.
"""

from __future__ import annotations

import contextlib
import math
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from heritage.config import DistanceMetric

UNIT_ROUNDOFF = {"F64": 2.0**-53, "F32": 2.0**-24, "F16": 2.0**-11, "BF16": 2.0**-8,
                 "F8_E4M3": 2.0**-4, "F8_E5M2": 2.0**-3}
LOW_RANK_RELATIVE = 0.5
THREADS = 2  # worker threads for the arithmetic; the development machine has 2 cores
# Below this many values (models x parameters) the work is mostly Python and a second thread only
# contends for the GIL.
THREADED_VALUES = 1 << 23
_MIN_THREAD_PAIRS = 16  # fewer pairs per chunk cost more in thread hand-off than they save
GRAM_SAFE_ROUNDOFF = 2.0**-24  # ranks through Gram eigenvalues for float32 storage and coarser
T = TypeVar("T")


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
        flat = block.reshape(self.models, -1).astype(np.float64, copy=False)
        self.sq_norm += np.einsum("ij,ij->i", flat, flat)
        centred = flat - flat.mean(axis=0)
        gram = centred @ centred.T
        diag = np.diag(gram)
        self.sq_dist += np.maximum(diag[:, None] + diag[None, :] - 2.0 * gram, 0.0)

    def add(self, other: GramAccumulator) -> None:
        """Fold in the sums of another accumulator over the same models (other tensors)."""
        self.sq_dist += other.sq_dist
        self.sq_norm += other.sq_norm

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
        flat = block.reshape(self.models, -1).astype(np.float32, copy=False)
        buffer = np.empty((self.models - 1, flat.shape[1]), dtype=np.float32)
        for i in range(self.models - 1):
            rest = buffer[: self.models - 1 - i]
            np.subtract(flat[i + 1:], flat[i], out=rest)
            np.abs(rest, out=rest)
            top = rest.max(axis=1)
            self.value[i, i + 1:] = np.maximum(self.value[i, i + 1:], top)
            self.value[i + 1:, i] = self.value[i, i + 1:]


@dataclass
class SketchedTensor:
    """One matrix's sketches ``A @ G`` across the models of a block, with what its rank tolerance needs."""

    sketches: np.ndarray  # (models, rows, k)
    sq_norm: np.ndarray  # per model: squared Frobenius norm of the matrix itself
    roundoff: float  # unit round-off of the coarsest storage dtype
    spread: float  # sqrt(n) + sqrt(k): how much the sketch can amplify rounding noise

    @property
    def capacity(self) -> int:
        return min(self.sketches.shape[1], self.sketches.shape[2])

    def pair_ranks(self, first: np.ndarray, second: np.ndarray, chunk_bytes: int) -> np.ndarray:
        """Numerical rank of ``A_first - A_second`` for each pair (module docstring)."""
        rows, k = self.sketches.shape[1:]
        tol = 4.0 * self.roundoff * np.sqrt(self.sq_norm[first] + self.sq_norm[second]) * self.spread
        step = max(1, chunk_bytes // (rows * k * 8 * 3))
        if len(first) >= 2 * _MIN_THREAD_PAIRS:  # at least two chunks, one per core
            step = min(step, -(-len(first) // 2))
        chunks = [slice(lo, lo + step) for lo in range(0, len(first), step)]
        ranks = np.zeros(len(first))
        # Small batched LAPACK calls release the GIL: two threads use both cores of a small machine.
        run_in_threads(lambda c: self._ranks(first[c], second[c], tol[c], ranks[c]), chunks)
        return ranks

    def _ranks(self, first: np.ndarray, second: np.ndarray, tol: np.ndarray, out: np.ndarray) -> None:
        diff = self.sketches[first] - self.sketches[second]
        if self.roundoff >= GRAM_SAFE_ROUNDOFF:
            # Eigenvalues of the k x k Gram matrix are the squared singular values, 3-5x cheaper than
            # an SVD; its rounding floor (~ sqrt(eps) |diff|) lies far below this dtype's tolerance.
            gram = np.matmul(diff.transpose(0, 2, 1), diff)
            out[:] = (np.linalg.eigvalsh(gram) > (tol**2)[:, None]).sum(axis=1)
        else:
            sv = np.linalg.svd(diff, compute_uv=False)
            out[:] = (sv > tol[:, None]).sum(axis=1)


class RankAccumulator(PairwiseAccumulator):
    """Numerical rank of pairwise weight differences, on a random sketch (see module docstring).

    ``pairs`` (two index arrays) limits the work to those pairs; by default every pair. Ranks of
    pairs not computed are NaN. With ``keep`` the sketches are kept instead (``kept``), so that
    :meth:`ranks` can rank any pairs later without reading the weights again.
    """

    def __init__(self, models: int, sketch: int, seed: int, chunk_bytes: int,
                 pairs: tuple[np.ndarray, np.ndarray] | None = None, keep: bool = False) -> None:
        super().__init__(models)
        self.sketch, self.seed, self.chunk_bytes, self.keep = sketch, seed, chunk_bytes, keep
        if pairs is None:
            pairs = np.triu_indices(models, k=1)
        self.pairs = (np.asarray(pairs[0], dtype=np.intp), np.asarray(pairs[1], dtype=np.intp))
        self.rank = np.full((models, models), np.nan)
        if not keep:
            self.rank[self.pairs] = 0.0
            self.rank[self.pairs[1], self.pairs[0]] = 0.0
        np.fill_diagonal(self.rank, 0.0)
        self.capacity = 0.0  # summed largest possible rank, for relative ranks
        self.kept: list[SketchedTensor] = []
        self._active = False

    @staticmethod
    def sketch_bytes(models: int, shape: tuple[int, ...], sketch: int) -> int:
        """Bytes the sketches of one tensor take across ``models`` (0 for tensors that are not ranked)."""
        if len(shape) < 2 or min(shape[0], math.prod(shape[1:])) <= 1:
            return 0
        return models * shape[0] * min(sketch, math.prod(shape[1:])) * 8

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
        flat = block.reshape(self.models, block.shape[1], -1).astype(np.float64, copy=False)
        stop = self._row + flat.shape[1]
        self._sketches[:, self._row:stop] = flat if self._omega is None else flat @ self._omega
        self._sq_norm += np.einsum("ijk,ijk->i", flat, flat)
        self._row = stop

    def end_tensor(self) -> None:
        if not self._active:
            return
        spread = float(np.sqrt(self._cols) + (np.sqrt(self._k) if self._omega is not None else 1.0))
        tensor = SketchedTensor(self._sketches, self._sq_norm, self._roundoff, spread)
        del self._sketches
        self.capacity += tensor.capacity
        if self.keep:
            self.kept.append(tensor)
            return
        first, second = self.pairs
        ranks = tensor.pair_ranks(first, second, self.chunk_bytes)
        self.rank[first, second] += ranks
        self.rank[second, first] += ranks

    def ranks(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Summed ranks of the pairs ``(first[i], second[i])`` from the kept sketches."""
        total = np.zeros(len(first))
        for tensor in self.kept:
            total += tensor.pair_ranks(first, second, self.chunk_bytes)
        return total

    def merge(self, other: RankAccumulator) -> None:
        """Take over the kept sketches of another accumulator over the same models (other tensors)."""
        self.kept += other.kept
        self.capacity += other.capacity


def single_threaded_blas() -> contextlib.AbstractContextManager[object]:
    """BLAS limited to one thread while the engine computes (``threadpoolctl``, when installed).

    The engine's matrix products are many and mid-sized; OpenBLAS's own threads spin-wait for
    each other, and on a machine whose other core is busy that made the distance stage three to
    four times slower. The work is split across cores explicitly instead (:func:`run_in_threads`).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def run_in_threads(work: Callable[[T], object], items: list[T], threads: int = THREADS) -> None:
    """Run ``work`` on every item, on up to ``threads`` threads (numpy releases the GIL in its kernels)."""
    if len(items) < 2 or threads < 2:
        for item in items:
            work(item)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(work, item) for item in items]:
            future.result()


@dataclass
class PairwiseStats:
    """What is known about the pairs of one block: Gram-based distances for every pair, ranks where computed."""

    l2: np.ndarray
    cosine: np.ndarray  # 1 - cosine similarity
    cosine_similarity: np.ndarray
    mother: np.ndarray | None = None
    rank: np.ndarray | None = None  # NaN for pairs whose rank was not computed
    rank_capacity: float = 0.0
    sq_norm: np.ndarray | None = None  # per model: squared norm of the compared tensors

    @classmethod
    def from_gram(cls, gram: GramAccumulator) -> PairwiseStats:
        return cls(l2=gram.l2(), cosine=gram.cosine_distance(), cosine_similarity=gram.cosine_similarity(),
                   sq_norm=gram.sq_norm.copy())

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


def chance_cosine(compared_params: int) -> float:
    """Cosine similarity below which two models are independent networks: ``8 / sqrt(P)``."""
    return 8.0 / float(np.sqrt(max(compared_params, 1)))


def nearest_pairs(stats: PairwiseStats, compared_params: int) -> tuple[np.ndarray, np.ndarray]:
    """Each model with its most similar other model (by cosine), where that is above chance; ``i < j``, unique."""
    n = stats.cosine_similarity.shape[0]
    if n < 2:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    sim = stats.cosine_similarity.copy()
    np.fill_diagonal(sim, -np.inf)
    best = np.argmax(sim, axis=1)
    keep = sim[np.arange(n), best] >= chance_cosine(compared_params)
    pairs = {(min(i, int(j)), max(i, int(j))) for i, j in zip(np.flatnonzero(keep), best[keep])}
    first, second = zip(*sorted(pairs)) if pairs else ((), ())
    return np.array(first, dtype=np.intp), np.array(second, dtype=np.intp)


def rank_pairs_needed(stats: PairwiseStats, compared_params: int, relatedness_cosine: float,
                      graded: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (``i < j``) whose rank :func:`relatedness` and ``auto`` read.

    By default the pairs that decide *whether* two models are related -- cosine between chance
    and the gate -- and the nearest pairs. ``graded`` (clustering that reads relatedness values,
    not just the cut at 1) adds every pair above chance, whose value the rank term may lower.
    """
    sim = stats.cosine_similarity
    chance = chance_cosine(compared_params)
    gate = max(relatedness_cosine, chance)
    needed = np.triu((sim >= chance) & ((sim < gate) | graded), k=1)
    first, second = nearest_pairs(stats, compared_params)
    needed[first, second] = True
    rows, cols = np.nonzero(needed)
    return rows, cols


def relatedness(stats: PairwiseStats, compared_params: int, relatedness_cosine: float) -> np.ndarray:
    """Scaled relatedness distance: at most 1 exactly when two models are related (module docstring)."""
    chance = chance_cosine(compared_params)
    gate = max(relatedness_cosine, chance)
    scaled = (1.0 - stats.cosine_similarity) / max(1.0 - gate, 1e-12)
    if stats.rank is not None and stats.rank_capacity > 0:
        low_rank = stats.rank / stats.rank_capacity / LOW_RANK_RELATIVE
        # fmin: pairs whose rank was not computed (NaN) keep their cosine term.
        scaled = np.where(stats.cosine_similarity >= chance, np.fmin(scaled, low_rank), scaled)
    np.fill_diagonal(scaled, 0.0)
    return np.maximum(scaled, 0.0)


def choose_metric(requested: DistanceMetric, stats: PairwiseStats, related: np.ndarray,
                  compared_params: int) -> DistanceMetric:
    """Resolve ``auto`` for one block (rule in the module docstring); other metrics pass through.

    ``related`` is the block's scaled relatedness (:func:`relatedness`); the ranks of the block's
    :func:`nearest_pairs` must have been computed.
    """
    if requested is not DistanceMetric.AUTO:
        return requested
    if stats.rank is None or stats.rank_capacity <= 0:
        return DistanceMetric.MOTHER
    first, second = nearest_pairs(stats, compared_params)
    pairs = related[first, second] <= 1.0
    if not pairs.any():
        return DistanceMetric.MOTHER
    relative = stats.rank[first, second][pairs] / stats.rank_capacity
    return DistanceMetric.MATRIX_RANK if np.median(relative) < LOW_RANK_RELATIVE else DistanceMetric.MOTHER
