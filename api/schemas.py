"""Response shapes of the lineage API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Model(BaseModel):
    id: str
    name: str | None = None
    path: str | None = None
    sha256: str | None = None
    format: str | None = None
    architecture: str | None = None
    num_params: int | None = None
    kurtosis: float | None = None
    weight_norm: float | None = None
    status: str = "ok"
    reason: str | None = None
    family: str | None = None
    parent: str | None = None


class ModelSummary(BaseModel):
    id: str
    name: str | None = None
    family: str | None = None
    num_params: int | None = None
    status: str = "ok"


class Page(BaseModel):
    items: list[ModelSummary]
    skip: int
    limit: int


class Relative(BaseModel):
    id: str
    name: str | None = None
    depth: int = Field(description="generations away (1 = parent or child)")


class Edge(BaseModel):
    id: str
    name: str | None = None
    distance: float | None = None
    confidence: float | None = None


class Lineage(BaseModel):
    model: Model
    ancestors: list[Relative]
    descendants: list[Relative]


class Path(BaseModel):
    ids: list[str]
    hops: int


class Family(BaseModel):
    id: str
    size: int | None = None
    root: str | None = None
    medoid: str | None = None
    created_at: str | None = None
    edges: int = 0
    mean_confidence: float | None = None


class TreeNode(BaseModel):
    id: str
    distance: float | None = None
    confidence: float | None = None
    children: list[TreeNode] = []


class GenealogyEdge(BaseModel):
    parent: str
    child: str
    distance: float | None = None
    confidence: float | None = None


class Genealogy(BaseModel):
    family: str
    tree: TreeNode
    edges: list[GenealogyEdge]
