"""Genealogy trees inside one family: the MoTHer method and two ablations.

Horwitz, Shul, Hoshen et al., "Unsupervised Model Tree Heritage Recovery", ICLR 2025.
For a family with distances ``D`` and a per-model direction statistic ``k`` (the paper's weight
kurtosis), the cost of the edge ``i -> j`` (``i`` the parent) is::

    M[i, j] = D[i, j] + lambda * mean(D) * [the direction rule says j should be the parent of i]

and the tree is the minimum-cost spanning arborescence of ``M`` (:mod:`heritage.arborescence`).

Direction. With ``sign = +1`` a parent has a higher statistic than its child, with ``-1`` lower.
The published code uses kurtosis with +1 for ViT fine-tunes and -1 for Stable Diffusion, so the
sign is not universal. :func:`decide_sign` builds the tree both ways and keeps the sign whose
tree is cheaper: with the right sign the true tree breaks (almost) no direction rule, with the
wrong one every branching point breaks some. Its ``evidence`` is the cost gap in penalty units
(about the number of rules the worse sign breaks in excess); 0 means the family cannot tell
(two models, a chain), and the pipeline then falls back on the other families' votes. Because
evidence is counted in the same units for any statistic, the pipeline's ``auto`` direction
compares kurtosis with the weight norm per family and keeps the better supported one.

Confidence of an edge ``p -> j``: the relative margin of its cost over the cheapest competing
explanation of ``j`` -- another parent ``q`` or the reversed edge ``j -> p``::

    confidence = clip(1 - M[p, j] / min(min_q M[q, j], M[j, p]), 0, 1)

0 means a competitor is as cheap; 0.5 means every competitor costs at least twice as much.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heritage.arborescence import arborescence_cost, minimum_arborescence
from heritage.config import TreeBuildingMethod
from heritage.exceptions import TreeValidationError


@dataclass
class FamilyTree:
    """A validated tree over a family's members (indices local to the family)."""

    parent: np.ndarray  # parent[j] local index, -1 at the root
    confidence: np.ndarray  # confidence of the edge parent[j] -> j (nan at the root)
    root: int
    sign: int
    method: TreeBuildingMethod

    def edges(self) -> list[tuple[int, int, float]]:
        return [(int(p), j, float(self.confidence[j])) for j, p in enumerate(self.parent) if p >= 0]


def mother_cost(distances: np.ndarray, statistic: np.ndarray, sign: int, lam: float) -> np.ndarray:
    """The published edge cost ``M`` (module docstring); ``M[i, j]`` is the cost of ``i -> j``."""
    d = np.asarray(distances, dtype=np.float64)
    n = len(d)
    mean = d[~np.eye(n, dtype=bool)].mean() if n > 1 else 0.0
    k = np.asarray(statistic, dtype=np.float64)
    child_should_be_parent = sign * (k[None, :] - k[:, None]) > 0
    cost = d + lam * mean * child_should_be_parent
    np.fill_diagonal(cost, np.inf)
    return cost


def decide_sign(distances: np.ndarray, statistic: np.ndarray, lam: float) -> tuple[int | None, float]:
    """Direction sign a family's data supports: ``(sign or None when undecided, evidence)``."""
    n = len(distances)
    if n < 2:
        return None, 0.0
    d = np.asarray(distances, dtype=np.float64)
    unit = lam * d[~np.eye(n, dtype=bool)].mean()
    totals = {}
    for sign in (1, -1):
        cost = mother_cost(d, statistic, sign, lam)
        totals[sign] = arborescence_cost(cost, minimum_arborescence(cost))
    gap = (totals[-1] - totals[1]) / unit if unit > 0 else 0.0
    if abs(gap) < 1e-6:
        return None, 0.0
    return (1 if gap > 0 else -1), float(abs(gap))


def build_tree(distances: np.ndarray, statistic: np.ndarray, method: TreeBuildingMethod, sign: int,
               lam: float = 0.3) -> FamilyTree:
    """Build and validate the family's tree with the given method, direction statistic and sign."""
    d = np.asarray(distances, dtype=np.float64)
    n = len(d)
    cost = mother_cost(d, statistic, sign, lam)
    if n == 1:
        parent = np.array([-1])
    elif method is TreeBuildingMethod.MOTHER:
        parent = minimum_arborescence(cost)
    elif method is TreeBuildingMethod.DISTANCE_ONLY:
        plain = d.copy()
        np.fill_diagonal(plain, np.inf)
        parent = minimum_arborescence(plain)
    else:
        parent = _order_tree(d, np.asarray(statistic, dtype=np.float64), sign)
    tree = FamilyTree(parent, edge_confidence(cost, parent), int(np.flatnonzero(parent < 0)[0]), sign, method)
    validate_tree(tree.parent)
    return tree


def _order_tree(d: np.ndarray, statistic: np.ndarray, sign: int) -> np.ndarray:
    """Strict statistic order (a parent always precedes its child); each model joins its nearest predecessor."""
    order = np.argsort(-sign * statistic, kind="stable")
    parent = np.full(len(d), -1)
    for pos in range(1, len(order)):
        j = order[pos]
        earlier = order[:pos]
        parent[j] = earlier[np.argmin(d[earlier, j])]
    return parent


def edge_confidence(cost: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Relative cost margin of each chosen edge over its cheapest competitor (module docstring)."""
    conf = np.full(len(parent), np.nan)
    for j, p in enumerate(parent):
        if p < 0:
            continue
        column = cost[:, j].copy()
        column[[p, j]] = np.inf
        competitor = min(column.min(), cost[j, p])
        chosen = cost[p, j]
        if not np.isfinite(competitor):
            conf[j] = 1.0
        elif competitor <= 0:
            conf[j] = 0.0
        else:
            conf[j] = float(np.clip(1.0 - chosen / competitor, 0.0, 1.0))
    return conf


def validate_tree(parent: np.ndarray) -> None:
    """One root, every parent a member, no cycle (so every member is placed under the root)."""
    n = len(parent)
    roots = np.flatnonzero(parent < 0)
    if len(roots) != 1:
        raise TreeValidationError(f"a family tree needs exactly one root, found {len(roots)}")
    if ((parent >= n) | (parent < -1)).any():
        raise TreeValidationError("a parent index points outside the family")
    for start in range(n):
        v, steps = start, 0
        while parent[v] >= 0:
            v, steps = int(parent[v]), steps + 1
            if steps > n:
                raise TreeValidationError(f"member {start} lies on a cycle")
