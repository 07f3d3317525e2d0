"""A scan never crashes on bad input: each bad model is rejected with its kind and a precise reason.

One directory holds the really trained zoo models, a second tiny zoo of another width, and every
kind of broken, unsafe or foreign file next to them; it is scanned once. The good models must come
out exactly as in a scan of a clean directory holding only them.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from heritage import Heritage, HeritageConfig, HeritageResult
from heritage.cli import main
from heritage.zoo import ZooConfig, generate_zoo

WIDE_ZOO_CONFIG = ZooConfig(families=1, children=1, depth=1, width=24, layers=2, mode="ft", seed=5)
READ_FAILED = "not a readable PyTorch checkpoint ("
TRUNCATED_HINT = "); truncated or damaged?"
BAD_SAFETENSORS = "not a valid safetensors file ("
SAFETENSORS_HINT = "); the file may be truncated or damaged"
REFUSED = "refused: the pickle needs code beyond tensors to load ("
RESAVE = "); re-save it as safetensors from a trusted environment"


class RunsCode:
    """Unpickling this runs ``func(arg)``: what a malicious checkpoint does."""

    def __init__(self, func, arg: str) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def wide_zoo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A root and its fine-tune of width 24: the same tensor names as the zoo, other shapes."""
    base = tmp_path_factory.mktemp("wide_zoo")
    return base / "models", generate_zoo(base / "models", base / "truth.json", WIDE_ZOO_CONFIG)


def _copy_good(dest: Path, trained_zoo, wide_zoo) -> dict[str, str]:
    """Copy every trained model into ``dest``; return scan id -> true family."""
    families = {}
    for prefix, (zoo_dir, truth) in (("", trained_zoo), ("wide-", wide_zoo)):
        for m in truth["models"]:
            shutil.copytree(zoo_dir / m["id"], dest / f"{prefix}{m['id']}")
            families[f"{prefix}{m['id']}"] = f"{prefix}{m['family']}"
    return families


def _children(truth: dict) -> list[str]:
    return [m["id"] for m in truth["models"] if m["parent"] is not None]


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory, trained_zoo, wide_zoo) -> tuple[Path, dict[str, str]]:
    """Only the good models."""
    base = tmp_path_factory.mktemp("clean")
    return base, _copy_good(base, trained_zoo, wide_zoo)


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory, trained_zoo, trained_zoo_tensors, wide_zoo):
    """The good models plus every bad case; returns (dir, good id -> family, bad id -> facts, markers)."""
    base = tmp_path_factory.mktemp("bad")
    markers = tmp_path_factory.mktemp("markers")
    good = _copy_good(base, trained_zoo, wide_zoo)
    zoo_dir, truth = trained_zoo
    first, second = _children(truth)[:2]
    tensors = trained_zoo_tensors[first]
    rng = np.random.default_rng(0)
    bad: dict[str, dict] = {}

    save_file(tensors, str(base / "truncated.safetensors"))
    whole = (base / "truncated.safetensors").read_bytes()
    (base / "truncated.safetensors").write_bytes(whole[: len(whole) // 2])
    bad["truncated.safetensors"] = {"kind": "corrupt"}
    (base / "random.safetensors").write_bytes(rng.bytes(4096))
    bad["random.safetensors"] = {"kind": "corrupt"}
    (base / "random.bin").write_bytes(rng.bytes(4096))
    bad["random.bin"] = {"kind": "corrupt"}
    torch.save(tensors, base / "truncated-zip.bin")
    whole = (base / "truncated-zip.bin").read_bytes()
    (base / "truncated-zip.bin").write_bytes(whole[: len(whole) // 2])
    bad["truncated-zip.bin"] = {"kind": "corrupt"}
    (base / "weights.bin").write_text("These are not the weights you are looking for.\n" * 20)
    bad["weights.bin"] = {"kind": "corrupt"}
    (base / "stack-underflow.bin").write_bytes(pickle.PROTO + b"\x02" + pickle.STOP)  # unpickler: IndexError
    bad["stack-underflow.bin"] = {"kind": "corrupt",
                                  "reason": f"{READ_FAILED}IndexError: pop from empty list{TRUNCATED_HINT}"}

    (base / "empty.safetensors").write_bytes(b"")
    bad["empty.safetensors"] = {"kind": "not_weights", "reason": "the file is empty"}
    save_file({}, str(base / "no-tensors.safetensors"))
    bad["no-tensors.safetensors"] = {"kind": "not_weights", "reason": "safetensors file holds no tensors"}
    (base / "config-only").mkdir()
    (base / "config-only" / "config.json").write_text('{"model_type": "bert"}')
    bad["config-only"] = {"kind": "not_weights",
                          "reason": "the directory holds no weight files (.safetensors, .bin, .pt, .pth)"}
    (base / "graph.onnx").write_bytes(rng.bytes(256))
    bad["graph.onnx"] = {"kind": "not_weights",
                         "reason": "ONNX graphs are not supported; export the weights as safetensors"}

    (base / "weights.pkl").write_bytes(pickle.dumps(RunsCode(os.system, f"touch {markers / 'pkl'}")))
    bad["weights.pkl"] = {"kind": "unsafe", "reason": "plain pickle files are never loaded (unpickling can run "
                          "code); save the weights as safetensors"}
    weight = tensors[next(iter(tensors))]
    torch.save({"weight": weight, "payload": RunsCode(os.system, f"touch {markers / 'system'}")}, base / "evil.bin")
    bad["evil.bin"] = {"kind": "unsafe", "names": "posix.system"}
    torch.save({"weight": weight, "payload": RunsCode(exec, f"open({str(markers / 'exec')!r}, 'w')")},
               base / "evil-exec.bin")
    bad["evil-exec.bin"] = {"kind": "unsafe", "names": "GLOBAL exec"}
    torch.save({"weight": weight, "payload": RunsCode(os.system, f"touch {markers / 'legacy'}")},
               base / "evil-legacy.pt", _use_new_zipfile_serialization=False)
    bad["evil-legacy.pt"] = {"kind": "unsafe", "names": "posix.system"}

    for model_id, value, bad_name in ((first, float("nan"), None), (second, float("inf"), "classifier.bias")):
        broken = {n: t.clone() for n, t in trained_zoo_tensors[model_id].items()}
        # NaN in a backbone matrix every model shares; Inf in the model's own head
        bad_name = bad_name or next(n for n in sorted(broken) if n.startswith("bert.encoder.") and broken[n].dim() == 2)
        broken[bad_name].view(-1)[1] = value
        folder = "nan-weights" if np.isnan(value) else "inf-weights"
        (base / folder).mkdir()
        shutil.copy(zoo_dir / model_id / "config.json", base / folder / "config.json")
        save_file(broken, str(base / folder / "model.safetensors"))
        counts = "1 NaN, 0 Inf" if np.isnan(value) else "0 NaN, 1 Inf"
        bad[folder] = {"kind": "non_finite",
                       "reason": f"tensor {bad_name!r} holds non-finite weights ({counts} in the first bad block)"}

    shutil.copytree(zoo_dir / first, base / "zz-duplicate")
    bad["zz-duplicate"] = {"kind": "duplicate", "reason": f"same bytes as model {first!r}"}
    return base, good, bad, markers


@pytest.fixture(scope="module")
def bad_scan(bad_dir) -> HeritageResult:
    return Heritage(HeritageConfig()).scan(bad_dir[0])


@pytest.fixture(scope="module")
def clean_scan(clean_dir) -> HeritageResult:
    return Heritage(HeritageConfig()).scan(clean_dir[0])


# -------------------------------------------------------------------------------------------- tests
def test_every_bad_input_is_rejected_once_with_its_kind(bad_dir, bad_scan) -> None:
    _, good, bad, _ = bad_dir
    rejected = {r.id: r for r in bad_scan.rejected}
    assert len(rejected) == len(bad_scan.rejected)
    assert {i: r.kind for i, r in rejected.items()} == {i: facts["kind"] for i, facts in bad.items()}
    assert sorted(m.id for m in bad_scan.models) == sorted(good)


def test_rejection_reasons_name_what_is_wrong(bad_dir, bad_scan) -> None:
    _, _, bad, _ = bad_dir
    reasons = {r.id: r.reason for r in bad_scan.rejected}
    for model_id, facts in bad.items():
        if "reason" in facts:
            assert reasons[model_id] == facts["reason"], model_id
    for model_id in ("random.bin", "truncated-zip.bin", "weights.bin"):
        assert reasons[model_id].startswith(READ_FAILED) and reasons[model_id].endswith(TRUNCATED_HINT), model_id
    for model_id in ("truncated.safetensors", "random.safetensors"):
        reason = reasons[model_id]
        assert reason.startswith(BAD_SAFETENSORS) and reason.endswith(SAFETENSORS_HINT), model_id
    assert "header too large" in reasons["random.safetensors"]
    for model_id in ("evil.bin", "evil-exec.bin", "evil-legacy.pt"):
        reason = reasons[model_id]
        assert reason.startswith(REFUSED) and reason.endswith(RESAVE), model_id
        assert bad[model_id]["names"] in reason, reason
        assert "Weights only load failed" not in reason  # the unpickler's complaint, not torch's boilerplate


def test_malicious_pickles_never_ran(bad_dir, bad_scan, tmp_path: Path) -> None:
    base, _, _, markers = bad_dir
    assert main(["scan", str(base), "--json", str(tmp_path / "out.json"), "--quiet"]) == 1
    assert sorted(p.name for p in markers.iterdir()) == []


def test_good_models_are_untouched_by_bad_neighbours(bad_dir, bad_scan, clean_dir, clean_scan) -> None:
    assert clean_scan.rejected == []
    assert sorted(m.id for m in clean_scan.models) == sorted(clean_dir[1])
    assert [(f.members, f.root, f.metric) for f in bad_scan.families] == [
        (f.members, f.root, f.metric) for f in clean_scan.families
    ]
    assert [(e.parent, e.child) for e in bad_scan.edges] == [(e.parent, e.child) for e in clean_scan.edges]
    for dirty, clean in zip(bad_scan.edges, clean_scan.edges):
        assert dirty.distance == pytest.approx(clean.distance, rel=1e-9)
    for dirty, clean in zip(bad_scan.models, clean_scan.models):
        assert (dirty.id, dirty.family, dirty.parent) == (clean.id, clean.family, clean.parent)
        assert dirty.kurtosis == pytest.approx(clean.kurtosis, rel=1e-9)


def test_families_follow_the_truth_and_never_mix_widths(bad_dir, bad_scan) -> None:
    _, good, _, _ = bad_dir
    found = sorted(sorted(f.members) for f in bad_scan.families)
    truth: dict[str, list[str]] = {}
    for model_id, family in good.items():
        truth.setdefault(family, []).append(model_id)
    assert found == sorted(sorted(ids) for ids in truth.values())
    for family in bad_scan.families:
        assert len({m.startswith("wide-") for m in family.members}) == 1, family.members
    assert len(bad_scan.edges) == len(good) - len(bad_scan.families)


def test_cli_exit_codes_and_json(bad_dir, bad_scan, clean_dir, tmp_path: Path) -> None:
    out = tmp_path / "bad.json"
    assert main(["scan", str(bad_dir[0]), "--json", str(out), "--quiet"]) == 1
    data = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"JSON holds {c}"))
    assert list(data) == ["models", "families", "edges", "rejected", "run"]
    assert data["rejected"] == [{"id": r.id, "reason": r.reason, "kind": r.kind} for r in bad_scan.rejected]
    assert sorted(m["id"] for m in data["models"]) == sorted(bad_dir[1])
    assert data["run"]["counts"]["rejected"] == len(bad_dir[2])

    out = tmp_path / "clean.json"
    assert main(["scan", str(clean_dir[0]), "--json", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"JSON holds {c}"))
    assert list(data) == ["models", "families", "edges", "rejected", "run"]
    assert data["rejected"] == [] and len(data["models"]) == len(clean_dir[1])

    assert main(["scan", str(tmp_path / "absent"), "--json", str(tmp_path / "x.json"), "--quiet"]) == 2


def test_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = Heritage(HeritageConfig()).scan(tmp_path / "empty")
    assert (result.models, result.families, result.edges, result.rejected) == ([], [], [], [])
    out = tmp_path / "out.json"
    assert main(["scan", str(tmp_path / "empty"), "--json", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert {k: v for k, v in data.items() if k != "run"} == {"models": [], "families": [], "edges": [], "rejected": []}
    assert data["run"]["counts"] == {"found": 0, "models": 0, "families": 0, "rejected": 0}


def test_single_model(tmp_path: Path, trained_zoo) -> None:
    zoo_dir, truth = trained_zoo
    model_id = _children(truth)[0]
    shutil.copytree(zoo_dir / model_id, tmp_path / model_id)
    result = Heritage(HeritageConfig()).scan(tmp_path)
    assert result.rejected == [] and result.edges == []
    assert [(f.members, f.root) for f in result.families] == [([model_id], model_id)]
    assert [(m.id, m.family, m.parent) for m in result.models] == [(model_id, result.families[0].id, None)]
