"""The baseline comparison runs end to end on a tiny zoo (its numbers are recorded by running it, not here)."""

import json

from bench.vs_baseline import main


def test_vs_baseline_runs_on_a_tiny_zoo(trained_zoo, tmp_path):
    zoo, truth = trained_zoo
    truth_path = tmp_path / "truth.json"
    truth_path.write_text(json.dumps(truth))
    record = main([str(zoo), str(truth_path), "--mode", "ft", "--out", str(tmp_path / "r.json")])
    assert set(record["results"]) == {"heritage", "published_recipe"}
    for row in record["results"].values():
        assert row["wall_s"] > 0 and row["peak_rss_mib"] > 0 and 0 <= row["edge_accuracy"] <= 1
    assert record["results"]["heritage"]["family_ari"] == 1.0
