"""Dependencies: the graph store, settings, job runner and incremental engine the app holds, for route functions.

They only read ``app.state``, so they are ``async``: no thread-pool hop per request for them.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

from api.jobs import JobRunner
from api.settings import ServiceSettings
from heritage.exceptions import HeritageError
from heritage.graph import GraphStore
from heritage.incremental import IncrementalHeritage


class UnauthorizedError(HeritageError):
    """A write request without the right X-API-Key."""


class WritesDisabledError(HeritageError):
    """No HERITAGE_API_KEY is configured, so the service accepts no writes."""


async def get_store(request: Request) -> GraphStore:
    store: GraphStore = request.app.state.store
    return store


async def get_settings(request: Request) -> ServiceSettings:
    settings: ServiceSettings = request.app.state.settings
    return settings


async def get_jobs(request: Request) -> JobRunner:
    jobs: JobRunner = request.app.state.jobs
    return jobs


async def get_engine(request: Request) -> IncrementalHeritage:
    engine: IncrementalHeritage = request.app.state.engine
    return engine


Settings = Annotated[ServiceSettings, Depends(get_settings)]


async def require_api_key(settings: Settings, x_api_key: Annotated[str | None, Header()] = None) -> None:
    """Write endpoints: the X-API-Key header must equal HERITAGE_API_KEY (compared in constant time)."""
    expected = settings.api_key
    if expected is None:
        raise WritesDisabledError("writes are disabled: the service has no HERITAGE_API_KEY")
    if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), expected.encode()):
        raise UnauthorizedError("missing or wrong X-API-Key header")


Store = Annotated[GraphStore, Depends(get_store)]
Jobs = Annotated[JobRunner, Depends(get_jobs)]
Engine = Annotated[IncrementalHeritage, Depends(get_engine)]
WriteAccess = Depends(require_api_key)
