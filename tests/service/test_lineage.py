"""Lineage endpoints with TestClient against the real Neo4j, compared with the engine result."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.main import create_app


def _ancestors(result, model_id):
    parent = {m.id: m.parent for m in result.models}
    out = []
    while parent[model_id] is not None:
        model_id = parent[model_id]
        out.append(model_id)
    return out


def test_model_and_lineage_endpoints_match_the_engine(scanned):
    client, result = scanned
    leaf = next(m for m in result.models if m.parent and _ancestors(result, m.id)[1:])
    body = client.get(f"/api/models/{leaf.id}").json()
    assert (body["id"], body["family"], body["parent"], body["num_params"]) == \
        (leaf.id, leaf.family, leaf.parent, leaf.num_params)
    assert client.get(f"/api/models/{leaf.id}/parent").json()["id"] == leaf.parent
    ancestors = _ancestors(result, leaf.id)
    assert [r["id"] for r in client.get(f"/api/models/{leaf.id}/ancestors").json()] == ancestors
    root = ancestors[-1]
    below_root = sorted(m.id for m in result.models if root in _ancestors(result, m.id))
    assert sorted(r["id"] for r in client.get(f"/api/models/{root}/descendants").json()) == below_root
    assert sorted(r["id"] for r in client.get(f"/api/models/{root}/children").json()) == \
        sorted(m.id for m in result.models if m.parent == root)
    assert client.get(f"/api/models/{root}/parent").json() is None
    lineage = client.get(f"/api/models/{leaf.id}/lineage", params={"up": 1, "down": 0}).json()
    assert [r["id"] for r in lineage["ancestors"]] == ancestors[:1] and lineage["descendants"] == []
    path = client.get(f"/api/models/{leaf.id}/path/{root}").json()
    assert path == {"ids": [leaf.id, *ancestors], "hops": len(ancestors)}


def test_listing_and_families(scanned):
    client, result = scanned
    page = client.get("/api/models", params={"limit": 5, "skip": 2}).json()
    assert [m["id"] for m in page["items"]] == sorted(m.id for m in result.models)[2:7]
    family = result.families[0]
    members = client.get("/api/models", params={"family": family.id, "limit": 1000}).json()["items"]
    assert sorted(m["id"] for m in members) == sorted(family.members)
    name_part = family.members[0][-4:]
    assert family.members[0] in [m["id"] for m in client.get("/api/models", params={"name": name_part}).json()["items"]]
    listed = client.get("/api/families").json()
    assert {f["id"] for f in listed} == {f.id for f in result.families}
    one = client.get(f"/api/families/{family.id}").json()
    assert (one["root"], one["size"], one["edges"]) == (family.root, len(family.members), len(family.members) - 1)
    genealogy = client.get(f"/api/families/{family.id}/genealogy").json()
    assert genealogy["tree"]["id"] == family.root
    edges = {(e.parent, e.child) for e in result.edges if e.child in family.members}
    assert {(e["parent"], e["child"]) for e in genealogy["edges"]} == edges

    def walk(node, parent=None):
        pairs = {(parent, node["id"])} if parent else set()
        for child in node["children"]:
            pairs |= walk(child, node["id"])
        return pairs

    assert walk(genealogy["tree"]) == edges


def test_errors_are_json_with_the_right_status(scanned, graph_settings):

    from heritage.graph import GraphStore

    client, result = scanned
    missing = client.get("/api/models/no-such-model")
    assert missing.status_code == 404 and "no-such-model" in missing.json()["detail"]
    assert client.get("/api/families/family:nope/genealogy").status_code == 404
    for relatives in ("ancestors", "descendants", "children", "parent", "lineage"):  # unknown, not just empty
        assert client.get(f"/api/models/no-such-model/{relatives}").status_code == 404
    leaf = next(m.id for m in result.models if all(e.parent != m.id for e in result.edges))
    root = next(m.id for m in result.models if m.parent is None)
    assert client.get(f"/api/models/{leaf}/children").json() == []
    assert client.get(f"/api/models/{root}/ancestors").json() == []
    assert client.get(f"/api/models/{root}/parent").json() is None
    assert client.get("/api/models", params={"limit": 0}).status_code == 422
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200
    # The database going away: /ready and reads answer 503 with the URI, /health stays up.
    gone = GraphStore.connect(graph_settings)
    gone.close()
    with TestClient(create_app(gone)) as broken:
        for url in ("/ready", "/api/families"):
            answer = broken.get(url)
            assert answer.status_code == 503, (url, answer.text)
            assert graph_settings.uri in answer.json()["detail"]
        assert broken.get("/health").status_code == 200


def test_openapi_documents_the_endpoints(scanned):
    client, _ = scanned
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/models", "/api/models/{model_id}/lineage", "/api/families/{family_id}/genealogy", "/health",
            "/ready"} <= set(paths)
