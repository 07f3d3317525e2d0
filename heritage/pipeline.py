"""The facade that runs the whole engine: scan a directory into families and genealogy trees.

Flow (see DESIGN.md): discover -> open and fingerprint headers (sha256, names, shapes) ->
comparability blocks -> one streamed pass per block (statistics, Gram sums for every pair; ranks
of the few pairs the ``auto`` rules read) -> families -> the tree metric inside each family (one
more pass over its members' compared tensors) -> one tree per family -> :class:`HeritageResult`.
Bad inputs never stop a scan: each lands in ``rejected`` with the file and the reason, and the
good models are still processed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heritage.blocks import Block, find_blocks
from heritage.clustering import make_clusterer
from heritage.config import ClusteringMethod, DirectionStatistic, DistanceMetric, HeritageConfig
from heritage.distance import (
    THREADED_VALUES,
    THREADS,
    MaxAbsAccumulator,
    PairwiseStats,
    choose_metric,
    rank_pairs_needed,
    relatedness,
    run_in_threads,
    single_threaded_blas,
)
from heritage.exceptions import (
    CheckpointError,
    CorruptCheckpointError,
    DuplicateModelError,
    NonFiniteWeightsError,
    NotAWeightFileError,
    UnsafeCheckpointError,
)
from heritage.fingerprint import Fingerprint, normalise_names
from heritage.io import ModelSource, TensorLoader, discover_models, open_model
from heritage.io.multi_file import MultiFileReader
from heritage.result import EdgeRecord, FamilyRecord, HeritageResult, ModelRecord, RejectedRecord
from heritage.tensor_pass import Ranker, pair_pass, run_block_pass
from heritage.tree import FamilyTree, build_tree, decide_sign

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
_KINDS = {CorruptCheckpointError: "corrupt", UnsafeCheckpointError: "unsafe", NotAWeightFileError: "not_weights",
          NonFiniteWeightsError: "non_finite", DuplicateModelError: "duplicate"}
DEFAULT_SIGN = 1  # the published ViT convention, used only when no family's data decides


@dataclass
class OpenedModel:
    """A model whose headers were read (its fingerprint) and whose reader is still open; close ``loader``."""

    fp: Fingerprint
    loader: TensorLoader


@dataclass
class _BlockOutcome:
    block: Block
    models: list[OpenedModel]  # good members, in block order
    stats: PairwiseStats  # Gram-based distances for every pair of good members, probed ranks
    metric: DistanceMetric  # the tree metric (auto resolved)
    kurtosis: np.ndarray
    norm: np.ndarray
    related: np.ndarray  # scaled relatedness, <= 1 where two models are related
    ranker: Ranker
    compared_params: int

    @property
    def ids(self) -> list[str]:
        return [m.fp.id for m in self.models]

    def statistic(self, name: DirectionStatistic) -> np.ndarray:
        return self.kurtosis if name is DirectionStatistic.KURTOSIS else self.norm


class Heritage:
    """Recover families and genealogy trees from checkpoints.

    Example
    -------
    >>> result = Heritage(HeritageConfig()).scan("zoo/")          # doctest: +SKIP
    >>> [f.root for f in result.families]                        # doctest: +SKIP
    """

    def __init__(self, config: HeritageConfig | None = None) -> None:
        self.config = config or HeritageConfig()

    def scan(self, root: str | Path, progress: Progress | None = None) -> HeritageResult:
        """Scan every model under ``root`` (a directory, or one model) and return the result."""
        tick = time.perf_counter()
        sources = discover_models(root)
        discovery = time.perf_counter() - tick
        result = self.scan_sources(sources, progress)
        result.run["root"] = str(root)
        seconds = result.run["seconds"]
        assert isinstance(seconds, dict)
        seconds["load"] += discovery  # finding the files is part of loading them
        return result

    def scan_sources(self, sources: list[ModelSource], progress: Progress | None = None) -> HeritageResult:
        """Scan the given models (ids and paths already decided), e.g. the members of one family."""
        seconds: dict[str, float] = {}
        result = HeritageResult()
        tick = time.perf_counter()
        models = self._open_all(sources, result, progress)
        seconds["load"] = time.perf_counter() - tick
        with single_threaded_blas():
            try:
                tick = time.perf_counter()
                outcomes = self._distances(models, result, progress)
                seconds["distance"] = time.perf_counter() - tick
                tick = time.perf_counter()
                families = self._families(outcomes)
                seconds["clustering"] = time.perf_counter() - tick
                tick = time.perf_counter()
                distances = self._all_family_distances(outcomes, families)
                seconds["distance"] += time.perf_counter() - tick
            finally:
                for m in models:
                    m.loader.close()
            tick = time.perf_counter()
            self._trees(outcomes, families, distances, {m.fp.id: m.fp for m in models}, result)
            seconds["tree"] = time.perf_counter() - tick
        result.run = {"params": self.config.as_params(), "seconds": seconds,
                      "counts": {"found": len(sources), "models": len(result.models),
                                 "families": len(result.families), "rejected": len(result.rejected)}}
        return result

    # -- load ---------------------------------------------------------------------------------------
    def _open_all(self, sources: list[ModelSource], result: HeritageResult,
                  progress: Progress | None) -> list[OpenedModel]:
        models: list[OpenedModel] = []
        by_sha: dict[str, str] = {}
        # Opening a model is mostly its sha256, and hashing releases the GIL: two models at a time.
        with ThreadPoolExecutor(max_workers=2) as pool:
            for done, (source, outcome) in enumerate(zip(sources, pool.map(_open_or_error, sources)), 1):
                try:
                    if isinstance(outcome, CheckpointError):
                        raise outcome
                    if outcome.fp.sha256 in by_sha:
                        outcome.loader.close()
                        raise DuplicateModelError(source.path, f"same bytes as model {by_sha[outcome.fp.sha256]!r}")
                    by_sha[outcome.fp.sha256] = source.id
                    models.append(outcome)
                except CheckpointError as exc:
                    _reject(result, source.id, exc)
                if progress:
                    progress("load", done, len(sources))
        return models

    # -- distances ----------------------------------------------------------------------------------
    def _distances(self, models: list[OpenedModel], result: HeritageResult,
                   progress: Progress | None) -> list[_BlockOutcome]:
        fps = [m.fp for m in models]
        blocks = find_blocks(fps, self.config.min_shared_fraction, self.config.layer_filter)
        total = sum(len(b.common) for b in blocks)
        done = 0

        def tensor_done() -> None:
            nonlocal done
            done += 1
            if progress:
                progress("distance", done, total)

        outcomes = []
        for block in blocks:
            members = [models[i] for i in block.members]
            passed = run_block_pass(block, [m.fp for m in members], [m.loader for m in members], self.config,
                                    tensor_done)
            for local, reason in sorted(passed.bad.items()):
                fp = members[local].fp
                _reject(result, fp.id, NonFiniteWeightsError(fp.path, reason)
                        if "non-finite" in reason else CorruptCheckpointError(fp.path, reason))
            good = [i for i in range(len(members)) if i not in passed.bad]
            if not good:
                continue
            good_models = [members[i] for i in good]
            stats = passed.stats.subset(good)
            ranker = Ranker(block, [m.fp for m in good_models], [m.loader for m in good_models], self.config,
                            passed.sketches, good)
            compared_params = sum(members[0].fp.tensors[n].numel for n in block.compared)
            if self.config.metric in (DistanceMetric.MATRIX_RANK, DistanceMetric.AUTO) and block.compared:
                self._probe_ranks(ranker, stats, compared_params)
            related = relatedness(stats, compared_params, self.config.relatedness_cosine)
            metric = choose_metric(self.config.metric, stats, related, compared_params)
            kurt = np.array([m.fp.kurtosis_over(list(block.compared)) for m in good_models])
            norm = np.sqrt(stats.sq_norm) if stats.sq_norm is not None else np.zeros(len(good))
            outcomes.append(_BlockOutcome(block, good_models, stats, metric, kurt, norm, related, ranker,
                                          compared_params))
        return outcomes

    def _probe_ranks(self, ranker: Ranker, stats: PairwiseStats, compared_params: int) -> None:
        """Ranks of the pairs the relatedness and ``auto`` rules read (few: see :func:`rank_pairs_needed`)."""
        # Clustering other than the default cut at relatedness 1 reads relatedness values: rank them all.
        graded = self.config.clustering is not ClusteringMethod.AUTO or self.config.families is not None
        first, second = rank_pairs_needed(stats, compared_params, self.config.relatedness_cosine, graded)
        stats.rank = np.full(stats.l2.shape, np.nan)
        np.fill_diagonal(stats.rank, 0.0)
        stats.rank_capacity = ranker.fill(stats.rank, first, second)

    def _all_family_distances(self, outcomes: list[_BlockOutcome],
                              families: list[tuple[int, list[int]]]) -> list[np.ndarray]:
        """Every family's tree metric; families share no model, so two threads take turns on them."""
        distances: list[np.ndarray] = [np.zeros((0, 0))] * len(families)

        def one(f: int) -> None:
            b, members = families[f]
            distances[f] = self._family_distances(outcomes[b], members)

        # Largest families first, so the two threads finish together.
        order = sorted(range(len(families)), key=lambda f: -len(families[f][1]))
        values = sum(len(o.models) * o.compared_params for o in outcomes)
        run_in_threads(one, order, threads=THREADS if values >= THREADED_VALUES else 1)
        return distances

    def _family_distances(self, o: _BlockOutcome, members: list[int]) -> np.ndarray:
        """The tree metric over one family's members: from the Gram sums, or one more pass over their tensors."""
        ix = np.ix_(members, members)
        if o.metric in (DistanceMetric.L2_DISTANCE, DistanceMetric.COSINE_SIMILARITY):
            return o.stats.matrix(o.metric)[ix]
        if len(members) < 2 or not o.block.compared:
            return np.zeros((len(members), len(members)))
        chosen = [o.models[i] for i in members]
        if o.metric is DistanceMetric.MOTHER:
            acc = pair_pass(o.block, [m.fp for m in chosen], [m.loader for m in chosen], self.config, o.metric)
            assert isinstance(acc, MaxAbsAccumulator)
            return acc.value
        rank = o.stats.rank[ix].copy() if o.stats.rank is not None else np.full((len(members),) * 2, np.nan)
        first, second = np.nonzero(np.triu(np.isnan(rank), k=1))  # pairs the probe did not rank
        o.ranker.fill(rank, np.asarray(members)[first], np.asarray(members)[second], (first, second))
        np.fill_diagonal(rank, 0.0)
        return rank

    # -- families -----------------------------------------------------------------------------------
    def _families(self, outcomes: list[_BlockOutcome]) -> list[tuple[int, list[int]]]:
        """(block index, member positions) per family.

        Every method clusters the scaled relatedness (scale-free, and comparable across blocks);
        the tree metric is kept for the trees, since a good tree metric (the max-abs distance,
        ranks capped by the sketch) need not separate families well.
        """
        cfg = self.config
        if cfg.families is None:
            families = []
            for b, o in enumerate(outcomes):
                labels = make_clusterer(cfg.clustering, None, cfg.seed, threshold=1.0).fit(o.related).labels_
                families += [(b, [int(i) for i in np.flatnonzero(labels == k)]) for k in range(labels.max() + 1)]
            return families
        # A forced count is global. Blocks are kept apart by more than any relatedness, then split
        # again, so incomparable models never share a family even if that means more families than asked.
        sizes = [len(o.ids) for o in outcomes]
        apart = 1.0 + max(float(o.related.max()) for o in outcomes)
        full = np.full((sum(sizes), sum(sizes)), apart)
        offsets = np.cumsum([0, *sizes])
        for b, o in enumerate(outcomes):
            full[offsets[b]:offsets[b + 1], offsets[b]:offsets[b + 1]] = o.related
        labels = make_clusterer(cfg.clustering, cfg.families, cfg.seed).fit(full).labels_
        families = []
        for b in range(len(outcomes)):
            local = labels[offsets[b]:offsets[b + 1]]
            families += [(b, [int(i) for i in np.flatnonzero(local == k)]) for k in sorted(set(local))]
        return families

    # -- trees --------------------------------------------------------------------------------------
    def _trees(self, outcomes: list[_BlockOutcome], families: list[tuple[int, list[int]]],
               distances: list[np.ndarray], fps: dict[str, Fingerprint], result: HeritageResult) -> None:
        choices = [_direction_evidence(outcomes[b], members, d, self.config)
                   for (b, members), d in zip(families, distances)]
        fallback = _fallback_direction(choices)
        for (b, members), d, evidence in zip(families, distances, choices):
            o = outcomes[b]
            name, sign, strength = max(evidence, key=lambda e: (e[1] is not None, e[2]))
            source = "config" if self.config.sign is not None else "family"
            if sign is None:
                name, sign, source = (*fallback, "vote") if fallback else (name, DEFAULT_SIGN, "default")
            tree = build_tree(d, o.statistic(name)[members], self.config.tree, sign, self.config.mother_lambda)
            direction = _Direction(name, source, strength)
            self._record_family(o, members, d, tree, direction, fps, result)
        result.models.sort(key=lambda m: m.id)
        result.families.sort(key=lambda f: f.id)

    def _record_family(self, o: _BlockOutcome, members: list[int], d: np.ndarray, tree: FamilyTree,
                       direction: _Direction, fps: dict[str, Fingerprint], result: HeritageResult) -> None:
        ids = [o.ids[i] for i in members]
        family_id = f"family:{ids[tree.root]}"
        medoid = ids[int(np.argmin(d.sum(axis=1)))]
        edges = [EdgeRecord(ids[p], ids[j], float(d[p, j]), c, tree.method.value) for p, j, c in tree.edges()]
        off = d[~np.eye(len(d), dtype=bool)]
        stats = {"size": float(len(ids)), "mean_distance": float(off.mean()) if off.size else 0.0,
                 "max_distance": float(off.max()) if off.size else 0.0,
                 "mean_confidence": float(np.mean([e.confidence for e in edges])) if edges else 1.0,
                 "depth": float(_depth(tree.parent))}
        result.families.append(FamilyRecord(family_id, sorted(ids), ids[tree.root], medoid, o.metric.value,
                                            direction.statistic.value, tree.sign, direction.source,
                                            direction.evidence, stats))
        result.edges.extend(sorted(edges, key=lambda e: (e.parent, e.child)))
        parents = {e.child: e.parent for e in edges}
        for pos, model_id in enumerate(ids):
            fp = fps[model_id]
            at = members[pos]
            result.models.append(ModelRecord(model_id, family_id, float(o.kurtosis[at]), float(o.norm[at]),
                                             fp.num_params, fp.sha256, fp.path, fp.format, fp.architecture,
                                             parents.get(model_id)))


@dataclass(frozen=True)
class _Direction:
    statistic: DirectionStatistic
    source: str  # "family", "vote", "default" or "config"
    evidence: float


Evidence = tuple[DirectionStatistic, int | None, float]


def _direction_evidence(o: _BlockOutcome, members: list[int], d: np.ndarray, config: HeritageConfig) -> list[Evidence]:
    """(statistic, sign or None, evidence) for each candidate statistic, on one family (distances ``d``)."""
    names = ([DirectionStatistic.KURTOSIS, DirectionStatistic.NORM] if config.direction is DirectionStatistic.AUTO
             else [config.direction])
    if config.sign is not None:
        return [(names[0], config.sign, 0.0)]
    return [(name, *decide_sign(d, o.statistic(name)[members], config.mother_lambda)) for name in names]


def _fallback_direction(choices: list[list[Evidence]]) -> tuple[DirectionStatistic, int] | None:
    """For families that cannot decide: the statistic and sign the other families support most."""
    votes: dict[DirectionStatistic, float] = {}
    for evidence in choices:
        for name, sign, strength in evidence:
            if sign is not None:
                votes[name] = votes.get(name, 0.0) + sign * strength
    if not votes or not any(votes.values()):
        return None
    name = max(votes, key=lambda n: abs(votes[n]))
    return name, int(np.sign(votes[name]))


def _open_or_error(source: ModelSource) -> OpenedModel | CheckpointError:
    try:
        return open_fingerprinted(source)
    except CheckpointError as exc:
        return exc


def open_fingerprinted(source: ModelSource) -> OpenedModel:
    """Open one model, read its headers and sha256; :class:`CheckpointError` (naming the file) if unusable."""
    loader = open_model(source.path)
    try:
        infos = loader.info()
        names = normalise_names(list(infos))
        tensors = {norm: infos[stored] for norm, stored in names.items()}
        if not any(t.is_float for t in tensors.values()):
            raise NotAWeightFileError(source.path, "holds no floating-point tensors")
        fp = Fingerprint(source.id, str(source.path), _format_name(loader), loader.sha256(), tensors, names)
    except (CheckpointError, OSError) as exc:
        loader.close()
        if isinstance(exc, OSError):
            raise CorruptCheckpointError(source.path, f"cannot read: {exc}") from exc
        raise
    return OpenedModel(fp, loader)


def _format_name(loader: TensorLoader) -> str:
    files = loader.files()
    kind = "safetensors" if files[0].suffix == ".safetensors" else "pytorch"
    return f"sharded-{kind}" if isinstance(loader, MultiFileReader) else kind


def _reject(result: HeritageResult, model_id: str, exc: CheckpointError) -> None:
    kind = next((v for k, v in _KINDS.items() if isinstance(exc, k)), "error")
    log.warning("rejected %s: %s", model_id, exc.reason)
    result.rejected.append(RejectedRecord(model_id, exc.reason, kind))


def _depth(parent: np.ndarray) -> int:
    best = 0
    for j in range(len(parent)):
        steps, v = 0, j
        while parent[v] >= 0:
            v, steps = int(parent[v]), steps + 1
        best = max(best, steps)
    return best
