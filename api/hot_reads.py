"""The one-query model reads, answered below FastAPI's routing.

``GET /api/models/{id}``, ``/api/models/{id}/ancestors|descendants|children|parent`` and
``/api/models/{a}/path/{b}`` are each one indexed Neo4j lookup of about a millisecond. FastAPI's
routing over every route, its dependency solving and its request wrapper cost about a quarter of
a millisecond on top (``bench/api_latency.py`` measures the whole request against the bare
driver). This layer sits in the app's middleware stack, matches those paths as FastAPI's routes
do and answers them through the same functions those routes call (:mod:`api.routes.models`: one
thread hop for the query, the rows as JSON) and the same error mapping
(:func:`api.errors.error_response`). Everything else goes on to FastAPI, whose routes still
document these reads in OpenAPI and are the reference this layer is tested against
(``tests/service/test_hot_reads.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from api.routes.models import RELATIVES, model, path_between, relatives
from heritage.exceptions import HeritageError

_PREFIX = "/api/models/"
# FastAPI's GET routes under /api/models/, in its order (the first that matches wins), matched as
# its ``{...:path}`` parameters match: ids hold slashes and arrive percent-decoded. ``None``: left
# to FastAPI (``/lineage`` runs several queries and takes query parameters).
_ROUTES: list[tuple[re.Pattern[str], Callable[..., Any] | None]] = [
    (re.compile(r"/api/models/(.*)/path/(.*)"), path_between),
    (re.compile(r"/api/models/(.*)/lineage"), None),
    (re.compile(rf"/api/models/(.*)/({'|'.join(RELATIVES)})"), relatives),
    (re.compile(r"/api/models/(.*)"), model),
]


class HotReads:
    """ASGI middleware: the one-query model reads here, every other request to the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = _answer_for(scope) if scope["type"] == "http" and scope["method"] == "GET" else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        function, args = answer
        try:
            response = JSONResponse(await run_in_threadpool(function, scope["app"].state.store, *args))
        except HeritageError as exc:
            response = error_response(exc)
        await response(scope, receive, send)


def _answer_for(scope: Scope) -> tuple[Callable[..., Any], tuple[str, ...]] | None:
    path = _route_path(scope)
    if not path.startswith(_PREFIX):
        return None
    for pattern, function in _ROUTES:
        match = pattern.fullmatch(path)
        if match:
            return (function, match.groups()) if function else None
    return None


def _route_path(scope: Scope) -> str:
    """The path as routing sees it: without the ``root_path`` a proxy mounts the app under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root + "/") else path
