"""Models and their lineage. Ids may hold slashes (they are paths), hence the ``:path`` converters.

The one-query reads (a model, its ancestors, descendants, children or parent, the path between
two models) are the hot path (``bench/api_latency.py``). Their answers come from the functions
here, which return the rows as JSON-ready values (they come from our own named queries, so no
response-model validation is needed; the response models still document them in OpenAPI). In the
served app :class:`api.hot_reads.HotReads` calls them below FastAPI's routing; the routes below
call the same functions and are the reference that layer is tested against.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api import schemas
from api.deps import Store
from heritage.exceptions import NotFoundError
from heritage.graph import GraphStore

router = APIRouter(prefix="/api/models", tags=["models"])
RELATIVES = ("ancestors", "descendants", "children", "parent")


def model(store: GraphStore, model_id: str) -> dict[str, Any]:
    """The answer of ``/api/models/{id}``: the model's row; NotFoundError (404) for an unknown id."""
    rows = store.query("model", id=model_id)
    if not rows:
        raise NotFoundError(f"no model with id {model_id!r}")
    return rows[0]


def relatives(store: GraphStore, model_id: str, relation: str) -> Any:
    """The answer of ``/api/models/{id}/<relation>``: its query's rows (``parent``: the row or None).

    An unknown model raises NotFoundError (404): the per-model queries match the model first, so one
    round trip tells "unknown" from "no relatives".
    """
    rows = store.query_anchored(relation, id=model_id)
    if rows is None:
        raise NotFoundError(f"no model with id {model_id!r}")
    if relation == "parent":
        return rows[0] if rows else None
    return rows


def path_between(store: GraphStore, model_id: str, other_id: str) -> dict[str, Any]:
    """The answer of ``/api/models/{a}/path/{b}``: the tree path's ids and hops, in one round trip
    when there is one; otherwise NotFoundError naming the unknown model, or saying they share no tree."""
    rows = store.query("path", a=model_id, b=other_id)
    if not rows:
        model(store, model_id), model(store, other_id)
        raise NotFoundError(f"{model_id!r} and {other_id!r} share no tree")
    return rows[0]


@router.get("", response_model=schemas.Page)
def list_models(store: Store, name: str = "", family: str | None = None,
                skip: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=1000)) -> schemas.Page:
    rows = store.query("models", name=name, family=family, skip=skip, limit=limit)
    return schemas.Page(items=[schemas.ModelSummary(**r) for r in rows], skip=skip, limit=limit)


@router.get("/{model_id:path}/path/{other_id:path}", response_model=schemas.Path)
async def path(store: Store, model_id: str, other_id: str) -> Response:
    return JSONResponse(await run_in_threadpool(path_between, store, model_id, other_id))


@router.get("/{model_id:path}/lineage", response_model=schemas.Lineage)
def lineage(store: Store, model_id: str, up: int = Query(100, ge=0), down: int = Query(100, ge=0)) -> schemas.Lineage:
    found = model(store, model_id)
    ancestors = [r for r in store.query("ancestors", id=model_id) if r["depth"] <= up]
    descendants = [r for r in store.query("descendants", id=model_id) if r["depth"] <= down]
    return schemas.Lineage(model=schemas.Model(**found), ancestors=[schemas.Relative(**r) for r in ancestors],
                           descendants=[schemas.Relative(**r) for r in descendants])


@router.get("/{model_id:path}/ancestors", response_model=list[schemas.Relative])
async def ancestors(store: Store, model_id: str) -> Response:
    return JSONResponse(await run_in_threadpool(relatives, store, model_id, "ancestors"))


@router.get("/{model_id:path}/descendants", response_model=list[schemas.Relative])
async def descendants(store: Store, model_id: str) -> Response:
    return JSONResponse(await run_in_threadpool(relatives, store, model_id, "descendants"))


@router.get("/{model_id:path}/children", response_model=list[schemas.Edge])
async def children(store: Store, model_id: str) -> Response:
    return JSONResponse(await run_in_threadpool(relatives, store, model_id, "children"))


@router.get("/{model_id:path}/parent", response_model=schemas.Edge | None)
async def parent(store: Store, model_id: str) -> Response:
    return JSONResponse(await run_in_threadpool(relatives, store, model_id, "parent"))


@router.get("/{model_id:path}", response_model=schemas.Model)
async def get_model(store: Store, model_id: str) -> Response:
    return JSONResponse(await run_in_threadpool(model, store, model_id))
