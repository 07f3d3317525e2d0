"""The FastAPI app: lineage endpoints over the graph store; engine errors mapped to HTTP in one place.

Run it with ``heritage serve`` (uvicorn). Neo4j settings come from ``NEO4J_*`` environment variables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.errors import error_response
from api.hot_reads import HotReads
from api.jobs import JobRunner
from api.routes import clustering, families, health, jobs, models, writes
from api.settings import ServiceSettings
from heritage.exceptions import HeritageError
from heritage.graph import GraphStore, Neo4jSettings
from heritage.incremental import IncrementalHeritage


def create_app(store: GraphStore | None = None, settings: ServiceSettings | None = None,
               hot_reads: bool = True) -> FastAPI:
    """The app; tests inject ``store`` and ``settings``, else both come from the environment at startup.

    ``hot_reads``: answer the one-query lineage GETs in :class:`api.hot_reads.HotReads`, below
    FastAPI's routing; without it FastAPI's own routes answer them (the reference it is tested against).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = store is None
        app.state.store = store or GraphStore.connect(Neo4jSettings.from_env())
        app.state.settings = config = settings or ServiceSettings.from_env()
        app.state.engine = IncrementalHeritage(config.data_dir, config.engine_config())
        app.state.jobs = JobRunner(config.job_workers)
        try:
            yield
        finally:
            app.state.jobs.shutdown()
            if own:
                app.state.store.close()

    app = FastAPI(title="Model Heritage", version="0.1.0", lifespan=lifespan,
                  description="Model families and fine-tuning genealogy recovered from weights, kept in Neo4j.")

    @app.exception_handler(HeritageError)
    async def heritage_error(request: Request, exc: HeritageError) -> JSONResponse:
        return error_response(exc)

    for router in (health.router, writes.router, models.router, families.router, jobs.router, clustering.router):
        app.include_router(router)
    if hot_reads:
        app.add_middleware(HotReads)
    return app
