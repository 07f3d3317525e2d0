"""Plain result dataclasses: what a scan found. Sinks (JSON, Neo4j, API) read only these."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class ModelRecord:
    id: str
    family: str
    kurtosis: float  # summed excess kurtosis over the tensors its family is compared on
    weight_norm: float  # Euclidean norm of those tensors
    num_params: int
    sha256: str
    path: str
    format: str
    architecture: str
    parent: str | None = None


@dataclass
class FamilyRecord:
    id: str
    members: list[str]
    root: str
    medoid: str
    metric: str  # distance metric used (auto resolved)
    direction: str  # statistic that orders parents before children: "kurtosis" or "norm"
    sign: int  # +1: parents have the higher statistic; -1: the lower
    sign_source: str  # "family" (its own data), "vote" (other families), "default", or "config"
    sign_evidence: float
    stats: dict[str, float] = field(default_factory=dict)


@dataclass
class EdgeRecord:
    parent: str
    child: str
    distance: float
    confidence: float
    method: str


@dataclass
class RejectedRecord:
    id: str
    reason: str
    kind: str  # corrupt | unsafe | not_weights | non_finite | duplicate | error


@dataclass
class HeritageResult:
    models: list[ModelRecord] = field(default_factory=list)
    families: list[FamilyRecord] = field(default_factory=list)
    edges: list[EdgeRecord] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)
    run: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def write_json(self, path: str | Path) -> None:
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False, default=_plain)
        Path(path).write_text(text + "\n")

    def model(self, model_id: str) -> ModelRecord:
        for m in self.models:
            if m.id == model_id:
                return m
        raise KeyError(model_id)


def _plain(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()  # numpy scalars
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
