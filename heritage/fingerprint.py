"""Per-model fingerprints: normalised tensor names and shapes, parameter count, sha256, tensor statistics.

Names are normalised so the same backbone tensor matches across the wrappers real fine-tunes are
saved under (``bert.encoder.layer.0...`` in a classification checkpoint, ``encoder.layer.0...``
in the base model, ``module.`` from DataParallel, ``_orig_mod.`` from ``torch.compile``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from heritage.io.base import TensorInfo

# Stripped at the front, any number of times: training-harness wrappers (DataParallel, torch.compile,
# Lightning-style {"state_dict": ...} checkpoints).
HARNESS_PREFIXES = ("module.", "_orig_mod.", "state_dict.", "model_state_dict.")
# At most one of these task-model wrappers is stripped (transformers' base_model_prefix values).
ARCHITECTURE_PREFIXES = (
    "base_model.model.", "model.", "bert.", "roberta.", "distilbert.", "deberta.", "electra.", "albert.",
    "xlm_roberta.", "vit.", "swin.", "convnext.", "resnet.", "transformer.", "gpt_neox.", "backbone.",
)


def normalise_name(name: str) -> str:
    """Backbone-relative tensor name: ``module.bert.encoder.x`` -> ``encoder.x``."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in HARNESS_PREFIXES:
            if name.startswith(prefix):
                name, stripped = name[len(prefix):], True
    for prefix in ARCHITECTURE_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix):]
    return name


def normalise_names(names: list[str]) -> dict[str, str]:
    """Normalised -> stored name for one model; falls back to stored names if normalising collides."""
    mapping = {normalise_name(n): n for n in names}
    if len(mapping) != len(names):
        return {n: n for n in names}
    return mapping


@dataclass
class TensorStats:
    """Statistics of one tensor, accumulated over row blocks in one pass."""

    numel: int = 0
    mean: float = 0.0
    std: float = 0.0
    kurtosis: float = 0.0  # Fisher excess kurtosis (0 for a Gaussian)


@dataclass
class Fingerprint:
    """What the engine knows about one model after reading its headers and streaming its tensors once."""

    id: str
    path: str
    format: str
    sha256: str
    tensors: dict[str, TensorInfo]  # normalised name -> shape, dtype
    stored_names: dict[str, str]  # normalised name -> name in the file
    stats: dict[str, TensorStats] = field(default_factory=dict)

    @property
    def num_params(self) -> int:
        return sum(t.numel for t in self.tensors.values())

    @property
    def float_params(self) -> dict[str, int]:
        return {n: t.numel for n, t in self.tensors.items() if t.is_float}

    @property
    def architecture(self) -> str:
        """Short digest of the sorted (normalised name, shape) signature."""
        text = ";".join(f"{n}:{'x'.join(map(str, t.shape))}" for n, t in sorted(self.tensors.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def kurtosis_over(self, names: list[str]) -> float:
        """Summed excess kurtosis over the given tensors (the MoTHer model statistic)."""
        return float(sum(self.stats[n].kurtosis for n in names if n in self.stats))


class MomentAccumulator:
    """Raw power sums of one tensor per model, block by block; turned into mean, std, kurtosis at the end.

    Works on a ``(models, values)`` float64 block, so one call updates every model of a block.
    """

    def __init__(self, models: int) -> None:
        self.count = 0
        self.sums = np.zeros((4, models))
        self.shift: np.ndarray | None = None  # moments about a per-model shift keep float64 precise

    def update(self, block: np.ndarray) -> None:
        if self.shift is None:
            self.shift = block.mean(axis=1)
        self.count += block.shape[1]
        block = block - self.shift[:, None]
        power = block.copy()
        for k in range(4):
            self.sums[k] += power.sum(axis=1)
            if k < 3:
                power *= block

    def finish(self) -> list[TensorStats]:
        n = max(self.count, 1)
        e1, e2, e3, e4 = self.sums / n
        var = np.maximum(e2 - e1**2, 0.0)
        m4 = e4 - 4 * e1 * e3 + 6 * e1**2 * e2 - 3 * e1**4
        with np.errstate(divide="ignore", invalid="ignore"):
            kurt = np.where(var > 0, m4 / var**2 - 3.0, 0.0)
        mean = e1 + (self.shift if self.shift is not None else 0.0)
        return [TensorStats(self.count, float(a), float(np.sqrt(v)), float(k)) for a, v, k in zip(mean, var, kurt)]
