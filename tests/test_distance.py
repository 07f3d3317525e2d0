"""Streamed pairwise accumulators against direct numpy on whole tensors."""

import zlib

import numpy as np
import pytest

from heritage.config import DistanceMetric
from heritage.distance import (
    GramAccumulator,
    MaxAbsAccumulator,
    PairwiseStats,
    RankAccumulator,
    choose_metric,
    nearest_pairs,
    rank_pairs_needed,
    relatedness,
)


def _stream(acc, tensors, rows_per_block, name="w"):
    """Feed a list of per-model arrays (same shape) to an accumulator in row blocks."""
    stacked = np.stack(tensors).astype(np.float64)
    acc.start_tensor(name, stacked.shape[1:], ["F32"] * len(tensors))
    for start in range(0, stacked.shape[1], rows_per_block):
        acc.update(stacked[:, start:start + rows_per_block])
    acc.end_tensor()


@pytest.fixture
def models():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(24, 20)).astype(np.float32)
    low_rank = rng.normal(size=(24, 2)) @ rng.normal(size=(2, 20)) * 0.05
    full = rng.normal(size=(24, 20)) * 0.01
    return [base, (base + low_rank).astype(np.float32), (base + full).astype(np.float32),
            rng.normal(size=(24, 20)).astype(np.float32)]


@pytest.mark.parametrize("rows", [1, 5, 24])
def test_l2_and_cosine_match_numpy_for_any_block_size(models, rows):
    acc = GramAccumulator(len(models))
    _stream(acc, models, rows)
    flat = [m.astype(np.float64).ravel() for m in models]
    for i, a in enumerate(flat):
        for j, b in enumerate(flat):
            assert acc.l2()[i, j] == pytest.approx(np.linalg.norm(a - b), rel=1e-9, abs=1e-9)
            cos = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
            assert acc.cosine_similarity()[i, j] == pytest.approx(cos, abs=1e-9)
            assert acc.cosine_distance()[i, j] == pytest.approx(0.0 if i == j else 1 - cos, abs=1e-9)


def test_l2_keeps_precision_for_nearly_identical_models():
    base = np.full((64, 64), 100.0)
    twin = base.copy()
    twin[3, 7] += 1e-6
    acc = GramAccumulator(2)
    _stream(acc, [base, twin], 16)
    assert acc.l2()[0, 1] == pytest.approx(1e-6, rel=1e-6)


def test_max_abs_matches_numpy(models):
    acc = MaxAbsAccumulator(len(models))
    _stream(acc, models, 7)
    for i, a in enumerate(models):
        for j, b in enumerate(models):
            assert acc.value[i, j] == pytest.approx(np.abs(a.astype(float) - b).max())


@pytest.mark.parametrize("sketch", [4, 8, 32])
def test_rank_of_difference_is_exact_below_the_sketch_and_capped_above(models, sketch):
    acc = RankAccumulator(len(models), sketch=sketch, seed=0, chunk_bytes=1 << 20)
    _stream(acc, models, 5)
    cap = min(sketch, 20)
    assert acc.rank[0, 1] == min(2, cap)  # the low-rank fine-tune: rank 2 despite float32 rounding
    assert acc.rank[0, 2] == cap  # a full-rank change
    assert acc.rank[0, 3] == cap
    assert acc.rank[0, 0] == 0
    assert acc.capacity == cap


def test_rank_tolerance_sees_bfloat16_rounding_as_noise():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(16, 16))
    coarse = base * (1 + rng.uniform(-2**-9, 2**-9, size=base.shape))  # bf16-sized rounding
    acc = RankAccumulator(2, sketch=32, seed=0, chunk_bytes=1 << 20)
    acc.start_tensor("w", (16, 16), ["BF16", "BF16"])
    acc.update(np.stack([base, coarse]))
    acc.end_tensor()
    assert acc.rank[0, 1] == 0


def _stats(n, cosine, rank, mother=True):
    sim = np.full((n, n), cosine)
    np.fill_diagonal(sim, 1.0)
    return PairwiseStats(l2=np.ones((n, n)), cosine=1 - sim, cosine_similarity=sim, rank=np.full((n, n), rank),
                         rank_capacity=32.0, mother=np.ones((n, n)) if mother else None)


def _auto(stats, params=10_000):
    return choose_metric(DistanceMetric.AUTO, stats, relatedness(stats, params, 0.2), params)


def test_auto_picks_rank_for_low_rank_families_and_mother_otherwise():
    low, high = _stats(4, 0.99, 4.0), _stats(4, 0.99, 30.0)
    assert _auto(low) is DistanceMetric.MATRIX_RANK
    assert _auto(high) is DistanceMetric.MOTHER
    assert choose_metric(DistanceMetric.MOTHER, low, relatedness(low, 10_000, 0.2), 10_000) is DistanceMetric.MOTHER


def test_auto_reads_the_nearest_pairs_not_the_far_ones():
    """A LoRA chain a-b-c-d: one step is rank 12 of 32, but most related pairs span several steps."""
    steps = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
    stats = _stats(4, 0.9, 0.0)
    stats.cosine_similarity = 1.0 - 0.01 * steps  # nearest by cosine = one step apart
    stats.rank = np.minimum(12.0 * steps, 32.0)  # 12, 24, 32: the median over all pairs is above half
    assert _auto(stats) is DistanceMetric.MATRIX_RANK
    assert np.median(stats.rank[np.triu_indices(4, k=1)] / 32.0) >= 0.5
    # Ranks the probe did not compute (NaN) are never read.
    stats.rank[0, 3] = stats.rank[3, 0] = np.nan
    assert _auto(stats) is DistanceMetric.MATRIX_RANK


def test_nearest_and_needed_pairs():
    stats = _stats(6, 0.05, 0.0)  # chance level with 10_000 parameters (chance cosine 0.08)
    sim = stats.cosine_similarity
    for (i, j), value in {(0, 1): 0.9, (2, 3): 0.95, (1, 2): 0.5, (3, 4): 0.15}.items():
        sim[i, j] = sim[j, i] = value  # (1, 2) related but nobody's nearest; (3, 4) only a rank can tell
    assert list(zip(*nearest_pairs(stats, 10_000))) == [(0, 1), (2, 3), (3, 4)]  # 5 is alone at chance
    assert list(zip(*rank_pairs_needed(stats, 10_000, 0.2))) == [(0, 1), (2, 3), (3, 4)]
    assert list(zip(*rank_pairs_needed(stats, 10_000, 0.2, graded=True))) == [(0, 1), (1, 2), (2, 3), (3, 4)]


@pytest.mark.parametrize("dtype", ["F32", "BF16", "F64"])
def test_rank_of_chosen_pairs_matches_all_pairs_and_the_svd(dtype):
    """Ranks through Gram eigenvalues (float32 and coarser storage) agree with SVDs of the sketched differences."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=(48, 40))
    roundoff = {"F32": 2.0**-24, "BF16": 2.0**-8, "F64": 2.0**-53}[dtype]
    models = [base]
    for r in (1, 3, 6, 12, 40):
        update = rng.normal(size=(48, r)) @ rng.normal(size=(r, 40)) * 0.02
        noise = base * rng.uniform(-roundoff, roundoff, size=base.shape)  # storage rounding
        models.append(base + update + noise)
    everything = RankAccumulator(len(models), sketch=16, seed=0, chunk_bytes=1 << 20)
    chosen = RankAccumulator(len(models), sketch=16, seed=0, chunk_bytes=1 << 20,
                             pairs=(np.array([0, 0, 2]), np.array([1, 4, 5])))
    for acc in (everything, chosen):
        acc.start_tensor("w", base.shape, [dtype] * len(models))
        acc.update(np.stack(models))
        acc.end_tensor()
    if dtype != "BF16":  # bf16-sized noise hides the smallest singular values of small updates
        assert list(everything.rank[0, 1:]) == [1, 3, 6, 12, 16]
    for i, j in ((0, 1), (0, 4), (2, 5)):
        assert chosen.rank[i, j] == chosen.rank[j, i] == everything.rank[i, j]
    assert np.isnan(chosen.rank[0, 2]) and chosen.rank[3, 3] == 0
    # the same counts from singular values of the sketched differences
    omega = np.random.default_rng([0, zlib.crc32(b"w")]).standard_normal((40, 16))
    sketches = [m @ omega for m in models]
    spread = np.sqrt(40) + np.sqrt(16)
    for j in range(1, len(models)):
        sv = np.linalg.svd(sketches[0] - sketches[j], compute_uv=False)
        tol = 4 * roundoff * np.sqrt((models[0] ** 2).sum() + (models[j] ** 2).sum()) * spread
        assert everything.rank[0, j] == (sv > tol).sum()


def test_relatedness_by_cosine_or_low_rank_with_a_chance_level_guard():
    far_lora = _stats(2, 0.1, 8.0)  # moved far (cosine 0.1) but the difference is rank 8 of 32
    assert relatedness(far_lora, 10_000, 0.2)[0, 1] <= 1.0
    unrelated = _stats(2, 0.1, 32.0)
    assert relatedness(unrelated, 10_000, 0.2)[0, 1] > 1.0
    close = _stats(2, 0.3, 32.0)
    assert relatedness(close, 10_000, 0.2)[0, 1] <= 1.0
    # With 400 parameters chance cosines reach ~0.05 often; the gate rises to 8/sqrt(400) = 0.4.
    assert relatedness(close, 400, 0.2)[0, 1] > 1.0
    # At chance-level cosine even a low-rank difference does not make two models related.
    chance_lora = _stats(2, 0.05, 8.0)
    assert relatedness(chance_lora, 10_000, 0.2)[0, 1] > 1.0
    # A rank that was not computed (NaN) leaves the cosine term.
    unknown = _stats(2, 0.3, np.nan)
    assert relatedness(unknown, 10_000, 0.2)[0, 1] == pytest.approx(0.7 / 0.8)
