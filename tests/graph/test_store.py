"""The graph store on a real Neo4j: every named query against the engine result, idempotent and safe writes."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import shutil

import pytest

from heritage import Heritage, HeritageConfig
from heritage.cli import EXIT_GRAPH, EXIT_OK, main
from heritage.exceptions import ConfigurationError, GraphStoreUnavailableError
from heritage.graph import GraphStore


def _tree(result):
    parent = {m.id: m.parent for m in result.models}
    children: dict[str, list[str]] = {}
    for child, p in parent.items():
        if p is not None:
            children.setdefault(p, []).append(child)
    return parent, children


def _ancestors(parent, model_id):
    out = []
    while parent[model_id] is not None:
        model_id = parent[model_id]
        out.append(model_id)
    return out


def test_every_named_query_returns_what_the_engine_found(store, scanned_zoo):
    _, _, result = scanned_zoo
    store.write_result(result)
    parent, children = _tree(result)
    for model in result.models:
        mid = model.id
        got_parent = store.query("parent", id=mid)
        assert [r["id"] for r in got_parent] == ([parent[mid]] if parent[mid] else [])
        if parent[mid]:
            edge = next(e for e in result.edges if e.child == mid)
            assert got_parent[0]["confidence"] == pytest.approx(edge.confidence)
            assert got_parent[0]["distance"] == pytest.approx(edge.distance)
        assert [r["id"] for r in store.query("children", id=mid)] == sorted(children.get(mid, []))
        ancestors = _ancestors(parent, mid)
        assert [(r["id"], r["depth"]) for r in store.query("ancestors", id=mid)] == \
            [(a, d) for d, a in enumerate(ancestors, 1)]
        descendants = sorted((len(_ancestors(parent, m)) - len(ancestors), m) for m in parent
                             if mid in _ancestors(parent, m))
        assert [(r["depth"], r["id"]) for r in store.query("descendants", id=mid)] == descendants
        assert [r["id"] for r in store.query("root", id=mid)] == [(ancestors or [mid])[-1]]
        siblings = sorted(c for c in children.get(parent[mid], []) if c != mid) if parent[mid] else []
        assert [r["id"] for r in store.query("siblings", id=mid)] == siblings
    for family in result.families:
        rows = store.query("family_tree", family=family.id)
        assert sorted((r["child"], r["parent"]) for r in rows) == sorted((m, parent[m]) for m in family.members)
        assert [r["id"] for r in store.query("family_members", family=family.id)] == sorted(family.members)
        for a, b in itertools.combinations(family.members[:5], 2):
            line_a, line_b = [a, *_ancestors(parent, a)], [b, *_ancestors(parent, b)]
            lca = next(x for x in line_a if x in line_b)
            assert [r["id"] for r in store.query("lca", a=a, b=b)] == [lca]
            expected = line_a[:line_a.index(lca) + 1] + list(reversed(line_b[:line_b.index(lca)]))
            assert store.query("path", a=a, b=b) == [{"ids": expected, "hops": len(expected) - 1}]
    families = store.query("families")
    assert {(f["id"], f["size"], f["root"], f["medoid"]) for f in families} == \
        {(f.id, len(f.members), f.root, f.medoid) for f in result.families}
    stats = store.stats()
    assert stats["models"] == len(result.models) and stats["edges"] == len(result.edges)
    assert stats["families"] == len(result.families) and stats["valid"] is True
    assert stats["mean_confidence"] == pytest.approx(sum(e.confidence for e in result.edges) / len(result.edges))
    sizes: dict[int, int] = {}
    for f in result.families:
        sizes[len(f.members)] = sizes.get(len(f.members), 0) + 1
    assert stats["size_distribution"] == [[s, n] for s, n in sorted(sizes.items())]


def _snapshot(store):
    """Every node and relationship with its properties, run ids and timestamps aside."""
    drop = {"run_id", "created_at"}
    nodes = store.driver.execute_query(
        "MATCH (n) WHERE NOT n:Run RETURN labels(n) AS labels, properties(n) AS props").records
    rels = store.driver.execute_query(
        "MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS type, b.id AS b, properties(r) AS props").records
    return (sorted(json.dumps([r["labels"], {k: v for k, v in r["props"].items() if k not in drop}], sort_keys=True)
                   for r in nodes),
            sorted(json.dumps([r["a"], r["type"], r["b"], {k: v for k, v in r["props"].items() if k not in drop}],
                              sort_keys=True) for r in rels))


def test_writing_the_same_result_again_changes_nothing(store, scanned_zoo):
    _, _, result = scanned_zoo
    store.write_result(result)
    before = _snapshot(store)
    report = store.write_result(result)
    assert _snapshot(store) == before
    assert report.families == len(result.families)
    runs = store.driver.execute_query("MATCH (r:Run) RETURN r.params AS params, r.metrics AS metrics").records
    assert len(runs) == 2
    assert json.loads(runs[0]["params"])["metric"] == "auto"
    assert set(json.loads(runs[0]["metrics"])["seconds"]) == {"load", "distance", "clustering", "tree"}


def _family_edges(store, family_id):
    return sorted(store.driver.execute_query(
        "MATCH (p:Model)-[e:PARENT_OF]->(c:Model)-[:BELONGS_TO]->(:Family {id: $f}) "
        "RETURN p.id AS p, c.id AS c, e.run_id AS run", f=family_id).records, key=lambda r: (r["p"], r["c"]))


def test_a_new_run_replaces_the_edges_of_the_families_it_recomputed_only(store, scanned_zoo, tmp_path):
    _, zoo, result = scanned_zoo
    first = store.write_result(result)
    target = result.families[0]
    subset = tmp_path / "subset"
    for member in target.members:
        shutil.copytree(zoo / member, subset / member)
    redo = Heritage(HeritageConfig(tree="kurtosis", direction="kurtosis")).scan(subset)
    assert [f.members for f in redo.families] == [target.members]
    second = store.write_result(redo)
    new_edges = {(e.parent, e.child) for e in redo.edges}
    got = _family_edges(store, redo.families[0].id)
    assert {(r["p"], r["c"]) for r in got} == new_edges and {r["run"] for r in got} == {second.run_id}
    for other in result.families[1:]:
        rows = _family_edges(store, other.id)
        assert {(r["p"], r["c"]) for r in rows} == {(e.parent, e.child) for e in result.edges
                                                    if e.child in other.members}
        assert {r["run"] for r in rows} == {first.run_id}
    assert store.stats()["valid"] is True


def test_database_going_away_mid_write_keeps_committed_families_and_leaves_the_rest_unchanged(
        store, scanned_zoo, proxy, graph_settings):
    _, _, result = scanned_zoo
    # An earlier state of the same families: same edges, other distances.
    older = copy.deepcopy(result)
    for edge in older.edges:
        edge.distance *= 2.0
    store.write_result(older)
    before = {f.id: _edge_distances(store, f.id) for f in older.families}

    through_proxy = dataclasses.replace(graph_settings, uri=f"bolt://127.0.0.1:{proxy.port}", retry_seconds=2.0)
    written = []
    with GraphStore.connect(through_proxy) as flaky, pytest.raises(GraphStoreUnavailableError) as error:
        flaky.write_result(result, on_family_written=lambda fid: (written.append(fid), proxy.cut()))
    message = str(error.value)
    assert written, message
    assert through_proxy.uri in message and f"{len(written)} of {len(result.families)} families were written" in message
    for family in result.families:
        if family.id in written:  # committed before the cut: the new state, whole
            assert _edge_distances(store, family.id) == sorted(
                (e.parent, e.child, e.distance) for e in result.edges if e.child in family.members)
        else:  # the family being written and the rest: exactly as before
            assert _edge_distances(store, family.id) == before[family.id]
    assert store.driver.execute_query("MATCH (r:Run) RETURN count(r) AS n").records[0]["n"] == 1


def _edge_distances(store, family_id):
    return sorted((r["p"], r["c"], r["d"]) for r in store.driver.execute_query(
        "MATCH (p:Model)-[e:PARENT_OF]->(c:Model)-[:BELONGS_TO]->(:Family {id: $f}) "
        "RETURN p.id AS p, c.id AS c, e.distance AS d", f=family_id).records)


def test_unreachable_server_and_wrong_credentials_give_one_clear_line(graph_settings, monkeypatch, capsys):
    closed = dataclasses.replace(graph_settings, uri="bolt://127.0.0.1:1")
    with pytest.raises(GraphStoreUnavailableError, match="cannot reach Neo4j at bolt://127.0.0.1:1"):
        GraphStore.connect(closed)
    wrong = dataclasses.replace(graph_settings, password="not-the-password")
    with pytest.raises(GraphStoreUnavailableError, match="refused the credentials"):
        GraphStore.connect(wrong)
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")
    monkeypatch.setenv("NEO4J_PASSWORD", "whatever")
    assert main(["db", "stats"]) == EXIT_GRAPH
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bolt://127.0.0.1:1" in err


def test_schema_is_idempotent_and_queries_are_checked(store):
    store.init_schema()
    names = {r["name"] for r in store.driver.execute_query("SHOW CONSTRAINTS YIELD name").records}
    assert {"model_id", "family_id", "run_id"} <= names
    indexes = {r["name"] for r in store.driver.execute_query("SHOW INDEXES YIELD name").records}
    assert "model_sha256" in indexes
    with pytest.raises(ConfigurationError, match="unknown query"):
        store.query("drop_everything")
    with pytest.raises(ConfigurationError, match="needs parameter"):
        store.query("parent")
    # Parameters are data, never Cypher.
    assert store.query("parent", id="x' OR 1=1 //") == []


def test_cli_scan_to_neo4j_then_query(store, scanned_zoo, graph_settings, monkeypatch, tmp_path, capsys):
    _, zoo, result = scanned_zoo
    monkeypatch.setenv("NEO4J_URI", graph_settings.uri)
    monkeypatch.setenv("NEO4J_PASSWORD", graph_settings.password)
    assert main(["scan", str(zoo), "--json", str(tmp_path / "r.json"), "--quiet", "--neo4j"]) == EXIT_OK
    leaf = next(m for m in result.models if m.parent is not None)
    capsys.readouterr()
    assert main(["query", "root", "--param", f"id={leaf.id}"]) == EXIT_OK
    root = next(f.root for f in result.families if f.id == leaf.family)
    assert json.loads(capsys.readouterr().out)[0]["id"] == root
    assert main(["db", "stats"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["valid"] is True


def test_rejected_inputs_are_flagged_and_keep_earlier_data(store, scanned_zoo, tmp_path):
    _, zoo, result = scanned_zoo
    store.write_result(result)
    broken = tmp_path / "scan"
    victim = result.models[0].id
    for m in result.models:
        shutil.copytree(zoo / m.id, broken / m.id)
    for f in (broken / victim).iterdir():
        if f.suffix in (".safetensors", ".bin"):
            f.write_bytes(f.read_bytes()[:100])
    second = Heritage().scan(broken)
    assert [r.id for r in second.rejected] == [victim]
    store.write_result(second)
    row = store.driver.execute_query("MATCH (m:Model {id: $id}) RETURN m.status AS status, m.reason AS reason, "
                                     "EXISTS { (m)-[:BELONGS_TO]->() } AS placed", id=victim).records[0]
    assert row["status"] == "rejected" and row["reason"] and row["placed"]
