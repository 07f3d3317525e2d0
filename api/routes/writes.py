"""Write endpoints that run the engine: upload, delete, reprocess, rebuild a family's tree.

Each checks what it can at once (key, size, format, headers, duplicates, unknown ids) and answers
with an error or 202 and a job id; the engine's work and the graph write run as a background job
(``GET /api/jobs/{id}``). An upload whose rebuild or graph write fails is taken out of the catalog
and its files removed (unless its family was committed before the failure, when it stays, stored
and served), so it can be uploaded again. A delete keeps the model's files and catalog entry until
the graph has been written, and a reprocess or rebuild only rewrites what it read: when one of
them fails (Neo4j gone), running it again once the database is back finishes it.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import Engine, Jobs, Settings, Store, WriteAccess
from api.uploads import (
    DuplicateUploadError,
    archive_suffix,
    check_format,
    check_free,
    model_id,
    receive,
    remove_path,
    single_file_target,
    unpack,
)
from heritage.exceptions import CheckpointError, HeritageError, NotFoundError
from heritage.graph import GraphStore
from heritage.incremental import IncrementalHeritage
from heritage.io import ModelSource
from heritage.pipeline import open_fingerprinted

router = APIRouter(tags=["writes"])
INCOMING = Path(".heritage") / "incoming"
_UPLOAD_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "a weight file (.safetensors, .bin, .pt, .pth, .ckpt) or an archive "
                                           "(.zip, .tar, .tar.gz, .tgz) of one Hugging Face model directory"},
                   "name": {"type": "string", "description": "model id (path under the data directory); "
                                                             "default: the file name, archives without suffix"}}}}}}}


class UploadNotKeptError(HeritageError):
    """An upload job failed before its model reached the graph; its files and placement are gone."""


class _Pending:
    """Ids and digests of uploads accepted but not yet placed, so concurrent duplicates are caught too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_sha: dict[str, str] = {}
        self._ids: set[str] = set()

    def reserve(self, sha256: str, model: str, engine: IncrementalHeritage, store: GraphStore) -> None:
        with self._lock:
            existing = (self._by_sha.get(sha256) or engine.catalog.by_sha(sha256)
                        or next((r["id"] for r in store.query("model_by_sha", sha256=sha256)), None))
            if existing is not None:
                raise DuplicateUploadError(f"the same bytes are already stored as model {existing!r}", existing)
            if model in self._ids or model in engine.catalog:
                raise DuplicateUploadError(f"a model with id {model!r} already exists", model)
            self._by_sha[sha256] = model
            self._ids.add(model)

    def release(self, sha256: str, model: str) -> None:
        with self._lock:
            self._by_sha.pop(sha256, None)
            self._ids.discard(model)


_pending = _Pending()


@router.post("/api/models", status_code=202, dependencies=[WriteAccess], openapi_extra=_UPLOAD_FORM)
async def upload(request: Request, settings: Settings, engine: Engine, store: Store, jobs: Jobs) -> dict[str, Any]:
    """Upload one model (form field ``file``; optional ``name``); it is placed in a family in the background.

    409 when the same bytes (or the same id) are already stored, 413 over the size limit, 422 for a
    file that is not an accepted, readable weight format (with the reason).
    """
    incoming = settings.data_dir / INCOMING
    incoming.mkdir(parents=True, exist_ok=True)
    staged = incoming / uuid.uuid4().hex
    received = await receive(request, staged, settings.max_upload_bytes)
    try:
        model, sha256 = await run_in_threadpool(_accept, received.path, received.filename,
                                                received.fields.get("name") or None, settings.data_dir,
                                                settings.max_upload_bytes, received.sha256, engine, store)
    finally:
        for leftover in incoming.glob(f"{staged.name}*"):  # the staged file, typed or unpacked
            remove_path(leftover)

    def work() -> dict[str, Any]:
        try:
            outcome = engine.add(model, write=store.write_result)
        except Exception as exc:
            if model in engine.catalog:  # its family was written before the failure: it is stored and served
                raise
            remove_path(settings.data_dir / model)  # refused in full read (NaN weights), or the graph write failed
            if isinstance(exc, HeritageError):
                raise UploadNotKeptError(f"{exc} -- the upload {model!r} was not kept; it can be uploaded again") \
                    from exc
            raise  # not expected: the job runner logs it with its traceback
        finally:
            _pending.release(sha256, model)
        return outcome.summary()

    job = jobs.submit("upload", work)
    return {"job_id": job.id, "status": job.status, "model": model, "sha256": sha256, "bytes": received.size}


def _accept(staged: Path, filename: str, name: str | None, data_dir: Path, max_bytes: int, upload_sha: str,
            engine: IncrementalHeritage, store: GraphStore) -> tuple[str, str]:
    """Check the upload, reserve its id and digest, and move it into the data directory."""
    check_format(filename)
    model = model_id(filename, name)
    if archive_suffix(filename):
        content = unpack(staged, filename, staged.with_name(staged.name + ".d"), max_bytes)
        target = data_dir / model
    else:
        target = single_file_target(data_dir, model, filename)
        content = staged.rename(staged.with_name(staged.name + PurePosixPath(filename.lower()).suffix))
    check_free(data_dir, target, model)
    try:
        opened = open_fingerprinted(ModelSource(model, content))  # headers, unsafe pickles, sha256: 422 with the reason
    except CheckpointError as exc:
        raise type(exc)(filename, exc.reason) from exc  # name the upload, not the staging file
    opened.loader.close()
    sha256 = opened.fp.sha256 if archive_suffix(filename) else upload_sha
    _pending.reserve(sha256, model, engine, store)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        content.rename(target)
    except OSError:
        _pending.release(sha256, model)
        raise
    return model, sha256


@router.delete("/api/models/{model_id:path}", status_code=202, dependencies=[WriteAccess])
def delete_model(model_id: str, engine: Engine, store: Store, jobs: Jobs) -> dict[str, Any]:
    """Delete a model (node, files, stored sketch); its family's tree is rebuilt without it, in the background."""
    _known(model_id, engine, store)
    job = jobs.submit("delete", lambda: engine.remove(model_id, delete_node=store.delete_model,
                                                      write=store.write_result).summary())
    return {"job_id": job.id, "status": job.status, "model": model_id}


@router.post("/api/models/{model_id:path}/reprocess", status_code=202, dependencies=[WriteAccess])
def reprocess(model_id: str, engine: Engine, store: Store, jobs: Jobs) -> dict[str, Any]:
    """Read a model again, place it again (it may change family), rebuild the families involved."""
    _known(model_id, engine, store)
    job = jobs.submit("reprocess", lambda: engine.reprocess(model_id, write=store.write_result).summary())
    return {"job_id": job.id, "status": job.status, "model": model_id}


@router.post("/api/families/{family_id:path}/tree/rebuild", status_code=202, dependencies=[WriteAccess])
def rebuild_tree(family_id: str, engine: Engine, store: Store, jobs: Jobs) -> dict[str, Any]:
    """Rebuild one family's tree from its members' files, in the background."""
    members = [row["id"] for row in store.query("family_members", family=family_id)]
    if not members:
        raise NotFoundError(f"no family with id {family_id!r}")
    key = engine.key_of_family(members)
    job = jobs.submit("rebuild", lambda: engine.rebuild(key, write=store.write_result).summary())
    return {"job_id": job.id, "status": job.status, "family": family_id}


def _known(model_id: str, engine: IncrementalHeritage, store: GraphStore) -> None:
    if model_id in engine.catalog:
        return
    if store.query("model", id=model_id):
        raise NotFoundError(f"model {model_id!r} is in the graph but not in the service's data directory "
                            f"({engine.data_dir}): upload it, or recluster after copying it there")
    raise NotFoundError(f"no model with id {model_id!r}")
