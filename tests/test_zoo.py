"""Tests for the trained model zoo generator (tiny zoos, a few seconds in all)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from heritage.zoo import ZooConfig, generate_zoo

TINY = {"families": 2, "children": 2, "depth": 2, "width": 16, "layers": 2}
WEIGHT_FILE = {
    "safetensors": "model.safetensors",
    "bin": "pytorch_model.bin",
    "sharded": "model.safetensors.index.json",
}


def load_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    """Load a model directory written in any of the three container formats."""
    if (model_dir / "model.safetensors").exists():
        return load_file(model_dir / "model.safetensors")
    if (model_dir / "pytorch_model.bin").exists():
        return torch.load(model_dir / "pytorch_model.bin", weights_only=True)
    index = json.loads((model_dir / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert shards == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    tensors: dict[str, torch.Tensor] = {}
    for shard in shards:
        part = load_file(model_dir / shard)
        assert all(index["weight_map"][name] == shard for name in part)
        tensors.update(part)
    assert set(tensors) == set(index["weight_map"])
    assert index["metadata"]["total_size"] == sum(t.numel() * t.element_size() for t in tensors.values())
    return tensors


def bare(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``bert.`` prefix and the head, leaving the base-model tensors."""
    return {k.removeprefix("bert."): v for k, v in tensors.items() if not k.startswith("classifier.")}


@pytest.fixture(scope="module", params=["ft", "lora"])
def zoo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp(f"zoo-{request.param}")
    calls: list[tuple[int, int]] = []
    config = ZooConfig(mode=request.param, **TINY)
    threads = torch.get_num_threads()
    truth = generate_zoo(base / "models", base / "truth.json", config, lambda *call: calls.append(call))
    assert torch.get_num_threads() == threads  # the generator restores the caller's setting
    weights = {m["id"]: load_weights(base / "models" / m["id"]) for m in truth["models"]}
    return config, base, truth, weights, calls


def test_count_forest_and_progress(zoo) -> None:
    config, base, truth, _, calls = zoo
    models = truth["models"]
    assert len(models) == 2 * (1 + 2 + 4) == 14
    assert json.loads((base / "truth.json").read_text()) == truth
    assert truth["mode"] == config.mode and truth["config"]["width"] == 16
    assert sorted(p.name for p in (base / "models").iterdir()) == sorted(m["id"] for m in models)
    by_id = {m["id"]: m for m in models}
    assert len(by_id) == 14
    roots = [m for m in models if m["parent"] is None]
    assert sorted(m["family"] for m in roots) == ["family-0", "family-1"]
    for m in models:
        if m["parent"] is None:
            assert m["depth"] == 0 and m["num_labels"] is None and not m["resized"]
            continue
        parent = by_id[m["parent"]]
        assert parent["family"] == m["family"] and parent["depth"] == m["depth"] - 1
        assert sum(c["parent"] == m["id"] for c in models) == (2 if m["depth"] < 2 else 0)
    assert calls == [(i, 14) for i in range(1, 15)]


def test_layout_and_formats(zoo) -> None:
    _, base, truth, weights, _ = zoo
    for m in truth["models"]:
        model_dir = base / "models" / m["id"]
        tensors, cfg = weights[m["id"]], json.loads((model_dir / "config.json").read_text())
        present = {name for name in WEIGHT_FILE.values() if (model_dir / name).exists()}
        assert present == {WEIGHT_FILE[m["format"]]}
        assert all(t.dtype == torch.float32 for t in tensors.values())
        assert (
            cfg["vocab_size"]
            == (18 if m["resized"] else 17)
            == tensors[("" if m["parent"] is None else "bert.") + "embeddings.pixel.weight"].shape[0]
        )
        if m["parent"] is None:
            assert not any(k.startswith(("classifier.", "bert.")) for k in tensors)
            assert "encoder.layer.1.dense.weight" in tensors and cfg["architectures"] == ["DigitBertModel"]
        else:
            assert all(k.startswith(("bert.", "classifier.")) for k in tensors)
            assert tensors["classifier.weight"].shape == (m["num_labels"], 16) == (cfg["num_labels"], 16)


def test_parent_child_differences(zoo) -> None:
    config, _, truth, weights, _ = zoo
    for m in truth["models"]:
        if m["parent"] is None:
            continue
        child, parent = bare(weights[m["id"]]), bare(weights[m["parent"]])
        assert set(child) == set(parent)
        for name, before in parent.items():
            after = child[name][: before.shape[0]]
            if name.endswith("dense.weight"):
                diff = after.double() - before.double()
                rank = int(torch.linalg.matrix_rank(diff, rtol=1e-5))
                if config.mode == "lora":
                    assert 1 <= rank <= config.lora_rank, (name, rank)
                else:
                    assert rank == config.width, (name, rank)
            elif config.mode == "lora":
                assert torch.equal(after, before), name


def test_same_seed_same_zoo(tmp_path: Path) -> None:
    config = ZooConfig(**(TINY | {"families": 1, "depth": 1}), mode="lora", resize_probability=1.0)
    first = generate_zoo(tmp_path / "a", tmp_path / "a.json", config)
    second = generate_zoo(tmp_path / "b", tmp_path / "b.json", config)
    assert first == second
    assert all(m["resized"] for m in first["models"] if m["parent"] is not None)
    for m in first["models"]:
        one, two = load_weights(tmp_path / "a" / m["id"]), load_weights(tmp_path / "b" / m["id"])
        assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="inside"):
        generate_zoo(tmp_path / "out", tmp_path / "out" / "truth.json", ZooConfig())
    with pytest.raises(ValueError, match="mode"):
        generate_zoo(tmp_path / "out", tmp_path / "truth.json", ZooConfig(mode="qlora"))
    with pytest.raises(ValueError, match="children"):
        generate_zoo(tmp_path / "out", tmp_path / "truth.json", ZooConfig(children=0))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ValueError, match="empty"):
        generate_zoo(tmp_path / "full", tmp_path / "truth.json", ZooConfig())
