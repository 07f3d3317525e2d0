"""API fixtures: the app over a real Neo4j holding a scanned, trained zoo."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from heritage import Heritage
from heritage.graph import GraphStore
from tests.graph.conftest import graph_settings, proxy, store  # noqa: F401  (the graph tests' fixtures)


@pytest.fixture
def scanned(store: GraphStore, genealogy_zoo):  # noqa: F811
    """``(client, result)``: the API over an empty database that then got one scan of a trained zoo."""
    _, zoo, _ = genealogy_zoo
    result = Heritage().scan(zoo)
    store.write_result(result)
    with TestClient(create_app(store)) as client:
        yield client, result


def wait_for_job(client: TestClient, job_id: str, seconds: float = 300) -> dict:
    """Poll ``GET /api/jobs/{id}`` until the job has finished; its final state."""
    deadline = time.monotonic() + seconds
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
