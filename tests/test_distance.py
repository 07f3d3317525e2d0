"""Streamed pairwise accumulators against direct numpy on whole tensors."""

import numpy as np
import pytest

from heritage.config import DistanceMetric
from heritage.distance import (
    GramAccumulator,
    MaxAbsAccumulator,
    PairwiseStats,
    RankAccumulator,
    choose_metric,
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


def test_auto_picks_rank_for_low_rank_families_and_mother_otherwise():
    low, high = _stats(4, 0.99, 4.0), _stats(4, 0.99, 30.0)
    assert choose_metric(DistanceMetric.AUTO, low, relatedness(low, 10_000, 0.2)) is DistanceMetric.MATRIX_RANK
    assert choose_metric(DistanceMetric.AUTO, high, relatedness(high, 10_000, 0.2)) is DistanceMetric.MOTHER
    assert choose_metric(DistanceMetric.MOTHER, low, relatedness(low, 10_000, 0.2)) is DistanceMetric.MOTHER


def test_relatedness_by_cosine_or_low_rank_with_a_chance_level_guard():
    far_lora = _stats(2, 0.1, 8.0)  # moved far (cosine 0.1) but the difference is rank 8 of 32
    assert relatedness(far_lora, 10_000, 0.2)[0, 1] <= 1.0
    unrelated = _stats(2, 0.1, 32.0)
    assert relatedness(unrelated, 10_000, 0.2)[0, 1] > 1.0
    close = _stats(2, 0.3, 32.0)
    assert relatedness(close, 10_000, 0.2)[0, 1] <= 1.0
    # With 400 parameters chance cosines reach ~0.05 often; the gate rises to 8/sqrt(400) = 0.4.
    assert relatedness(close, 400, 0.2)[0, 1] > 1.0
