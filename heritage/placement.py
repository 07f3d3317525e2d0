"""Incremental placement: which existing family a new model joins, from stored sketches alone.

Rule (the incremental counterpart of ``auto`` clustering, see :mod:`heritage.distance`): the new
model is compared with every stored model it is comparable with (the tensors they share hold at
least ``min_shared_fraction`` of each one's float parameters). A pair is *related* when the
sketched cosine similarity of the filtered tensors they share is at least

    gate = max(relatedness_cosine, 8 / sqrt(P), 8 / sqrt(L))

for ``P`` compared parameters and ``L`` sketch values: independently initialised networks are
near orthogonal (cosine of order ``1/sqrt(P)``), and the sketch adds noise of order
``1/sqrt(L)``. The model joins the family of its most similar related model; with none it starts
a family of its own. Families are never merged by placement (a recluster does that).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from heritage.sketch import ModelSketch, shared_coverage


@dataclass(frozen=True)
class Placement:
    family: str | None  # the family joined; None: the model starts a new family
    nearest: str | None  # the most similar comparable stored model, related or not
    similarity: float  # its sketched cosine similarity (0 when nothing is comparable)
    gate: float  # the similarity it had to reach
    compared: int  # stored models the new one was compared with

    def as_dict(self) -> dict[str, object]:
        return {"family": self.family, "nearest": self.nearest, "similarity": round(self.similarity, 6),
                "gate": round(self.gate, 6), "compared": self.compared}


def gate(compared_params: int, sketch_length: int, relatedness_cosine: float) -> float:
    return float(max(relatedness_cosine, 8.0 / np.sqrt(max(compared_params, 1)), 8.0 / np.sqrt(max(sketch_length, 1))))


def place(new: ModelSketch, families: Mapping[str, list[ModelSketch]], min_shared_fraction: float = 0.5,
          relatedness_cosine: float = 0.2) -> Placement:
    """The family ``new`` joins (see module docstring); ``families`` maps family key -> stored members.

    Stored models with the same tensor signature are compared at once (one matrix-vector product
    per signature), so placement against thousands of stored models stays fast.
    """
    groups: dict[frozenset, list[tuple[str, ModelSketch]]] = {}
    for key, members in families.items():
        for other in members:
            if other.id != new.id:
                groups.setdefault(frozenset(other.shapes.items()), []).append((key, other))
    best: tuple[float, str, str, float] | None = None  # (similarity, family, model, gate)
    nearest: tuple[float, str, float] | None = None  # (similarity, model, its gate)
    compared = 0
    for group in groups.values():
        first = group[0][1]
        names = [n for n in new.sketches if n in first.sketches and new.shapes[n] == first.shapes[n]]
        if not names or shared_coverage(new.shapes, first.shapes) < min_shared_fraction:
            continue
        cos = _cosines(new, [m for _, m in group], names)
        need = gate(sum(new.numel(n) for n in names), sum(new.sketches[n].size for n in names), relatedness_cosine)
        compared += len(group)
        top = int(np.argmax(cos))
        if nearest is None or cos[top] > nearest[0]:
            nearest = (float(cos[top]), group[top][1].id, need)
        if cos[top] >= need and (best is None or cos[top] > best[0]):
            best = (float(cos[top]), group[top][0], group[top][1].id, need)
    if best is not None:
        return Placement(best[1], best[2], best[0], best[3], compared)
    if nearest is not None:
        return Placement(None, nearest[1], nearest[0], nearest[2], compared)
    return Placement(None, None, 0.0, relatedness_cosine, 0)


def _cosines(new: ModelSketch, others: list[ModelSketch], names: list[str]) -> np.ndarray:
    """Sketched cosine of ``new`` with each of ``others`` (all with the same tensors) over ``names``."""
    matrix = np.stack([np.concatenate([o.sketches[n] for n in names]) for o in others])
    dots = matrix @ np.concatenate([new.sketches[n] for n in names])
    norms = np.sqrt(np.array([sum(o.sq_norms[n] for n in names) for o in others]) *
                    sum(new.sq_norms[n] for n in names))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(np.where(norms > 0, dots / norms, 0.0), -1.0, 1.0)
