"""Per-model sketches: what incremental placement keeps of a model so it never has to reload it.

A sketch holds, for every tensor the layer filter keeps, a count sketch of its values
(``SKETCH_WIDTH`` buckets; each element is hashed to one bucket with a random sign) and its
exact squared norm, plus the shapes of all the model's float tensors (for comparability). The
hash depends only on the tensor's normalised name, its shape and the element's position, so the
sketches of two models with the same tensor line up, and

    <sketch(a), sketch(b)>  estimates  <a, b>   (unbiased; error ~ |a| |b| / sqrt(width))

which gives the cosine similarity of two models on the tensors they share without reading either
again. Tensors with at most ``SKETCH_WIDTH`` elements are kept exactly.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from heritage.blocks import passes_filter
from heritage.config import LayerFilter
from heritage.exceptions import CheckpointError, NonFiniteWeightsError
from heritage.fingerprint import Fingerprint
from heritage.io.base import TensorLoader, row_blocks

SKETCH_WIDTH = 512
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


@dataclass
class ModelSketch:
    """What placement knows about one model (arrays in, numbers out; stored by :mod:`heritage.catalog`)."""

    id: str
    sha256: str
    shapes: dict[str, tuple[int, ...]]  # normalised name -> shape, every float tensor
    sketches: dict[str, np.ndarray] = field(default_factory=dict)  # filtered tensors: count sketch
    sq_norms: dict[str, float] = field(default_factory=dict)  # filtered tensors: exact squared norm

    def numel(self, name: str) -> int:
        return int(np.prod(self.shapes[name], dtype=np.int64))


def _buckets(name: str, shape: tuple[int, ...], start: int, stop: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Bucket and sign of the flat element positions ``start:stop`` of one tensor (splitmix64 hash)."""
    salt = np.uint64(zlib.crc32(f"{name}:{shape}".encode()))
    with np.errstate(over="ignore"):
        z = np.arange(start, stop, dtype=np.uint64) * _GOLDEN + salt * _MIX2
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
    bucket = (z % np.uint64(width)).astype(np.intp)
    sign = np.where(z & np.uint64(1 << 40), 1.0, -1.0)
    return bucket, sign


class CountSketch:
    """Accumulates one tensor's sketch from its row blocks, in order."""

    def __init__(self, name: str, shape: tuple[int, ...], width: int = SKETCH_WIDTH) -> None:
        self.name, self.shape = name, shape
        numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
        self.exact = numel <= width
        self.values = np.zeros(numel if self.exact else width)
        self.sq_norm = 0.0
        self._offset = 0

    def update(self, rows: np.ndarray) -> None:
        flat = np.asarray(rows, dtype=np.float64).reshape(-1)
        stop = self._offset + flat.size
        if self.exact:
            self.values[self._offset:stop] = flat
        else:
            bucket, sign = _buckets(self.name, self.shape, self._offset, stop, self.values.size)
            self.values += np.bincount(bucket, weights=sign * flat, minlength=self.values.size)
        self.sq_norm += float(flat @ flat)
        self._offset = stop


def sketch_model(fp: Fingerprint, loader: TensorLoader, layer_filter: LayerFilter = LayerFilter.MATRICES,
                 chunk_bytes: int = 64 * 2**20) -> ModelSketch:
    """Read one model once (row blocks of at most ``chunk_bytes``) and sketch it.

    Raises :class:`NonFiniteWeightsError` naming the tensor when it meets NaN or Inf.
    """
    shapes = {n: t.shape for n, t in fp.tensors.items() if t.is_float}
    out = ModelSketch(fp.id, fp.sha256, shapes)
    for name, info in fp.tensors.items():
        if not passes_filter(info, layer_filter):
            continue
        sketch = CountSketch(name, info.shape)
        stored = fp.stored_names[name]
        for start, stop in row_blocks(info.shape, max(1, chunk_bytes // 8)):
            rows = loader.get_rows(stored, start, stop)
            if not np.isfinite(rows).all():
                raise NonFiniteWeightsError(fp.path, f"tensor {stored!r} holds non-finite weights")
            sketch.update(rows)
        out.sketches[name], out.sq_norms[name] = sketch.values, sketch.sq_norm
    if not out.sketches:
        raise CheckpointError(fp.path, f"no tensor passes the layer filter {layer_filter.value!r}")
    return out


def shared_coverage(a: Mapping[str, tuple[int, ...]], b: Mapping[str, tuple[int, ...]]) -> float:
    """The smaller of the two models' shares of float parameters held by tensors they share (name and shape)."""
    def size(shape: tuple[int, ...]) -> int:
        return int(np.prod(shape, dtype=np.int64))

    shared = sum(size(s) for n, s in a.items() if b.get(n) == s)
    total_a, total_b = sum(size(s) for s in a.values()), sum(size(s) for s in b.values())
    return min(shared / total_a if total_a else 0.0, shared / total_b if total_b else 0.0)


def sketched_cosine(a: ModelSketch, b: ModelSketch) -> tuple[float, int, int]:
    """(estimated cosine similarity, compared parameters, sketch length) over the filtered tensors both share."""
    names = [n for n in a.sketches if n in b.sketches and a.shapes[n] == b.shapes[n]]
    if not names:
        return 0.0, 0, 0
    dot = sum(float(a.sketches[n] @ b.sketches[n]) for n in names)
    norm = np.sqrt(sum(a.sq_norms[n] for n in names) * sum(b.sq_norms[n] for n in names))
    params = sum(a.numel(n) for n in names)
    length = sum(a.sketches[n].size for n in names)
    return (float(np.clip(dot / norm, -1.0, 1.0)) if norm > 0 else 0.0), params, length
