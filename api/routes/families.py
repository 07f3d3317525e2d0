"""Families and their genealogy trees."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api import schemas
from api.deps import Store
from heritage.exceptions import NotFoundError

router = APIRouter(prefix="/api/families", tags=["families"])


@router.get("", response_model=list[schemas.Family])
def list_families(store: Store) -> list[dict[str, Any]]:
    return store.query("families")


@router.get("/{family_id:path}/genealogy", response_model=schemas.Genealogy)
def genealogy(store: Store, family_id: str) -> schemas.Genealogy:
    rows = store.query("family_tree", family=family_id)
    if not rows:  # members prove the family exists: look it up only to tell 404 from an empty family
        _family(store, family_id)
        raise NotFoundError(f"family {family_id!r} has no members")
    nodes = {r["child"]: schemas.TreeNode(id=r["child"], distance=r["distance"], confidence=r["confidence"])
             for r in rows}
    roots = [r["child"] for r in rows if r["parent"] is None]
    for r in sorted(rows, key=lambda r: r["child"]):
        if r["parent"] is not None:
            nodes[r["parent"]].children.append(nodes[r["child"]])
    edges = [schemas.GenealogyEdge(parent=r["parent"], child=r["child"], distance=r["distance"],
                                   confidence=r["confidence"]) for r in rows if r["parent"] is not None]
    return schemas.Genealogy(family=family_id, tree=nodes[roots[0]], edges=edges)


@router.get("/{family_id:path}", response_model=schemas.Family)
def get_family(store: Store, family_id: str) -> dict[str, Any]:
    return _family(store, family_id)


def _family(store: Store, family_id: str) -> dict[str, Any]:
    rows = store.query("family", family=family_id)
    if not rows:
        raise NotFoundError(f"no family with id {family_id!r}")
    return rows[0]
