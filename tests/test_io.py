"""Every checkpoint reader and container format, on tensors of really trained zoo models.

The files under test are written here from the trained tensors with safetensors / torch directly,
then read back through :func:`heritage.io.open_model`; values must round-trip exactly.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from heritage import Heritage, HeritageConfig
from heritage.exceptions import CheckpointError, CorruptCheckpointError, NotAWeightFileError
from heritage.io import ModelSource, TensorInfo, discover_models, open_model
from heritage.io.multi_file import MultiFileReader
from heritage.io.safetensors_file import SafetensorsReader
from heritage.io.torch_file import TorchPickleReader

DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


# ------------------------------------------------------------------------------------------ helpers
def _model_id(truth: dict, root: bool, skip: int = 0) -> str:
    ids = [m["id"] for m in truth["models"] if (m["parent"] is None) == root]
    return ids[skip]


@pytest.fixture(scope="module")
def child(trained_zoo, trained_zoo_tensors) -> dict[str, torch.Tensor]:
    """A fine-tuned model's tensors (``bert.*`` plus a ``classifier`` head)."""
    return trained_zoo_tensors[_model_id(trained_zoo[1], root=False)]


@pytest.fixture(scope="module")
def root(trained_zoo, trained_zoo_tensors) -> dict[str, torch.Tensor]:
    """A pre-trained root's tensors (bare base model: ``embeddings.*``, ``encoder.*``)."""
    return trained_zoo_tensors[_model_id(trained_zoo[1], root=True)]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_reads_back(reader, tensors: dict[str, torch.Tensor], dtype_name: dict[str, str] | None = None) -> None:
    """Headers, whole tensors and row slices all equal what was stored (half precision widened to float32)."""
    expected_info = {n: TensorInfo(tuple(t.shape), DTYPE_NAMES[t.dtype]) for n, t in tensors.items()}
    assert reader.info() == expected_info
    assert sorted(reader.keys()) == sorted(tensors)
    for name, tensor in tensors.items():
        want = tensor.float().numpy() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor.numpy()
        got = reader.get_tensor(name)
        assert got.dtype == want.dtype, name
        assert got.shape == want.shape, name
        np.testing.assert_array_equal(got, want, err_msg=name)
        if tensor.dim() and tensor.shape[0] > 3:
            np.testing.assert_array_equal(reader.get_rows(name, 1, 3), want[1:3], err_msg=name)
            np.testing.assert_array_equal(reader.get_rows(name, tensor.shape[0] - 1, tensor.shape[0]), want[-1:])


def _with_extras(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Trained tensors plus a 0-d float and an int64 buffer, as real checkpoints carry."""
    return {**tensors, "logit_scale": torch.tensor(2.5), "position_ids": torch.arange(64).unsqueeze(0)}


def _write_index(model_dir: Path, index_name: str, weight_map: dict[str, str]) -> Path:
    index = model_dir / index_name
    index.write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}, indent=2))
    return index


def _write_sharded(model_dir: Path, tensors: dict[str, torch.Tensor], kind: str, index: bool = True) -> list[Path]:
    """Two shards in Hugging Face naming (safetensors or .bin), with the matching index unless ``index=False``."""
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.json").write_text("{}")
    names = list(tensors)
    half = len(names) // 2
    stem, suffix = ("model", "safetensors") if kind == "safetensors" else ("pytorch_model", "bin")
    shards = [model_dir / f"{stem}-0000{k}-of-00002.{suffix}" for k in (1, 2)]
    weight_map = {}
    for shard, part in zip(shards, (names[:half], names[half:]), strict=True):
        chunk = {n: tensors[n] for n in part}
        if kind == "safetensors":
            save_file(chunk, str(shard))
        else:
            torch.save(chunk, shard)
        weight_map.update(dict.fromkeys(part, shard.name))
    if index:
        _write_index(model_dir, f"{stem}.{suffix}.index.json", weight_map)
    return shards


# ------------------------------------------------------------------------------------- safetensors
def test_safetensors_single_file(tmp_path: Path, child) -> None:
    tensors = _with_extras(child)
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path))
    with open_model(path) as reader:
        assert isinstance(reader, SafetensorsReader)
        assert reader.files() == [path]
        _assert_reads_back(reader, tensors)
        assert reader.info()["logit_scale"] == TensorInfo((), "F32")
        assert reader.info()["logit_scale"].numel == 1 and reader.info()["logit_scale"].is_float
        assert reader.get_tensor("logit_scale").item() == 2.5
        assert not reader.info()["position_ids"].is_float
        assert reader.sha256() == _sha256(path)


@pytest.mark.parametrize(("dtype", "name"), [(torch.bfloat16, "BF16"), (torch.float16, "F16")])
def test_half_precision_safetensors(tmp_path: Path, child, dtype: torch.dtype, name: str) -> None:
    stored = {n: t.to(dtype) for n, t in child.items()}
    path = tmp_path / "half.safetensors"
    save_file(stored, str(path))
    with open_model(path) as reader:
        assert {info.dtype for info in reader.info().values()} == {name}
        _assert_reads_back(reader, stored)
        # the widening is of the stored (rounded) values, not a lossless copy of the float32 originals
        changed = [n for n in child if not np.array_equal(reader.get_tensor(n), child[n].numpy())]
        assert changed


@pytest.mark.parametrize(("dtype", "name"), [(torch.float8_e4m3fn, "F8_E4M3"), (torch.float8_e5m2, "F8_E5M2")])
def test_float8_safetensors_decoded_like_torch(tmp_path: Path, dtype: torch.dtype, name: str) -> None:
    every_byte = torch.arange(256, dtype=torch.uint8).view(dtype).reshape(16, 16)
    path = tmp_path / "f8.safetensors"
    save_file({"w": every_byte, "s": every_byte[3, 5].clone()}, str(path))
    with open_model(path) as reader:
        assert reader.info()["w"] == TensorInfo((16, 16), name)
        want = every_byte.float().numpy()
        np.testing.assert_array_equal(reader.get_tensor("w"), want)  # NaN positions equal too
        np.testing.assert_array_equal(reader.get_rows("w", 5, 9), want[5:9])
        np.testing.assert_array_equal(reader.get_tensor("s"), want[3, 5])


# ------------------------------------------------------------------------------------------ pickles
@pytest.mark.parametrize(("filename", "zip_format"),
                         [("pytorch_model.bin", True), ("legacy.pt", False), ("model.pth", True), ("last.ckpt", False)])
def test_torch_pickle_round_trip(tmp_path: Path, child, filename: str, zip_format: bool) -> None:
    tensors = _with_extras(child)
    path = tmp_path / filename
    torch.save(tensors, path, _use_new_zipfile_serialization=zip_format)
    assert zipfile.is_zipfile(path) is zip_format
    with open_model(path) as reader:
        assert isinstance(reader, TorchPickleReader)
        assert reader.files() == [path]
        _assert_reads_back(reader, tensors)
        assert reader.get_tensor("logit_scale").item() == 2.5
        assert reader.sha256() == _sha256(path)


def test_torch_pickle_bf16_widened(tmp_path: Path, child) -> None:
    stored = {n: t.to(torch.bfloat16) for n, t in child.items()}
    path = tmp_path / "half.bin"
    torch.save(stored, path)
    with open_model(path) as reader:
        assert {info.dtype for info in reader.info().values()} == {"BF16"}
        _assert_reads_back(reader, stored)


@pytest.mark.parametrize("zip_format", [True, False])
def test_nested_state_dict_is_flattened(tmp_path: Path, child, zip_format: bool) -> None:
    path = tmp_path / "trainer.ckpt"
    torch.save({"state_dict": child, "epoch": 3, "optimizer": {"lr": 0.001, "name": "adam"}}, path,
               _use_new_zipfile_serialization=zip_format)
    with open_model(path) as reader:
        _assert_reads_back(reader, {f"state_dict.{n}": t for n, t in child.items()})


def test_plain_zip_state_dicts_are_read_without_torch_exactly(tmp_path: Path, child) -> None:
    """Views, shared storages, parameters and every common dtype come out as torch.load gives them."""
    from heritage.io.torch_zip import PlainZipStateDict

    matrix = next(t for t in child.values() if t.dim() == 2)
    tensors = {
        "f32": matrix, "transposed": matrix.t(), "every_other_row": matrix[::2], "tail": matrix[3:],
        "tied": matrix, "param": torch.nn.Parameter(matrix.clone()), "f64": matrix.double(),
        "f16": matrix.half(), "bf16": matrix.bfloat16(), "i64": torch.arange(7),
        "i8": torch.arange(5, dtype=torch.int8), "flags": torch.tensor([True, False]),
        "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3),
    }
    path = tmp_path / "plain.bin"
    torch.save({"model": tensors, "step": 7}, path)
    PlainZipStateDict(path)  # the fast path takes it (raises NotPlainStateDict otherwise)
    loaded = torch.load(path, weights_only=True)["model"]
    with open_model(path) as reader:
        assert isinstance(reader, TorchPickleReader)
        for name, tensor in loaded.items():
            want = tensor.detach().float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor.detach()
            got = reader.get_tensor(f"model.{name}")
            assert got.dtype == want.numpy().dtype and got.shape == tuple(tensor.shape), name
            np.testing.assert_array_equal(got, want.numpy(), err_msg=name)
            if tensor.dim() and tensor.shape[0] > 3:
                np.testing.assert_array_equal(reader.get_rows(f"model.{name}", 1, 3), want.numpy()[1:3])


def test_pickle_with_other_objects_falls_back_to_torch(tmp_path: Path, child) -> None:
    from heritage.io.torch_zip import NotPlainStateDict, PlainZipStateDict

    path = tmp_path / "sized.pt"
    torch.save({"weights": child, "shape": torch.Size([2, 3])}, path)
    with pytest.raises(NotPlainStateDict):
        PlainZipStateDict(path)
    with open_model(path) as reader:  # torch.load(weights_only=True) accepts torch.Size
        _assert_reads_back(reader, {f"weights.{n}": t for n, t in child.items()})


def test_reading_safetensors_and_plain_pickles_never_imports_torch(trained_zoo, tmp_path: Path, child) -> None:
    torch.save(child, tmp_path / "pytorch_model.bin")
    code = ("import sys; from heritage import Heritage; from heritage.io import open_model; "
            f"r = Heritage().scan({str(trained_zoo[0])!r}); assert r.models and not r.rejected; "
            f"open_model({str(tmp_path / 'pytorch_model.bin')!r}).get_tensor({next(iter(child))!r}); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_pickle_without_tensors_is_not_weights(tmp_path: Path) -> None:
    path = tmp_path / "stats.pt"
    torch.save({"epoch": 3, "loss": [0.5, 0.25]}, path)
    with pytest.raises(NotAWeightFileError) as info:
        open_model(path)
    assert info.value.reason == "the checkpoint holds no tensors"
    assert info.value.path == str(path)


# --------------------------------------------------------------------------- Hugging Face directories
@pytest.mark.parametrize("kind", ["safetensors", "bin"])
def test_sharded_with_index(tmp_path: Path, child, kind: str) -> None:
    model_dir = tmp_path / "sharded"
    shards = _write_sharded(model_dir, child, kind)
    with open_model(model_dir) as reader:
        assert isinstance(reader, MultiFileReader)
        assert reader.files() == shards
        _assert_reads_back(reader, child)
        expected = hashlib.sha256()
        for shard in shards:
            expected.update(shard.name.encode() + b"\0" + shard.read_bytes())
        assert reader.sha256() == expected.hexdigest()
    assert discover_models(model_dir) == [ModelSource("sharded", model_dir)]


def test_shards_without_index_are_joined(tmp_path: Path, child) -> None:
    model_dir = tmp_path / "no-index"
    shards = _write_sharded(model_dir, child, "safetensors", index=False)
    with open_model(model_dir) as reader:
        assert reader.files() == shards
        _assert_reads_back(reader, child)


def test_dir_with_both_formats_prefers_safetensors(tmp_path: Path, child) -> None:
    model_dir = tmp_path / "both"
    model_dir.mkdir()
    save_file(child, str(model_dir / "model.safetensors"))
    torch.save({n: t * 2 for n, t in child.items()}, model_dir / "pytorch_model.bin")
    with open_model(model_dir) as reader:
        assert isinstance(reader, SafetensorsReader)
        assert reader.files() == [model_dir / "model.safetensors"]
        _assert_reads_back(reader, child)


def test_index_naming_a_missing_shard(tmp_path: Path, child) -> None:
    model_dir = tmp_path / "missing-shard"
    shards = _write_sharded(model_dir, child, "safetensors")
    shards[1].unlink()
    with pytest.raises(CheckpointError) as info:
        open_model(model_dir)
    assert isinstance(info.value, CorruptCheckpointError)
    assert info.value.path == str(model_dir / "model.safetensors.index.json")
    assert info.value.reason == "the index names shard 'model-00002-of-00002.safetensors', which is missing"


@pytest.mark.parametrize("kind", ["safetensors", "bin"])
def test_index_listing_a_tensor_no_shard_holds(tmp_path: Path, child, kind: str) -> None:
    model_dir = tmp_path / "ghost"
    shards = _write_sharded(model_dir, child, kind)
    index = next(model_dir.glob("*.index.json"))
    weight_map = json.loads(index.read_text())["weight_map"]
    _write_index(model_dir, index.name, {**weight_map, "bert.ghost.weight": shards[0].name})
    with pytest.raises(CorruptCheckpointError) as info:
        open_model(model_dir)
    assert info.value.path == str(index)
    assert info.value.reason == "1 tensors listed in the index are in no shard (first: 'bert.ghost.weight')"


def test_tensor_in_two_shards_is_corrupt(tmp_path: Path, child) -> None:
    model_dir = tmp_path / "overlap"
    shards = _write_sharded(model_dir, child, "safetensors", index=False)
    name = next(iter(child))
    save_file({name: child[name], "extra": torch.zeros(2)}, str(shards[1]))
    with pytest.raises(CorruptCheckpointError) as info:
        open_model(model_dir)
    assert f"tensor {name!r} also appears in" in info.value.reason


def test_invalid_index_json_is_corrupt(tmp_path: Path, child) -> None:
    model_dir = tmp_path / "bad-index"
    _write_sharded(model_dir, child, "safetensors")
    (model_dir / "model.safetensors.index.json").write_text('{"weight_map": ["not", "a", "map"]}')
    with pytest.raises(CorruptCheckpointError, match="weight_map must map tensor names to shard file names"):
        open_model(model_dir)


# --------------------------------------------------------------------------------------- discovery
def test_discover_nested_layout(tmp_path: Path, child) -> None:
    hf = tmp_path / "org" / "bert-ft"
    hf.mkdir(parents=True)
    (hf / "config.json").write_text("{}")
    save_file(child, str(hf / "model.safetensors"))
    (hf / "checkpoint-10").mkdir()  # inside a model directory: not a model of its own
    save_file(child, str(hf / "checkpoint-10" / "model.safetensors"))
    loose = tmp_path / "loose"
    loose.mkdir()
    for name in ("a.pt", "b.BIN", ".hidden.pt"):
        torch.save(child, loose / name)
    (loose / "old.pkl").write_bytes(b"never opened")
    (loose / "notes.txt").write_text("not a model")
    hidden = tmp_path / ".cache" / "x"
    hidden.mkdir(parents=True)
    save_file(child, str(hidden / "model.safetensors"))
    (tmp_path / "README.md").write_text("zoo")

    found = discover_models(tmp_path)
    assert [s.id for s in found] == ["loose/a.pt", "loose/b.BIN", "loose/old.pkl", "org/bert-ft"]
    assert {s.id: s.path for s in found}["org/bert-ft"] == hf
    assert {s.id: s.path for s in found}["loose/a.pt"] == loose / "a.pt"


def test_discover_root_that_is_one_model(tmp_path: Path, child) -> None:
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    save_file(child, str(model_dir / "model.safetensors"))
    assert discover_models(model_dir) == [ModelSource("my-model", model_dir)]
    assert discover_models(model_dir / "model.safetensors") == [
        ModelSource("model.safetensors", model_dir / "model.safetensors")
    ]
    with pytest.raises(NotAWeightFileError, match="no such file or directory"):
        discover_models(tmp_path / "absent")


# ------------------------------------------------------------------------------ mixed-format scan
@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory: pytest.TempPathFactory, trained_zoo, trained_zoo_tensors) -> tuple[Path, float]:
    """One trained root saved in six containers, plus the other family's root; and the bf16 copy's L2 distance."""
    truth = trained_zoo[1]
    a = trained_zoo_tensors[_model_id(truth, root=True)]
    b = trained_zoo_tensors[_model_id(truth, root=True, skip=1)]
    base = tmp_path_factory.mktemp("mixed")
    for name in ("a-safetensors", "a-bin", "a-bf16", "b"):
        (base / name).mkdir()
        (base / name / "config.json").write_text("{}")
    save_file(a, str(base / "a-safetensors" / "model.safetensors"))
    torch.save(a, base / "a-bin" / "pytorch_model.bin")
    torch.save(a, base / "a-legacy.pt", _use_new_zipfile_serialization=False)
    _write_sharded(base / "a-sharded", a, "safetensors")
    _write_sharded(base / "a-sharded-bin", a, "bin")
    save_file({n: t.to(torch.bfloat16) for n, t in a.items()}, str(base / "a-bf16" / "model.safetensors"))
    save_file(b, str(base / "b" / "model.safetensors"))
    # models are compared on their 2-D matrices; the bf16 copy differs from the others by its rounding only
    bf16_sq = sum(float(((t.double() - t.to(torch.bfloat16).double()) ** 2).sum()) for t in a.values() if t.dim() == 2)
    return base, bf16_sq**0.5


A_COPIES = {"a-safetensors": "safetensors", "a-bin": "pytorch", "a-legacy.pt": "pytorch",
            "a-sharded": "sharded-safetensors", "a-sharded-bin": "sharded-pytorch", "a-bf16": "safetensors"}


@pytest.mark.parametrize("metric", ["l2", "auto"])
def test_scan_of_mixed_containers(mixed_dir, metric: str) -> None:
    base, bf16_distance = mixed_dir
    assert bf16_distance > 1e-4  # the bf16 copy really differs
    result = Heritage(HeritageConfig(metric=metric)).scan(base)
    assert result.rejected == []
    assert {m.id: m.format for m in result.models} == {**A_COPIES, "b": "safetensors"}
    assert sorted(sorted(f.members) for f in result.families) == [sorted(A_COPIES), ["b"]]
    family = next(f for f in result.families if "b" not in f.members)
    edges = [e for e in result.edges if e.child in A_COPIES]
    assert len(edges) == len(A_COPIES) - 1
    if metric == "l2":
        assert family.metric == "l2"
        n = len(A_COPIES)
        assert family.stats["max_distance"] == pytest.approx(bf16_distance, rel=1e-6)
        # of the n (n - 1) ordered pairs, 2 (n - 1) involve the bf16 copy; all others are exactly the same weights
        assert family.stats["mean_distance"] == pytest.approx(bf16_distance * 2 / n, rel=1e-6)
        for e in edges:
            want = bf16_distance if "a-bf16" in (e.parent, e.child) else 0.0
            assert e.distance == pytest.approx(want, rel=1e-6, abs=1e-9), e
    else:
        assert all(e.distance <= bf16_distance * (1 + 1e-6) for e in edges)


def test_scan_copy_of_the_same_bytes_is_a_duplicate(mixed_dir, tmp_path: Path) -> None:
    base, _ = mixed_dir
    shutil.copytree(base / "a-sharded", tmp_path / "a-sharded")
    shutil.copytree(base / "a-sharded", tmp_path / "z-again")
    result = Heritage(HeritageConfig()).scan(tmp_path)
    assert [m.id for m in result.models] == ["a-sharded"]
    assert [(r.id, r.kind, r.reason) for r in result.rejected] == [
        ("z-again", "duplicate", "same bytes as model 'a-sharded'")
    ]


def test_plain_zip_with_a_short_storage_record_goes_to_torch(tmp_path: Path, child) -> None:
    """A record shorter than its storage is not resolved here; the file goes to torch.load, as before."""
    from heritage.io.torch_zip import NotPlainStateDict, PlainZipStateDict

    path = tmp_path / "short.bin"
    torch.save(child, path)
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    record = next(name for name in members if "/data/" in name and len(members[name]) > 8)
    members[record] = members[record][:8]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(NotPlainStateDict, match="shorter than its storage"):
        PlainZipStateDict(path)
