"""Minimum-cost spanning arborescence (Chu-Liu / Edmonds) on dense cost matrices.

Y. J. Chu and T. H. Liu, "On the shortest arborescence of a directed graph", Science Sinica 14
(1965); J. Edmonds, "Optimum branchings", J. Res. Nat. Bur. Standards 71B (1967).

Each round picks the cheapest incoming edge of every node, contracts one cycle if there is one,
and repeats on the smaller graph; the contractions are then undone in reverse order. Rounds are
vectorised with numpy (O(V^2) each); no recursion, so large families do not hit Python's stack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class _Contraction:
    others: np.ndarray  # old indices of the nodes outside the cycle, in new-index order
    cycle: np.ndarray  # old indices of the cycle's nodes
    cycle_parent: np.ndarray  # old parent of each cycle node (inside the cycle)
    enter: np.ndarray  # for each outside node u: the cycle node an edge u -> cycle would enter
    leave: np.ndarray  # for each outside node v: the cycle node an edge cycle -> v would leave


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


def _rooted(w: np.ndarray, root: int) -> np.ndarray:
    stack: list[_Contraction] = []
    while True:
        work = w.copy()
        np.fill_diagonal(work, np.inf)
        work[:, root] = np.inf
        parent = np.argmin(work, axis=0)
        best = work[parent, np.arange(len(work))]
        parent[root] = -1
        unreachable = [j for j in range(len(work)) if j != root and not np.isfinite(best[j])]
        if unreachable:
            raise ValueError(f"no arborescence: node {unreachable[0]} has no incoming edge")
        cycle = _find_cycle(parent)
        if cycle is None:
            break
        w, root, record = _contract(work, parent, best, cycle, root)
        stack.append(record)
    while stack:
        parent = _expand(parent, stack.pop())
    return parent


def _find_cycle(parent: np.ndarray) -> np.ndarray | None:
    state = np.zeros(len(parent), dtype=np.int8)  # 0 new, 1 on current path, 2 done
    for start in range(len(parent)):
        path = []
        v = start
        while v != -1 and state[v] == 0:
            state[v] = 1
            path.append(v)
            v = int(parent[v])
        if v != -1 and state[v] == 1:
            return np.array(path[path.index(v):])
        for u in path:
            state[u] = 2
    return None


def _contract(work: np.ndarray, parent: np.ndarray, best: np.ndarray, cycle: np.ndarray,
              root: int) -> tuple[np.ndarray, int, _Contraction]:
    n = len(work)
    in_cycle = np.zeros(n, dtype=bool)
    in_cycle[cycle] = True
    others = np.flatnonzero(~in_cycle)
    m = len(others)
    # Entering the cycle at v replaces v's cycle edge: its cost is reduced by that edge's cost.
    into = work[np.ix_(others, cycle)] - best[cycle][None, :]
    enter = cycle[np.argmin(into, axis=1)]
    out_of = work[np.ix_(cycle, others)]
    leave = cycle[np.argmin(out_of, axis=0)]
    small = np.full((m + 1, m + 1), np.inf)
    small[:m, :m] = work[np.ix_(others, others)]
    small[:m, m] = into.min(axis=1)
    small[m, :m] = out_of.min(axis=0)
    new_root = int(np.searchsorted(others, root))
    record = _Contraction(others, cycle, parent[cycle].copy(), enter, leave)
    return small, new_root, record


def _expand(parent_small: np.ndarray, rec: _Contraction) -> np.ndarray:
    m = len(rec.others)
    n = m + len(rec.cycle)
    parent = np.full(n, -1)
    parent[rec.cycle] = rec.cycle_parent
    for new_v, old_v in enumerate(rec.others):
        p = int(parent_small[new_v])
        parent[old_v] = -1 if p == -1 else (rec.leave[new_v] if p == m else rec.others[p])
    u = int(parent_small[m])
    entered = rec.enter[u]
    parent[entered] = rec.others[u]
    return parent


def arborescence_cost(cost: np.ndarray, parent: np.ndarray) -> float:
    """Total cost of the edges ``parent[j] -> j``."""
    nodes = np.flatnonzero(parent >= 0)
    return float(np.asarray(cost)[parent[nodes], nodes].sum())
