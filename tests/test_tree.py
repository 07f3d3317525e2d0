"""MoTHer trees: cost, sign decision, confidence and validation on small hand-made families."""

import numpy as np
import pytest

from heritage.config import TreeBuildingMethod
from heritage.exceptions import TreeValidationError
from heritage.tree import build_tree, decide_sign, edge_confidence, mother_cost, validate_tree

# A star with a deeper branch: 0 -> 1, 0 -> 2, 0 -> 3, 1 -> 4. Distances add along the tree.
PARENT = np.array([-1, 0, 0, 0, 1])
STEP = np.array([0.0, 1.0, 1.2, 0.9, 1.1])


def _tree_distances(parent: np.ndarray, step: np.ndarray) -> np.ndarray:
    n = len(parent)

    def path(v: int) -> list[int]:
        out = [v]
        while parent[out[-1]] >= 0:
            out.append(int(parent[out[-1]]))
        return out

    d = np.zeros((n, n))
    for a in range(n):
        for b in range(n):
            pa, pb = path(a), path(b)
            common = set(pa) & set(pb)
            d[a, b] = sum(step[v] for v in pa + pb if v not in common)
    return d


D = _tree_distances(PARENT, STEP)
KURT = np.array([5.0, 4.0, 3.9, 4.1, 3.0])  # parents higher, as with sign +1


def test_mother_recovers_the_tree_and_its_direction():
    sign, evidence = decide_sign(D, KURT, lam=0.3)
    assert sign == 1 and evidence > 0
    tree = build_tree(D, KURT, TreeBuildingMethod.MOTHER, sign)
    assert tree.parent.tolist() == PARENT.tolist()
    assert tree.root == 0


def test_flipped_kurtosis_flips_the_decided_sign():
    sign, _ = decide_sign(D, -KURT, lam=0.3)
    assert sign == -1
    assert build_tree(D, -KURT, TreeBuildingMethod.MOTHER, sign).parent.tolist() == PARENT.tolist()


def test_two_models_cannot_decide_the_sign():
    d = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert decide_sign(d, np.array([1.0, 2.0]), 0.3) == (None, 0.0)


def test_cost_penalises_edges_against_the_kurtosis_rule():
    cost = mother_cost(D, KURT, sign=1, lam=0.3)
    mean = D[~np.eye(5, dtype=bool)].mean()
    assert cost[0, 1] == pytest.approx(D[0, 1])
    assert cost[1, 0] == pytest.approx(D[1, 0] + 0.3 * mean)


def test_confidence_is_a_relative_margin_in_unit_interval():
    cost = mother_cost(D, KURT, sign=1, lam=0.3)
    conf = edge_confidence(cost, PARENT)
    assert np.isnan(conf[0])
    assert ((conf[1:] >= 0) & (conf[1:] <= 1)).all()
    column = cost[:, 4].copy()
    column[[1, 4]] = np.inf
    expected = 1 - cost[1, 4] / min(column.min(), cost[4, 1])
    assert conf[4] == pytest.approx(expected)


def test_kurtosis_only_tree_respects_the_order():
    tree = build_tree(D, KURT, TreeBuildingMethod.KURTOSIS_ONLY, sign=1)
    for child, parent in enumerate(tree.parent):
        if parent >= 0:
            assert KURT[parent] > KURT[child]


def test_distance_only_tree_is_a_valid_tree():
    tree = build_tree(D, KURT, TreeBuildingMethod.DISTANCE_ONLY, sign=1)
    validate_tree(tree.parent)
    undirected = {frozenset((int(p), c)) for c, p in enumerate(tree.parent) if p >= 0}
    assert undirected == {frozenset((int(p), c)) for c, p in enumerate(PARENT) if p >= 0}


@pytest.mark.parametrize("parent, message", [
    ([-1, -1, 0], "exactly one root"),
    ([1, 2, 1], "exactly one root"),
    ([-1, 2, 1], "cycle"),
    ([-1, 5, 0], "outside"),
])
def test_validation_rejects_broken_trees(parent, message):
    with pytest.raises(TreeValidationError, match=message):
        validate_tree(np.array(parent))
