"""The hot read layer (api/hot_reads.py) answers exactly as FastAPI's own routes, on the real Neo4j."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.testclient import TestClient

from api.hot_reads import HotReads, _answer_for
from api.main import create_app
from api.routes.models import RELATIVES
from heritage.graph import GraphStore


def _answers(client: TestClient, urls: list[str]) -> list[tuple[int, str, bytes]]:
    out = []
    for url in urls:
        answer = client.get(url)
        out.append((answer.status_code, answer.headers["content-type"], answer.content))
    return out


def _urls(result) -> list[str]:
    """Every model's one-query reads, its path to every family root and to an unknown id, and odd
    paths: unknown ids with slashes, a "path" or "lineage" segment, percent-encoded and non-ASCII
    characters, empty ids, a trailing slash."""
    roots = [f.root for f in result.families]
    odd = ["no-such-model", "org/no-such", "a/path/b", "x/lineage/y", "sp ace", "ünï/cödé", "%2e%2e", ""]
    urls = []
    for i in [m.id for m in result.models] + odd:
        q = quote(i, safe="/")
        urls += [f"/api/models/{q}", *(f"/api/models/{q}/{r}" for r in RELATIVES), f"/api/models/{q}/lineage"]
        urls += [f"/api/models/{q}/path/{quote(r, safe='/')}" for r in roots] + [f"/api/models/{q}/path/nope"]
    return urls + ["/api/models//children", "/api/models/children", "/api/models/x/children/", "/api/models/",
                   "/api/models", "/health"]


def test_hot_reads_answer_every_model_as_the_fastapi_routes_do(scanned, store):
    hot, result = scanned
    assert any(m.cls is HotReads for m in hot.app.user_middleware)
    urls = _urls(result)
    with TestClient(create_app(store, hot_reads=False)) as reference:
        assert not reference.app.user_middleware
        expected = _answers(reference, urls)
    got = _answers(hot, urls)
    assert got == expected
    statuses = [status for status, _, _ in got]
    assert statuses.count(200) >= len(result.models) * (len(RELATIVES) + 2) and 404 in statuses
    # The layer itself answered the one-query reads (not FastAPI behind it), and left /lineage alone.
    models_id = result.models[0].id
    assert _answer_for({"path": f"/api/models/{models_id}/children"})[1] == (models_id, "children")
    assert _answer_for({"path": f"/api/models/{models_id}/lineage"}) is None
    assert _answer_for({"path": f"/api/models/{models_id}/path/b/c"})[1] == (models_id, "b/c")
    # Behind a proxy that mounts the service under a prefix (uvicorn --root-path), the same answers.
    prefixed = [f"/heritage{url}" for url in urls[:16] + urls[-6:]]
    with TestClient(create_app(store, hot_reads=False), root_path="/heritage") as reference:
        expected = _answers(reference, prefixed)
    with TestClient(create_app(store), root_path="/heritage") as mounted:
        assert _answers(mounted, prefixed) == expected
    mounted_scope = {"path": f"/heritage/api/models/{models_id}", "root_path": "/heritage"}
    assert _answer_for(mounted_scope)[1] == (models_id,)
    # Not a GET: left to FastAPI, which answers 405 for these paths.
    assert hot.post(f"/api/models/{models_id}/children").status_code == 405


def test_hot_reads_answer_503_naming_the_database_when_it_is_gone(graph_settings):
    gone = GraphStore.connect(graph_settings)
    gone.close()
    with TestClient(create_app(gone)) as client:
        for url in ["/api/models/any", "/api/models/any/path/other", *(f"/api/models/any/{r}" for r in RELATIVES)]:
            answer = client.get(url)
            assert answer.status_code == 503, answer.text
            body = answer.json()
            assert body["error"] == "GraphStoreUnavailableError" and graph_settings.uri in body["detail"]
