"""Shared fixtures. Each is session-scoped and named for what it holds, so other test files can add theirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from heritage.zoo import ZooConfig, generate_zoo

TRAINED_ZOO_CONFIG = ZooConfig(families=2, children=2, depth=1, width=16, layers=2, mode="ft", seed=3)


def _load_model_dir(model_dir: Path) -> dict[str, torch.Tensor]:
    """A zoo model's tensors, read with safetensors / torch directly (not with the readers under test)."""
    tensors: dict[str, torch.Tensor] = {}
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
            tensors.update(load_file(model_dir / shard))
    elif (model_dir / "model.safetensors").is_file():
        tensors.update(load_file(model_dir / "model.safetensors"))
    else:
        tensors.update(torch.load(model_dir / "pytorch_model.bin", weights_only=True))
    return tensors


@pytest.fixture(scope="session")
def trained_zoo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Six really trained models (2 families: a root and 2 fine-tunes each): ``(zoo_dir, truth)``.

    Treat the directory as read-only: copy models out of it before changing anything.
    """
    base = tmp_path_factory.mktemp("trained_zoo")
    truth = generate_zoo(base / "models", base / "truth.json", TRAINED_ZOO_CONFIG)
    return base / "models", truth


@pytest.fixture(scope="session")
def trained_zoo_tensors(trained_zoo: tuple[Path, dict]) -> dict[str, dict[str, torch.Tensor]]:
    """Model id -> its trained float32 tensors (name as stored -> tensor), for every model of ``trained_zoo``."""
    zoo_dir, truth = trained_zoo
    return {m["id"]: _load_model_dir(zoo_dir / m["id"]) for m in truth["models"]}


# Genealogy zoos for the engine's accuracy tests: fixed seeds, never used while developing the method.
GENEALOGY_ZOO_CONFIGS = {
    "ft": ZooConfig(families=3, children=2, depth=2, width=32, layers=2, mode="ft", seed=11),
    "lora": ZooConfig(families=3, children=2, depth=2, width=32, layers=2, mode="lora", seed=12),
}


@pytest.fixture(scope="session", params=sorted(GENEALOGY_ZOO_CONFIGS))
def genealogy_zoo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """A 21-model zoo (3 families, depth 2) per fine-tuning mode: ``(mode, zoo_dir, truth_path)``."""
    base = tmp_path_factory.mktemp(f"genealogy_{request.param}")
    generate_zoo(base / "models", base / "truth.json", GENEALOGY_ZOO_CONFIGS[request.param])
    return request.param, base / "models", base / "truth.json"
