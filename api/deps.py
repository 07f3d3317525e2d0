"""Dependencies: the one graph store the app holds, injected into route functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from heritage.graph import GraphStore


def get_store(request: Request) -> GraphStore:
    store: GraphStore = request.app.state.store
    return store


Store = Annotated[GraphStore, Depends(get_store)]
