"""The execution-time diagram runs end to end on a tiny trained zoo (its numbers are recorded by running it)."""

import json

from bench.timeline import main


def test_timeline_runs_on_a_tiny_zoo(trained_zoo, tmp_path):
    zoo, truth = trained_zoo
    truth_path = tmp_path / "truth.json"
    truth_path.write_text(json.dumps(truth))
    record = main([str(zoo), str(truth_path), "--plot", str(tmp_path / "t.png"), "--out", str(tmp_path / "t.json")])
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert record["models"] == len(truth["models"]) and record["families"] == 2
    rows = record["incremental"]["per_model"]
    assert [r["model"] for r in rows] != [] and all(r["assign"] > 0 and r["tree"] > 0 for r in rows)
    assert record["incremental"]["same_families_as_batch"] is True
    assert set(record["batch"]["seconds"]) == {"load", "distance", "clustering", "tree"}
    assert json.loads((tmp_path / "t.json").read_text())["benchmark"] == "timeline"
