"""Comparability: which models can be compared at all, and on which tensors.

Two models are comparable when the float tensors they share (equal normalised name and shape)
hold at least ``min_shared_fraction`` of *each* model's float parameters. Comparable models form
blocks (connected components); every block is compared on the tensors *all* its members share,
so every pair of a block is measured on the same tensors (task heads and resized embeddings drop
out). A member that the block's common set would cover too thinly is moved to a block of its
own, and models that are not comparable never share a family.
"""

from __future__ import annotations

from dataclasses import dataclass

from heritage.config import LayerFilter
from heritage.fingerprint import Fingerprint
from heritage.io.base import TensorInfo


@dataclass(frozen=True)
class Block:
    """Models compared together, and the tensors they are compared on."""

    members: tuple[int, ...]  # indices into the fingerprint list
    common: tuple[str, ...]  # normalised names of every float tensor all members share
    compared: tuple[str, ...]  # the subset the layer filter keeps: distances and kurtosis use these


def passes_filter(info: TensorInfo, layer_filter: LayerFilter) -> bool:
    if not info.is_float:
        return False
    if layer_filter is LayerFilter.ALL:
        return True
    if len(info.shape) != 2:
        return False
    return layer_filter is LayerFilter.MATRICES or info.shape[0] == info.shape[1]


def _signature(fp: Fingerprint) -> frozenset[tuple[str, tuple[int, ...]]]:
    return frozenset((n, t.shape) for n, t in fp.tensors.items() if t.is_float)


def _coverage(fp: Fingerprint, shared: set[tuple[str, tuple[int, ...]]]) -> float:
    own = fp.float_params
    total = sum(own.values())
    return sum(own[n] for n, _ in shared if n in own) / total if total else 0.0


def comparable(a: Fingerprint, b: Fingerprint, min_shared_fraction: float) -> bool:
    shared = set(_signature(a) & _signature(b))
    return min(_coverage(a, shared), _coverage(b, shared)) >= min_shared_fraction


def find_blocks(fps: list[Fingerprint], min_shared_fraction: float, layer_filter: LayerFilter) -> list[Block]:
    """Partition models into comparability blocks, each with its common tensor set."""
    groups: dict[frozenset[tuple[str, tuple[int, ...]]], list[int]] = {}
    for i, fp in enumerate(fps):
        groups.setdefault(_signature(fp), []).append(i)
    keys = list(groups)
    parent = list(range(len(keys)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a in range(len(keys)):
        for b in range(a + 1, len(keys)):
            if comparable(fps[groups[keys[a]][0]], fps[groups[keys[b]][0]], min_shared_fraction):
                parent[root(a)] = root(b)
    components: dict[int, list[int]] = {}
    for g, key in enumerate(keys):
        components.setdefault(root(g), []).extend(groups[key])
    blocks: list[Block] = []
    pending = [sorted(c) for c in components.values()]
    while pending:
        members = pending.pop()
        block, leftover = _refine(fps, members, min_shared_fraction, layer_filter)
        blocks.append(block)
        if leftover:
            pending.append(leftover)
    return sorted(blocks, key=lambda b: b.members[0])


def _refine(fps: list[Fingerprint], members: list[int], min_shared_fraction: float,
            layer_filter: LayerFilter) -> tuple[Block, list[int]]:
    """Drop the worst-covered member until the common set covers every member well enough."""
    members = list(members)
    dropped: list[int] = []
    while True:
        common = set(_signature(fps[members[0]]))
        for i in members[1:]:
            common &= _signature(fps[i])
        coverage = {i: _coverage(fps[i], common) for i in members}
        worst = min(members, key=lambda i: coverage[i])
        if coverage[worst] >= min_shared_fraction or len(members) == 1:
            break
        members.remove(worst)
        dropped.append(worst)
    first = fps[members[0]]
    names = sorted(n for n, _ in common)
    compared = tuple(n for n in names if passes_filter(first.tensors[n], layer_filter))
    return Block(tuple(sorted(members)), tuple(names), compared), sorted(dropped)
