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


def test_auto_picks_rank_for_low_rank_families_and_l2_otherwise():
    n = 4
    sim = np.full((n, n), 0.99)
    low = PairwiseStats(l2=np.ones((n, n)), cosine=np.zeros((n, n)), cosine_similarity=sim,
                        rank=np.full((n, n), 4.0), rank_capacity=32.0)
    high = PairwiseStats(l2=np.ones((n, n)), cosine=np.zeros((n, n)), cosine_similarity=sim,
                         rank=np.full((n, n), 30.0), rank_capacity=32.0)
    assert choose_metric(DistanceMetric.AUTO, low, 0.5) is DistanceMetric.MATRIX_RANK
    assert choose_metric(DistanceMetric.AUTO, high, 0.5) is DistanceMetric.L2_DISTANCE
    assert choose_metric(DistanceMetric.MOTHER, low, 0.5) is DistanceMetric.MOTHER
