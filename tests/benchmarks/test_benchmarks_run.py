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


def test_scaling_runs_on_a_tiny_input(tmp_path):
    from bench.scaling import main as scaling

    record = scaling(["--workdir", str(tmp_path / "w"), "--models", "3", "6", "--children", "1", "--widths", "8",
                      "16", "--width-models", "3", "--out", str(tmp_path / "s.json")])
    assert [r["models"] for r in record["by_models"]] == [3, 6]
    assert [r["width"] for r in record["by_width"]] == [8, 16]
    assert set(record["exponent_vs_models"]) == {"load", "distance", "clustering", "tree", "peak_rss"}
    assert all(r["load_fraction_of_plain_read"] > 0 for r in record["by_width"])
    assert (tmp_path / "s.json").is_file()
