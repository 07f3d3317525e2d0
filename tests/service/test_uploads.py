"""Uploads and the other engine-running write endpoints, through TestClient, on the real Neo4j and trained zoos."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.numpy import load_file, save_file

from api.main import create_app
from api.settings import ServiceSettings
from heritage import Heritage
from heritage.evaluate import evaluate
from heritage.graph import GraphStore
from tests.service.conftest import wait_for_job

KEY = "upload-test-key-42"
AUTH = {"X-API-Key": KEY}




def _payload(model_dir: Path, as_archive: str | None = None) -> tuple[str, bytes]:
    """(file name, bytes) to upload a zoo model: its one weight file, else an archive of its folder."""
    weights = [p for p in sorted(model_dir.iterdir()) if p.suffix in (".safetensors", ".bin")]
    if len(weights) == 1 and as_archive is None:
        return weights[0].name, weights[0].read_bytes()
    buffer = io.BytesIO()
    if as_archive == "tar.gz" or (as_archive is None and len(weights) % 2):
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(model_dir, arcname=model_dir.name)
        return f"{model_dir.name}.tar.gz", buffer.getvalue()
    with zipfile.ZipFile(buffer, "w") as zf:
        for file in sorted(model_dir.iterdir()):
            zf.write(file, file.name)
    return f"{model_dir.name}.zip", buffer.getvalue()


def _upload(client: TestClient, filename: str, data: bytes, name: str | None = None, headers: dict | None = None):
    form = {"name": name} if name else {}
    return client.post("/api/models", files={"file": (filename, data)}, data=form,
                       headers=AUTH if headers is None else headers)


def _graph_state(client: TestClient) -> dict:
    """Families and edges as the API serves them, in the scan JSON shape ``heritage eval`` scores."""
    families, edges, models = [], [], []
    for family in client.get("/api/families").json():
        genealogy = client.get(f"/api/families/{family['id']}/genealogy").json()
        members = sorted({e["child"] for e in genealogy["edges"]} | {genealogy["tree"]["id"]})
        families.append({"id": family["id"], "members": members, "root": genealogy["tree"]["id"]})
        edges += [{"parent": e["parent"], "child": e["child"]} for e in genealogy["edges"]]
        models += [{"id": m, "family": family["id"]} for m in members]
    return {"models": models, "families": families, "edges": edges}


@pytest.fixture
def service(store, tmp_path: Path):
    settings = ServiceSettings(api_key=KEY, data_dir=tmp_path / "data", max_upload_bytes=4 * 2**20)
    with TestClient(create_app(store, settings)) as client:
        yield client, settings


@pytest.mark.parametrize("all_at_once", [False, True], ids=["one-by-one", "all-at-once"])
def test_uploading_a_zoo_gives_the_batch_families_and_edge_accuracy(service, genealogy_zoo, all_at_once: bool):
    """Model by model (or all at once, placed by concurrent jobs): the same families as one batch scan,
    at least its directed-edge accuracy, one parent per model, nothing lost."""
    client, settings = service
    mode, zoo, truth_path = genealogy_zoo
    truth = json.loads(truth_path.read_text())
    batch = Heritage().scan(zoo)
    jobs = []
    for model in reversed(truth["models"]):  # leaves first: families grow from any member
        filename, data = _payload(zoo / model["id"])
        answer = _upload(client, filename, data, name=model["id"])
        assert answer.status_code == 202, answer.text
        jobs.append(answer.json()["job_id"])
        if not all_at_once:
            job = wait_for_job(client, jobs[-1])
            assert job["status"] == "succeeded", job
    for job_id in jobs:
        assert wait_for_job(client, job_id)["status"] == "succeeded"
    state = _graph_state(client)
    assert sorted(f["members"] for f in state["families"]) == sorted(sorted(f.members) for f in batch.families)
    children = [e["child"] for e in state["edges"]]
    assert len(children) == len(set(children)) == len(truth["models"]) - len(batch.families)
    ours = evaluate(state, truth)["edge_accuracy"]
    assert ours >= evaluate(batch.to_dict(), truth)["edge_accuracy"], (mode, ours)
    stats = client.get("/api/clustering/statistics").json()
    assert stats["models"] == len(truth["models"]) and stats["valid"] is True


def test_duplicates_names_and_keys(service, trained_zoo):
    client, settings = service
    zoo, truth = trained_zoo
    first = next(m["id"] for m in truth["models"] if m["format"] == "safetensors")
    filename, data = _payload(zoo / first)
    assert _upload(client, filename, data, name="base", headers={}).status_code == 401
    assert _upload(client, filename, data, name="base", headers={"X-API-Key": "nope"}).status_code == 401
    accepted = _upload(client, filename, data, name="base")
    assert accepted.status_code == 202
    again = _upload(client, filename, data, name="other-name")
    assert again.status_code == 409 and again.json()["existing_id"] == "base"  # same bytes, even while pending
    assert wait_for_job(client, accepted.json()["job_id"])["status"] == "succeeded"
    again = _upload(client, filename, data, name="third-name")
    assert again.status_code == 409 and again.json()["existing_id"] == "base"
    other = next(m["id"] for m in truth["models"] if m["id"] != first and m["format"] == "safetensors")
    taken = _upload(client, *_payload(zoo / other), name="base")
    assert taken.status_code == 409 and "already exists" in taken.json()["detail"]
    nested = _upload(client, *_payload(zoo / other), name="base/inside")
    assert nested.status_code == 409 and nested.json()["existing_id"] == "base"
    assert client.get("/api/models/base").status_code == 200


def test_bad_files_are_refused_with_the_reason(service, trained_zoo, tmp_path: Path):
    client, settings = service
    zoo, truth = trained_zoo
    filename, data = _payload(zoo / next(m["id"] for m in truth["models"] if m["format"] == "safetensors"))

    truncated = _upload(client, "cut.safetensors", data[: len(data) // 2])
    assert truncated.status_code == 422 and "cut.safetensors" in truncated.json()["detail"]
    text = _upload(client, "notes.txt", b"hello")
    assert text.status_code == 422 and "not a weight format" in text.json()["detail"]
    plain_pickle = _upload(client, "weights.pkl", b"\x80\x04N.")
    assert plain_pickle.status_code == 422 and "never loaded" in plain_pickle.json()["detail"]
    marker = tmp_path / "pwned"

    class RunsCode:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    buffer = io.BytesIO()
    torch.save({"weight": torch.zeros(4, 4), "payload": RunsCode()}, buffer)
    evil = _upload(client, "evil.bin", buffer.getvalue(), name="evil")
    assert evil.status_code == 422 and "evil.bin" in evil.json()["detail"] and not marker.exists()
    assert _upload(client, "model.safetensors", data).status_code == 422  # that name would make data/ a model
    bad_name = _upload(client, filename, data, name="../escape")
    assert bad_name.status_code == 422 and "segments" in bad_name.json()["detail"]
    assert _upload(client, filename, b"x" * (settings.max_upload_bytes + 1)).status_code == 413
    no_file = client.post("/api/models", data={"name": "x"}, headers=AUTH)
    assert no_file.status_code == 422
    leftovers = [p for p in settings.data_dir.rglob("*") if p.is_file() and "catalog" not in p.parts]
    assert leftovers == [] and not (tmp_path / "escape").exists()


def test_archives_are_checked_member_by_member(service, trained_zoo, tmp_path: Path):
    client, settings = service
    zoo, truth = trained_zoo
    model_dir = zoo / next(m["id"] for m in truth["models"] if m["format"] == "safetensors")

    def tar_with(*members: tarfile.TarInfo, data: bytes = b"") -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(model_dir, arcname="m")
            for info in members:
                tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
        return buffer.getvalue()

    escape = tarfile.TarInfo("m/../../outside.txt")
    escape.size = 3
    answer = _upload(client, "m.tar.gz", tar_with(escape, data=b"bad"), name="m1")
    assert answer.status_code == 422 and "unsafe path" in answer.json()["detail"]
    link = tarfile.TarInfo("m/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    answer = _upload(client, "m.tar.gz", tar_with(link), name="m2")
    assert answer.status_code == 422 and "link" in answer.json()["detail"]
    big = tarfile.TarInfo("m/big.bin.txt")
    big.size = settings.max_upload_bytes + 1
    huge = tar_with(big, data=b"\0" * big.size)
    assert len(huge) < settings.max_upload_bytes  # compresses well: only the unpacked size is over
    assert _upload(client, "m.tar.gz", huge, name="m3").status_code == 413
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("readme.md", "no weights here")
    answer = _upload(client, "empty.zip", buffer.getvalue(), name="m4")
    assert answer.status_code == 422 and "model directory" in answer.json()["detail"]
    assert not (tmp_path / "outside.txt").exists() and not (settings.data_dir.parent / "outside.txt").exists()
    ok = _upload(client, "m.zip", _payload(model_dir, as_archive="zip")[1], name="zipped/model")
    assert ok.status_code == 202 and wait_for_job(client, ok.json()["job_id"])["status"] == "succeeded"
    assert client.get("/api/models/zipped/model").json()["id"] == "zipped/model"


def test_nan_weights_fail_the_job_and_leave_nothing(service, trained_zoo, tmp_path: Path):
    client, settings = service
    zoo, truth = trained_zoo
    source = zoo / next(m["id"] for m in truth["models"] if m["format"] == "safetensors") / "model.safetensors"
    tensors = load_file(source)
    name = next(n for n, t in tensors.items() if t.ndim == 2)
    tensors[name][1, 2] = np.nan
    save_file(tensors, tmp_path / "nan.safetensors")
    accepted = _upload(client, "nan.safetensors", (tmp_path / "nan.safetensors").read_bytes(), name="nan-model")
    assert accepted.status_code == 202
    job = wait_for_job(client, accepted.json()["job_id"])
    assert job["status"] == "failed" and name in job["error"] and "non-finite" in job["error"]
    assert client.get("/api/models/nan-model").status_code == 404
    assert not (settings.data_dir / "nan-model").exists()


def test_delete_reprocess_and_rebuild(service, trained_zoo):
    client, settings = service
    zoo, truth = trained_zoo
    for model in truth["models"]:
        answer = _upload(client, *_payload(zoo / model["id"]), name=model["id"])
        assert wait_for_job(client, answer.json()["job_id"])["status"] == "succeeded"
    root = next(m["id"] for m in truth["models"] if m["parent"] is None)
    family = client.get(f"/api/models/{root}").json()["family"]
    for path in (f"/api/models/{root}/reprocess", f"/api/families/{family}/tree/rebuild"):
        assert client.post(path).status_code == 401
        job = wait_for_job(client, client.post(path, headers=AUTH).json()["job_id"])
        assert job["status"] == "succeeded", job
    assert client.get(f"/api/models/{root}").json()["family"] == family
    assert client.delete(f"/api/models/{root}").status_code == 401
    job = wait_for_job(client, client.delete(f"/api/models/{root}", headers=AUTH).json()["job_id"])
    assert job["status"] == "succeeded", job
    assert client.get(f"/api/models/{root}").status_code == 404
    assert not (settings.data_dir / root).exists()
    kids = [m["id"] for m in truth["models"] if m["parent"] == root]
    new_family = client.get(f"/api/models/{kids[0]}").json()["family"]
    assert client.get(f"/api/models/{kids[1]}").json()["family"] == new_family
    genealogy = client.get(f"/api/families/{new_family}/genealogy").json()
    assert len(genealogy["edges"]) == 1 and root not in json.dumps(genealogy)
    for method, path in (("delete", "/api/models/no-such"), ("post", "/api/models/no-such/reprocess"),
                         ("post", "/api/families/family:no-such/tree/rebuild")):
        assert getattr(client, method)(path, headers=AUTH).status_code == 404


def test_openapi_documents_the_upload_form(service):
    client, _ = service
    spec = client.get("/openapi.json").json()
    form = spec["paths"]["/api/models"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"] and set(form["properties"]) == {"file", "name"}
    assert "delete" in spec["paths"]["/api/models/{model_id}"]


def test_the_database_going_away_loses_nothing(store, graph_settings, proxy, trained_zoo, tmp_path: Path):
    """Neo4j unreachable: an upload answers 503 naming the server and keeps nothing; what was written stays."""
    zoo, truth = trained_zoo
    first, second = [m["id"] for m in truth["models"] if m["format"] == "safetensors"][:2]
    through_proxy = dataclasses.replace(graph_settings, uri=f"bolt://127.0.0.1:{proxy.port}", retry_seconds=2.0)
    settings = ServiceSettings(api_key=KEY, data_dir=tmp_path / "data")
    with GraphStore.connect(through_proxy) as flaky, TestClient(create_app(flaky, settings)) as client:
        accepted = _upload(client, *_payload(zoo / first), name=first)
        assert wait_for_job(client, accepted.json()["job_id"])["status"] == "succeeded"
        proxy.cut()
        refused = _upload(client, *_payload(zoo / second), name=second)
        assert refused.status_code == 503 and through_proxy.uri in refused.json()["detail"]
        assert client.get("/ready").status_code == 503
    kept = sorted(str(p.relative_to(settings.data_dir)) for p in settings.data_dir.rglob("*.safetensors")
                  if ".heritage" not in p.parts)
    assert kept == [f"{first}/model.safetensors"]
    assert [r["id"] for r in store.query("model", id=first)] == [first]
    assert store.query("model", id=second) == []


def test_the_database_going_away_during_an_upload_job_keeps_nothing_of_it(store, graph_settings, proxy, trained_zoo,
                                                                          tmp_path: Path):
    """The relay is cut just as the job writes the family: the job fails naming the server, the
    upload is taken back (files and placement), the graph is as before, and it can be uploaded again."""
    from heritage.catalog import Catalog
    from heritage.incremental import CATALOG_DIR

    zoo, truth = trained_zoo
    root = next(m["id"] for m in truth["models"] if m["parent"] is None)
    child = next(m["id"] for m in truth["models"] if m["parent"] == root)
    through_proxy = dataclasses.replace(graph_settings, uri=f"bolt://127.0.0.1:{proxy.port}", retry_seconds=2.0)
    settings = ServiceSettings(api_key=KEY, data_dir=tmp_path / "data")
    with GraphStore.connect(through_proxy) as flaky, TestClient(create_app(flaky, settings)) as client:
        accepted = _upload(client, *_payload(zoo / root), name=root)
        assert wait_for_job(client, accepted.json()["job_id"])["status"] == "succeeded"
        family = client.get(f"/api/models/{root}").json()["family"]
        before = store.query("family_members", family=family)
        write = flaky.write_result

        def cut_then_write(result, **kwargs):  # the real relay really cut, at the moment the job writes
            proxy.cut()
            return write(result, **kwargs)

        flaky.write_result = cut_then_write  # type: ignore[method-assign]
        accepted = _upload(client, *_payload(zoo / child), name=child)
        assert accepted.status_code == 202, accepted.text
        job = wait_for_job(client, accepted.json()["job_id"])
        assert job["status"] == "failed" and through_proxy.uri in job["error"], job
        assert f"the upload {child!r} was not kept" in job["error"]
    assert not (settings.data_dir / child).exists() and (settings.data_dir / root).is_dir()
    assert Catalog(settings.data_dir / CATALOG_DIR).ids() == [root]
    assert store.query("model", id=child) == [] and store.query("family_members", family=family) == before
    with TestClient(create_app(store, settings)) as client:  # the database back: the same upload again
        again = _upload(client, *_payload(zoo / child), name=child)
        assert again.status_code == 202, again.text
        job = wait_for_job(client, again.json()["job_id"])
        assert job["status"] == "succeeded", job
        assert client.get(f"/api/models/{child}/parent").json()["id"] == root


def test_a_delete_cut_short_by_the_database_finishes_when_run_again(store, graph_settings, proxy, trained_zoo,
                                                                     tmp_path: Path):
    """The relay is cut as the delete job writes the rebuilt family: the job fails naming the server,
    the files and the catalog entry stay, and the same DELETE once the database is back finishes it."""
    from heritage.catalog import Catalog
    from heritage.incremental import CATALOG_DIR

    zoo, truth = trained_zoo
    root = next(m["id"] for m in truth["models"] if m["parent"] is None)
    kids = [m["id"] for m in truth["models"] if m["parent"] == root]
    through_proxy = dataclasses.replace(graph_settings, uri=f"bolt://127.0.0.1:{proxy.port}", retry_seconds=2.0)
    settings = ServiceSettings(api_key=KEY, data_dir=tmp_path / "data")
    with GraphStore.connect(through_proxy) as flaky, TestClient(create_app(flaky, settings)) as client:
        for model in [root, *kids]:
            accepted = _upload(client, *_payload(zoo / model), name=model)
            assert wait_for_job(client, accepted.json()["job_id"])["status"] == "succeeded"
        write = flaky.write_result

        def cut_then_write(result, **kwargs):  # the real relay really cut, at the moment the job writes
            proxy.cut()
            return write(result, **kwargs)

        flaky.write_result = cut_then_write  # type: ignore[method-assign]
        job = wait_for_job(client, client.delete(f"/api/models/{kids[0]}", headers=AUTH).json()["job_id"])
        assert job["status"] == "failed" and through_proxy.uri in job["error"], job
    assert (settings.data_dir / kids[0]).is_dir() and kids[0] in Catalog(settings.data_dir / CATALOG_DIR).ids()
    with TestClient(create_app(store, settings)) as client:  # the database back: the same delete again
        job = wait_for_job(client, client.delete(f"/api/models/{kids[0]}", headers=AUTH).json()["job_id"])
        assert job["status"] == "succeeded", job
        assert client.get(f"/api/models/{kids[0]}").status_code == 404
        genealogy = client.get(f"/api/families/{client.get(f'/api/models/{root}').json()['family']}/genealogy").json()
        assert {frozenset((e["parent"], e["child"])) for e in genealogy["edges"]} == {frozenset((root, kids[1]))}
    assert not (settings.data_dir / kids[0]).exists() and kids[0] not in Catalog(settings.data_dir / CATALOG_DIR).ids()
