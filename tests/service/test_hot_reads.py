"""The hot read layer (api/hot_reads.py) answers exactly as FastAPI's own routes, on the real Neo4j."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.testclient import TestClient

from api.hot_reads import HotReads, _route_path
from api.main import create_app
from api.routes.models import RELATIVES
from heritage.graph import GraphStore


def _answers(client: TestClient, urls: list[str]) -> list[tuple[int, str, bytes]]:
    out = []
    for url in urls:
        answer = client.get(url)
        out.append((answer.status_code, answer.headers["content-type"], answer.content))
    return out


def test_hot_reads_answer_every_model_as_the_fastapi_routes_do(scanned, store):
    hot, result = scanned
    assert any(m.cls is HotReads for m in hot.app.user_middleware)
    ids = [m.id for m in result.models]
    # Every model and relation, plus unknown ids: empty, slashes, a "/path/" segment (FastAPI routes
    # that to /path/, so the layer must leave it alone), percent-encoded and non-ASCII characters.
    odd = ["no-such-model", "org/no-such", "a/path/b", "sp ace", "ünï/cödé", "%2e%2e"]
    urls = [f"/api/models/{quote(i, safe='/')}/{r}" for i in ids + odd for r in RELATIVES]
    urls += ["/api/models//children", "/api/models/children", "/api/models/x/children/", "/health"]
    with TestClient(create_app(store, hot_reads=False)) as reference:
        assert not reference.app.user_middleware
        expected = _answers(reference, urls)
    got = _answers(hot, urls)
    assert got == expected
    statuses = [status for status, _, _ in got]
    assert statuses.count(200) >= len(ids) * len(RELATIVES) and 404 in statuses
    # Behind a proxy that mounts the service under a prefix (uvicorn --root-path), the same answers.
    prefixed = [f"/heritage{url}" for url in urls[:8] + urls[-4:]]
    with TestClient(create_app(store, hot_reads=False), root_path="/heritage") as reference:
        expected = _answers(reference, prefixed)
    with TestClient(create_app(store), root_path="/heritage") as mounted:
        assert _answers(mounted, prefixed) == expected
    mounted_scope = {"path": "/heritage/api/models/a/children", "root_path": "/heritage"}
    assert _route_path(mounted_scope) == "/api/models/a/children"  # so the layer, not FastAPI, answered them
    # Not a GET: left to FastAPI, which answers 405 for these paths.
    assert hot.post(f"/api/models/{ids[0]}/children").status_code == 405


def test_hot_reads_answer_503_naming_the_database_when_it_is_gone(graph_settings):
    gone = GraphStore.connect(graph_settings)
    gone.close()
    with TestClient(create_app(gone)) as client:
        for relation in RELATIVES:
            answer = client.get(f"/api/models/any/{relation}")
            assert answer.status_code == 503, answer.text
            body = answer.json()
            assert body["error"] == "GraphStoreUnavailableError" and graph_settings.uri in body["detail"]
