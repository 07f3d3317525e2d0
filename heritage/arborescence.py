"""Minimum-cost spanning arborescence on dense cost matrices, in O(V^2).

J. Edmonds, "Optimum branchings", J. Res. Nat. Bur. Standards 71B (1967); Y. J. Chu and
T. H. Liu, Science Sinica 14 (1965); R. E. Tarjan, "Finding optimum branchings", Networks 7
(1977), with the correction of P. M. Camerini, L. Fratta and F. Maffioli, "A note on finding
optimum branchings", Networks 9 (1979).

Tarjan's formulation: walk from every node along the cheapest edge entering its current
super-node; every edge taken lowers the costs of the other edges entering that super-node by its
cost; when a walk closes a cycle, the cycle becomes one super-node whose entering costs are the
elementwise minimum of its members'. Each super-node keeps one numpy row of entering costs (one
entry per source), so every step is O(V) vectorised work and the whole algorithm O(V^2), with no
recursion. The edges are recovered by undoing the contractions newest first (Camerini et al.).
"""

from __future__ import annotations

import numpy as np


def minimum_arborescence(cost: np.ndarray, root: int | None = None) -> np.ndarray:
    """Parent of every node in a minimum-cost spanning arborescence.

    Parameters
    ----------
    cost:
        ``(n, n)`` matrix, ``cost[i, j]`` is the cost of the edge ``i -> j`` (``i`` is the parent);
        ``inf`` marks a missing edge. The diagonal is ignored.
    root:
        The root to use; ``None`` chooses the root that gives the cheapest arborescence.

    Returns
    -------
    numpy.ndarray
        ``parent[j]`` for every node, ``-1`` at the root.

    Raises
    ------
    ValueError
        If no spanning arborescence exists (some node cannot be reached).

    Example
    -------
    >>> minimum_arborescence(np.array([[0, 1, 5], [9, 0, 1], [9, 9, 0]], dtype=float))
    array([-1,  0,  1])
    """
    w = np.array(cost, dtype=np.float64)
    n = len(w)
    if w.shape != (n, n):
        raise ValueError(f"cost must be square, got shape {w.shape}")
    if n == 1:
        return np.array([-1])
    if root is not None:
        return _rooted(w, root)
    finite = w[np.isfinite(w)]
    span = float(finite.max() - finite.min()) if finite.size else 0.0
    big = (n + 1) * (span + 1.0) + float(np.abs(finite).max() if finite.size else 0.0)
    # A virtual root reaches every node at one large equal cost: exactly one such edge is used,
    # so the cheapest arborescence over all real roots falls out of one rooted problem.
    padded = np.full((n + 1, n + 1), np.inf)
    padded[:n, :n] = w
    padded[n, :n] = big
    parent = _rooted(padded, n)[:n]
    parent[parent == n] = -1
    return parent


def _rooted(cost: np.ndarray, root: int) -> np.ndarray:
    n = len(cost)
    w = cost.copy()
    np.fill_diagonal(w, np.inf)
    entering = {v: w[:, v].copy() for v in range(n)}  # super-node -> reduced cost from each source
    head = {v: np.full(n, v) for v in range(n)}  # super-node -> original head of that cheapest edge
    comp = np.arange(n)  # original node -> its current super-node
    seen: dict[int, int] = {root: root}
    chosen: dict[int, tuple[int, int]] = {}  # super-node -> (tail, head) of the edge entering it
    contractions: list[tuple[int, np.ndarray, list[tuple[int, int]]]] = []
    next_id = n
    for start in range(n):
        u = int(comp[start])
        path: list[int] = []
        edges: list[tuple[int, int]] = []
        while seen.get(u, -1) < 0:
            costs = np.where(comp == u, np.inf, entering[u])
            tail = int(np.argmin(costs))
            if not np.isfinite(costs[tail]):
                raise ValueError(f"no arborescence: node {start} has no incoming edge from the rest of the graph")
            entering[u] = entering[u] - costs[tail]
            edges.append((tail, int(head[u][tail])))
            path.append(u)
            seen[u] = start
            u = int(comp[tail])
            if seen.get(u, -1) == start:  # the walk closed a cycle: contract it into one super-node
                k = path.index(u)
                members = path[k:]
                stacked = np.stack([entering[m] for m in members])
                pick = np.argmin(stacked, axis=0)
                contractions.append((next_id, comp.copy(), edges[k:]))
                entering[next_id] = stacked[pick, np.arange(n)]
                head[next_id] = np.stack([head[m] for m in members])[pick, np.arange(n)]
                for m in members:
                    comp[comp == m] = next_id
                    del entering[m], head[m]
                    seen.pop(m)
                u, path, edges = next_id, path[:k], edges[:k]
                next_id += 1
        for edge in edges:
            chosen[int(comp[edge[1]])] = edge
    # Undo the contractions newest first: inside a cycle every member keeps its cycle edge except
    # the one the cycle's entering edge points at.
    for super_node, before, cycle_edges in reversed(contractions):
        entry = chosen[super_node]
        for edge in cycle_edges:
            chosen[int(before[edge[1]])] = edge
        chosen[int(before[entry[1]])] = entry
    parent = np.full(n, -1)
    for v in range(n):
        if v != root:
            parent[v] = chosen[v][0]
    return parent


def arborescence_cost(cost: np.ndarray, parent: np.ndarray) -> float:
    """Total cost of the edges ``parent[j] -> j``."""
    nodes = np.flatnonzero(parent >= 0)
    return float(np.asarray(cost)[parent[nodes], nodes].sum())
