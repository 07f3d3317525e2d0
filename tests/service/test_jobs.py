"""Write endpoints: API key, background recluster job, statistics; on the real Neo4j and a trained zoo."""

from __future__ import annotations

import shutil

from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ServiceSettings
from tests.service.conftest import wait_for_job

KEY = "test-key-0123456789"




def test_recluster_needs_the_key_then_rebuilds_the_graph_in_the_background(store, genealogy_zoo, tmp_path):
    _, zoo, _ = genealogy_zoo
    shutil.copytree(zoo, tmp_path / "data")  # the service keeps its placement state inside its data directory
    with TestClient(create_app(store, ServiceSettings(api_key=KEY, data_dir=tmp_path / "data"))) as client:
        assert client.post("/api/clustering/recluster").status_code == 401
        assert client.post("/api/clustering/recluster", headers={"X-API-Key": "wrong"}).status_code == 401
        accepted = client.post("/api/clustering/recluster", headers={"X-API-Key": KEY})
        assert accepted.status_code == 202
        job = wait_for_job(client, accepted.json()["job_id"])
        assert job["status"] == "succeeded", job
        assert job["result"]["models"] == 21 and job["result"]["families"] == 3
        stats = client.get("/api/clustering/statistics").json()
        assert stats["models"] == 21 and stats["valid"] is True and stats["processing_success_rate"] == 1.0
        assert client.get("/api/jobs/no-such-job").status_code == 404


def test_a_failing_job_reports_its_error(store, tmp_path):
    with TestClient(create_app(store, ServiceSettings(api_key=KEY, data_dir=tmp_path / "missing"))) as client:
        accepted = client.post("/api/clustering/recluster", headers={"X-API-Key": KEY})
        job = wait_for_job(client, accepted.json()["job_id"])
        assert job["status"] == "failed" and "does not exist" in job["error"]


def test_without_a_configured_key_writes_are_refused(store, tmp_path):
    with TestClient(create_app(store, ServiceSettings(api_key=None, data_dir=tmp_path))) as client:
        answer = client.post("/api/clustering/recluster", headers={"X-API-Key": "anything"})
        assert answer.status_code == 503 and "HERITAGE_API_KEY" in answer.json()["detail"]
