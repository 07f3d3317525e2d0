"""Whole-graph operations: recluster (a background job) and statistics."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from api.deps import Engine, Jobs, Settings, Store, WriteAccess
from heritage.exceptions import NotFoundError
from heritage.graph.store import WriteReport

router = APIRouter(prefix="/api/clustering", tags=["clustering"])


@router.post("/recluster", status_code=202, dependencies=[WriteAccess])
def recluster(store: Store, settings: Settings, engine: Engine, jobs: Jobs) -> dict[str, str]:
    """Scan the data directory again and write every family it finds (families no longer found are pruned).

    The stored placement state follows the scan, so later uploads join the families it found.
    """
    data_dir = settings.data_dir

    def work() -> dict[str, Any]:
        if not data_dir.is_dir():
            raise NotFoundError(f"data directory {data_dir} does not exist")
        reports: list[WriteReport] = []
        result = engine.recluster(write=lambda r: reports.append(store.write_result(r)))
        return asdict(reports[0]) | {"seconds": result.run.get("seconds", {})}

    job = jobs.submit("recluster", work)
    return {"job_id": job.id, "status": job.status}


@router.get("/statistics")
def statistics(store: Store) -> dict[str, Any]:
    """Family size distribution, processing success rate, average confidence, tree validity."""
    stats = store.stats()
    total = stats["models"]
    stats["processing_success_rate"] = (total - stats["rejected"]) / total if total else None
    return stats
