"""Edmonds' algorithm: a worked example by hand, and equal total cost to networkx on random graphs."""

import networkx as nx
import numpy as np
import pytest

from heritage.arborescence import arborescence_cost, minimum_arborescence

INF = np.inf


def test_worked_example_needs_a_contraction():
    # Root 0. Cheapest incoming edges pick 2 -> 1 and 1 -> 2 (cost 1 each): a cycle. Entering the
    # cycle at 1 from 0 costs 10 - 1 = 9 extra, at 2 from 0 costs 5 - 1 = 4 extra, so 0 -> 2 -> 1,
    # and 3 hangs under 1 (cost 2) rather than under 0 (cost 8). Total 5 + 1 + 2 = 8.
    cost = np.array([
        [INF, 10, 5, 8],
        [INF, INF, 1, 2],
        [INF, 1, INF, 9],
        [INF, 7, 7, INF],
    ])
    parent = minimum_arborescence(cost, root=0)
    assert parent.tolist() == [-1, 2, 0, 1]
    assert arborescence_cost(cost, parent) == 8


def test_free_root_picks_the_cheapest_root():
    cost = np.array([[INF, 1.0, 1.0], [5.0, INF, 5.0], [5.0, 5.0, INF]])
    assert minimum_arborescence(cost).tolist() == [-1, 0, 0]


def test_single_node_and_unreachable():
    assert minimum_arborescence(np.zeros((1, 1))).tolist() == [-1]
    with pytest.raises(ValueError, match="no incoming edge"):
        minimum_arborescence(np.array([[INF, 1.0, INF], [INF, INF, INF], [INF, INF, INF]]), root=0)


def _networkx_cost(cost: np.ndarray, root: int | None) -> float:
    graph = nx.DiGraph()
    n = len(cost)
    graph.add_nodes_from(range(n))
    for i in range(n):
        for j in range(n):
            if i != j and np.isfinite(cost[i, j]) and j != root:
                graph.add_edge(i, j, weight=float(cost[i, j]))
    tree = nx.minimum_spanning_arborescence(graph, attr="weight")
    return sum(d["weight"] for _, _, d in tree.edges(data=True))


@pytest.mark.parametrize("seed", range(6))
def test_same_total_cost_as_networkx_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        n = int(rng.integers(2, 30))
        cost = rng.random((n, n)) * 10
        if rng.random() < 0.4:
            cost = np.round(cost)  # many ties
        if rng.random() < 0.3:
            cost[rng.random((n, n)) < 0.3] = INF
            cost[0, 1:] = rng.random(n - 1) * 10  # keep every node reachable from 0
        np.fill_diagonal(cost, INF)
        root = 0 if rng.random() < 0.5 else None
        parent = minimum_arborescence(cost, root=root)
        assert (parent < 0).sum() == 1
        assert root is None or parent[root] == -1
        assert arborescence_cost(cost, parent) == pytest.approx(_networkx_cost(cost, root), abs=1e-9)


def test_a_larger_dense_graph_matches_networkx():
    rng = np.random.default_rng(42)
    cost = rng.random((120, 120))
    np.fill_diagonal(cost, INF)
    parent = minimum_arborescence(cost)
    assert arborescence_cost(cost, parent) == pytest.approx(_networkx_cost(cost, None), abs=1e-9)


def test_benchmark_runs_on_a_tiny_input(tmp_path):
    from bench.arborescence import main

    record = main(["--sizes", "20", "--large", "50", "--out", str(tmp_path / "a.json")])
    assert record["dense_random"][0]["nodes"] == 20 and record["large"]["nodes"] == 50
    assert (tmp_path / "a.json").is_file()
