"""Family clustering on precomputed distances: every method, with the family count unknown or forced."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from heritage.clustering import largest_gap_cut, make_clusterer
from heritage.config import ClusteringMethod


def _families(sizes, within=1.0, between=20.0, seed=0):
    """Points around well-separated centres; returns (distance matrix, true labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), 16)) * between
    points = np.vstack([c + rng.normal(size=(s, 16)) * within / 4 for c, s in zip(centres, sizes)])
    labels = np.repeat(np.arange(len(sizes)), sizes)
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    return d, labels


@pytest.mark.parametrize("method", [m for m in ClusteringMethod if m is not ClusteringMethod.AUTO])
@pytest.mark.parametrize("sizes", [(5, 7, 4), (3, 9), (6,)])
def test_unknown_number_of_families_is_estimated(method, sizes):
    d, truth = _families(sizes)
    labels = make_clusterer(method, None).fit(d).labels_
    assert adjusted_rand_score(truth, labels) == 1.0


@pytest.mark.parametrize("method", list(ClusteringMethod))
def test_forced_number_of_families(method):
    d, truth = _families((5, 5, 5, 5))
    labels = make_clusterer(method, 4).fit(d).labels_
    assert len(set(labels)) == 4
    assert adjusted_rand_score(truth, labels) == 1.0


def test_auto_joins_models_whose_scaled_relatedness_is_at_most_one():
    # Two related groups (0.05..0.9) that are unrelated to each other (1.2), chained through 0.9.
    d = np.full((5, 5), 1.2)
    d[:3, :3] = 0.05
    d[3:, 3:] = 0.9
    np.fill_diagonal(d, 0.0)
    clusterer = make_clusterer(ClusteringMethod.AUTO, None)
    assert clusterer.fit(d) is clusterer  # scikit-learn shape: fit returns self
    assert clusterer.labels_.tolist() == [0, 0, 0, 1, 1]
    unrelated = np.full((3, 3), 1.01) - np.eye(3) * 1.01
    assert make_clusterer(ClusteringMethod.AUTO, None).fit(unrelated).labels_.tolist() == [0, 1, 2]


def test_single_model_and_bad_matrices():
    assert make_clusterer(ClusteringMethod.HIERARCHICAL, None).fit(np.zeros((1, 1))).labels_.tolist() == [0]
    with pytest.raises(ValueError, match="square"):
        make_clusterer(ClusteringMethod.DBSCAN, None).fit(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        make_clusterer(ClusteringMethod.KMEANS, None).fit(np.array([[0, np.nan], [np.nan, 0]]))


def test_largest_gap_cut_needs_a_clear_jump():
    assert largest_gap_cut(np.array([1.0, 1.1, 1.3, 1.2])) is None
    cut = largest_gap_cut(np.array([1.0, 1.1, 30.0, 1.2]))
    assert 1.2 < cut < 30.0


@pytest.mark.parametrize("seed", range(5))
def test_components_match_scipy(seed):
    from scipy.sparse.csgraph import connected_components

    from heritage.clustering import _components

    rng = np.random.default_rng(seed)
    d = rng.uniform(size=(40, 40))
    d = (d + d.T) / 2
    for cut in (0.02, 0.05, 0.1):
        labels = _components(d, cut)
        count, want = connected_components((d <= cut).astype(np.int8), directed=False)
        assert labels.max() + 1 == count
        assert adjusted_rand_score(want, labels) == 1.0
