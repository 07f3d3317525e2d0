"""The command line as tools outside the project call it: zoo -> scan -> eval, JSON contract, exit codes."""

from __future__ import annotations

import json

from heritage.cli import EXIT_FAILED, EXIT_OK, main


def test_zoo_scan_eval_round_trip(tmp_path, capsys):
    zoo, truth, out = tmp_path / "zoo", tmp_path / "truth.json", tmp_path / "result.json"
    assert main(["zoo", str(zoo), "--truth", str(truth), "--families", "2", "--children", "2", "--depth", "1",
                 "--width", "16", "--layers", "2", "--seed", "5"]) == EXIT_OK
    assert len(json.loads(truth.read_text())["models"]) == 6

    assert main(["scan", str(zoo), "--json", str(out)]) == EXIT_OK
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert list(result) == ["models", "families", "edges", "rejected", "run"]
    assert {"id", "family", "kurtosis", "num_params", "sha256"} <= set(result["models"][0])
    assert {"id", "members", "root", "medoid"} <= set(result["families"][0])
    assert {"parent", "child", "distance", "confidence"} <= set(result["edges"][0])
    assert set(result["run"]["seconds"]) == {"load", "distance", "clustering", "tree"}
    assert result["run"]["params"]["metric"] == "auto"
    # The summary draws each family's tree under its root.
    assert "6 models in 2 families, 4 parent edges, 0 rejected" in printed
    for family in result["families"]:
        assert f"  {family['root']}\n" in printed
    for edge in result["edges"]:
        assert f"── {edge['child']}" in printed

    assert main(["eval", str(out), str(truth)]) == EXIT_OK
    scores = json.loads(capsys.readouterr().out)
    assert scores["family_ari"] == 1.0 and scores["true_edges"] == 4.0


def test_scan_options_reach_the_engine(trained_zoo, tmp_path):
    zoo, _ = trained_zoo
    out = tmp_path / "r.json"
    assert main(["scan", str(zoo), "--json", str(out), "--quiet", "--metric", "l2", "--clustering", "kmeans",
                 "--tree", "kurtosis", "--families", "2", "--layers", "square", "--direction", "kurtosis"]) == EXIT_OK
    params = json.loads(out.read_text())["run"]["params"]
    assert (params["metric"], params["clustering"], params["tree"], params["families"], params["layer_filter"],
            params["direction"]) == ("l2", "kmeans", "kurtosis", 2, "square", "kurtosis")
    assert {f["metric"] for f in json.loads(out.read_text())["families"]} == {"l2"}


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["scan", str(tmp_path / "missing"), "--json", str(tmp_path / "r.json")]) == EXIT_FAILED
    assert "no such directory" in capsys.readouterr().err
    zoo = tmp_path / "zoo"
    assert main(["zoo", str(zoo), "--truth", str(zoo / "truth.json")]) == EXIT_FAILED
    assert "truth" in capsys.readouterr().err
