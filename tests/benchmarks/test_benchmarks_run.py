"""The baseline comparison runs end to end on a tiny zoo (its numbers are recorded by running it, not here)."""

import json

from bench.vs_baseline import main
from tests.graph.conftest import graph_settings, store  # noqa: F401  (the graph tests' fixtures: a wiped Neo4j)


def test_vs_baseline_runs_on_a_tiny_zoo(trained_zoo, tmp_path):
    zoo, truth = trained_zoo
    truth_path = tmp_path / "truth.json"
    truth_path.write_text(json.dumps(truth))
    record = main([str(zoo), str(truth_path), "--mode", "ft", "--out", str(tmp_path / "r.json")])
    assert set(record["results"]) == {"heritage", "published_recipe"}
    for row in record["results"].values():
        assert row["wall_s"] > 0 and row["peak_rss_mib"] > 0 and 0 <= row["edge_accuracy"] <= 1
    assert record["results"]["heritage"]["family_ari"] == 1.0


def test_scaling_runs_on_a_tiny_input(tmp_path):
    from bench.scaling import main as scaling

    record = scaling(["--workdir", str(tmp_path / "w"), "--models", "3", "6", "--children", "1", "--widths", "8",
                      "16", "--width-models", "3", "--out", str(tmp_path / "s.json")])
    assert [r["models"] for r in record["by_models"]] == [3, 6]
    assert [r["width"] for r in record["by_width"]] == [8, 16]
    assert set(record["exponent_vs_models"]) == {"load", "distance", "clustering", "tree", "peak_rss"}
    assert all(r["load_fraction_of_plain_read"] > 0 for r in record["by_width"])
    assert (tmp_path / "s.json").is_file()


def test_api_latency_runs_on_a_tiny_graph(trained_zoo, store, graph_settings, monkeypatch, tmp_path):  # noqa: F811
    """The API-versus-driver benchmark end to end (real ``heritage serve``, real Neo4j); no timing asserted."""
    from bench.api_latency import ENDPOINTS
    from bench.api_latency import main as api_latency

    monkeypatch.setenv("NEO4J_URI", graph_settings.uri)
    monkeypatch.setenv("NEO4J_PASSWORD", graph_settings.password)
    zoo, truth = trained_zoo
    out = tmp_path / "api.json"
    record = api_latency(["--zoo", str(zoo), "--copies", "2", "--samples", "4", "--warmup", "1", "--out", str(out)])
    assert (record["models"], record["samples"]) == (2 * len(truth["models"]), 4)
    for run in (record, record["httpx_client"], record["without_hot_reads"]):  # the lean client, httpx, no HotReads
        assert set(run["endpoints"]) == set(ENDPOINTS)
        for row in run["endpoints"].values():
            assert row["api_ms"]["p50"] > 0 and row["driver_ms"]["p50"] > 0 and row["ratio_of_medians"] > 0
        assert run["overall"]["http_floor_ms"]["p50"] > 0 and run["overall"]["worst_endpoint_ratio"] > 0
    assert "client_cost_ms" in record["httpx_client"]
    assert json.loads(out.read_text())["endpoints"].keys() == record["endpoints"].keys()
