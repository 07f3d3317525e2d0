"""Background jobs: a few worker threads, a registry of job states the API reports by id."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from heritage.exceptions import HeritageError

log = logging.getLogger(__name__)


@dataclass
class Job:
    id: str
    kind: str
    status: str = "queued"  # queued | running | succeeded | failed
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    finished_at: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


class JobRunner:
    """Runs jobs on a few worker threads and remembers their outcome.

    Jobs that change the graph coordinate through :class:`heritage.incremental.IncrementalHeritage`'s
    locks (one family at a time; a recluster alone), so workers never write one family at once.
    """

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="heritage-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(self, kind: str, work: Callable[[], dict[str, Any]]) -> Job:
        job = Job(id=uuid.uuid4().hex, kind=kind)
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _run(self, job: Job, work: Callable[[], dict[str, Any]]) -> None:
        job.status = "running"
        try:
            job.result = work()
            job.status = "succeeded"
        except HeritageError as exc:
            job.error, job.status = str(exc), "failed"
        except Exception as exc:  # a job must never take the worker down; the error is reported
            log.exception("job %s (%s) failed", job.id, job.kind)
            job.error, job.status = f"{type(exc).__name__}: {exc}", "failed"
        finally:
            job.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
