"""Background jobs: status, result or error."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from api.deps import Jobs
from heritage.exceptions import NotFoundError

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("/{job_id}")
def get_job(jobs: Jobs, job_id: str) -> dict[str, Any]:
    job = jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"no job with id {job_id!r}")
    return asdict(job)
