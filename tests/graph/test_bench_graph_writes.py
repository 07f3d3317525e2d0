"""The graph benchmark runs end to end on a tiny input (its numbers are recorded by running it, not here)."""

from bench.graph_writes import main


def test_graph_write_benchmark_runs_on_a_tiny_input(trained_zoo, store, tmp_path):
    zoo, _ = trained_zoo
    record = main(["--zoo", str(zoo), "--copies", "2", "--out", str(tmp_path / "r.json")])
    assert record["models"] == 12 and record["edges"] == 8
    assert record["seconds"]["batched"] > 0 and record["seconds"]["per_row"] > 0
    assert (tmp_path / "r.json").is_file()
