"""Liveness of the process and readiness of its database."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Store

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:  # no I/O: answered on the event loop, no thread hop
    return {"status": "ok"}


@router.get("/ready")
def ready(store: Store) -> dict[str, str]:
    store.ping()  # GraphStoreUnavailableError becomes 503 in the app's one error handler
    return {"status": "ready", "neo4j": store.settings.uri}
