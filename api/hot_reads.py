"""The one-query lineage reads, answered below FastAPI's routing.

``GET /api/models/{id}/ancestors|descendants|children|parent`` is one indexed Neo4j lookup of about
a millisecond. FastAPI's routing over every route, its dependency solving and its request wrapper
cost about a quarter of a millisecond on top (``bench/api_latency.py`` measures the whole request
against the bare driver). This layer sits in the app's middleware stack, recognises those four
paths with one regular expression and answers them through the same function the FastAPI routes
call (:func:`api.routes.models.relatives`: one thread hop for the query, the rows as JSON) and
the same error mapping (:func:`api.errors.error_response`). Everything else goes on to FastAPI,
whose routes still document these four in OpenAPI and are the reference this layer is tested
against (``tests/service/test_hot_reads.py``).
"""

from __future__ import annotations

import re

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from api.routes.models import RELATIVES, relatives
from heritage.exceptions import HeritageError

# As FastAPI's ``/{model_id:path}/<relation>`` routes match: the id is everything before the last
# segment, slashes included, already percent-decoded by the server.
_HOT = re.compile(rf"/api/models/(.*)/({'|'.join(RELATIVES)})")
# FastAPI tries ``/{model_id:path}/path/{other_id:path}`` first, so such paths are left to it.
_EARLIER = "/path/"


class HotReads:
    """ASGI middleware: the four hot GETs here, every other request to the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = _HOT.fullmatch(_route_path(scope)) if scope["type"] == "http" and scope["method"] == "GET" else None
        if hot is None or _EARLIER in hot[1]:
            await self.app(scope, receive, send)
            return
        store = scope["app"].state.store
        try:
            response = JSONResponse(await run_in_threadpool(relatives, store, hot[2], hot[1]))
        except HeritageError as exc:
            response = error_response(exc)
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path as routing sees it: without the ``root_path`` a proxy mounts the app under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root + "/") else path
