"""Synthetic model zoo with a known genealogy, for testing and scoring heritage recovery.

The project recovers which model was fine-tuned from which using the weights alone.  To measure
that, this module *really trains* families of small networks with torch and records the true
family tree separately:

* every family starts from an independent random init that is pre-trained on 10-way digit
  classification (scikit-learn's 8x8 digits, which ships with the package) and saved as a bare
  base model, like a Hugging Face ``BertModel``;
* each further model is fine-tuned from its parent on a randomly drawn downstream task (binary,
  3-, 7- or 10-way; see :mod:`heritage.zoo_tasks`), either fully (``mode="ft"``) or through LoRA
  adapters that are merged into the weights afterwards (``mode="lora"``), and saved like a
  ``BertForSequenceClassification`` (``bert.`` prefix plus a ``classifier`` head);
* some children of a root resize the pixel embedding by one row, like ``resize_token_embeddings``.

Models are written in Hugging Face layout (``config.json`` plus ``model.safetensors``,
``pytorch_model.bin`` or sharded safetensors with an index) into directories with random names;
the truth lives in a separate JSON file.  Everything is deterministic for a given seed.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from heritage.zoo_tasks import PIXEL_VALUES, SEQUENCE_LENGTH, Task, draw_task, pretraining_task, subsample

__all__ = ["DigitBertModel", "DigitNet", "ZooConfig", "generate_zoo"]

logger = logging.getLogger(__name__)

MODES = ("ft", "lora")
INIT_STD = 0.02
BATCH_SIZE = 128
TRAIN_FRACTION = 0.7
ROOT_STEPS, ROOT_LR = 250, 1e-2
CHILD_STEPS = (60, 150)
CHILD_LR = {"ft": (1e-3, 5e-3), "lora": (1e-2, 3e-2)}
FORMATS = ("safetensors", "bin", "sharded")
FORMAT_WEIGHTS = (0.6, 0.2, 0.2)
_TAG_NAMES, _TAG_ROOT, _TAG_NODE = 1, 2, 3  # keep the seeded random streams apart


@dataclass(frozen=True)
class ZooConfig:
    """What :func:`generate_zoo` trains; the same config and seed always give the same zoo.

    Attributes
    ----------
    families : int
        Number of independent trees, each from its own random init.
    children : int
        Children per node: the root has ``children`` children, each of those ``children``, ...
    depth : int
        Generations below the root (2: root, children, grandchildren).
    mode : str
        ``"ft"`` (all parameters fine-tuned) or ``"lora"`` (rank-``lora_rank`` adapters on the
        encoder dense weights plus the head, merged into the weights before saving).
    seed : int
        Seed of every random choice (inits, tasks, data subsets, names, formats).
    width : int
        Hidden size.
    layers : int
        Number of encoder layers.
    lora_rank : int
        Rank of the LoRA adapters (``mode="lora"`` only).
    resize_probability : float
        Chance that a child of a root appends one row to the pixel embedding (17 -> 18 rows);
        its descendants inherit the row.
    """

    families: int = 4
    children: int = 3
    depth: int = 2
    mode: str = "ft"
    seed: int = 0
    width: int = 64
    layers: int = 3
    lora_rank: int = 4
    resize_probability: float = 0.25


# ----------------------------------------------------------------------------------------- model
class DigitEmbeddings(nn.Module):
    """``LayerNorm(mean_p pixel[x_p] * position[p])`` over the 64 pixel tokens of an image."""

    def __init__(self, vocab_size: int, width: int) -> None:
        super().__init__()
        self.pixel = nn.Embedding(vocab_size, width)
        self.position = nn.Embedding(SEQUENCE_LENGTH, width)
        self.LayerNorm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Same as the gather-and-mean, but as a matmul over one-hot tokens (about twice as fast).
        weight = self.position.weight
        onehot = weight.new_zeros(x.shape[0], self.pixel.num_embeddings, x.shape[1])
        onehot.scatter_(1, x.unsqueeze(1), 1.0)  # (B, V, 64)
        per_value = onehot @ weight  # (B, V, W): sum of position vectors of the pixels holding value v
        return self.LayerNorm((per_value * self.pixel.weight).sum(1) / SEQUENCE_LENGTH)


class DigitLayer(nn.Module):
    """``h = LayerNorm(h + gelu(dense(h)))``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.LayerNorm = nn.LayerNorm(width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(h + F.gelu(self.dense(h)))


class DigitEncoder(nn.Module):
    """A stack of :class:`DigitLayer` under the attribute ``layer``, as in BERT."""

    def __init__(self, width: int, layers: int) -> None:
        super().__init__()
        self.layer = nn.ModuleList(DigitLayer(width) for _ in range(layers))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for block in self.layer:
            h = block(h)
        return h


class DigitBertModel(nn.Module):
    """The bare base model (``embeddings.*``, ``encoder.*``), like a Hugging Face ``BertModel``."""

    def __init__(self, vocab_size: int, width: int, layers: int) -> None:
        super().__init__()
        self.embeddings = DigitEmbeddings(vocab_size, width)
        self.encoder = DigitEncoder(width, layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embeddings(x))


class DigitNet(nn.Module):
    """Base model plus classification head: ``bert.*`` and ``classifier.*``."""

    def __init__(self, bert: DigitBertModel, classifier: nn.Linear) -> None:
        super().__init__()
        self.bert = bert
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.bert(x))


def _init_weights(module: nn.Module, gen: torch.Generator) -> None:
    """BERT-style init: normal(0, 0.02) weights, zero biases, LayerNorm 1/0."""
    for sub in module.modules():
        if isinstance(sub, (nn.Linear, nn.Embedding)):
            nn.init.normal_(sub.weight, std=INIT_STD, generator=gen)
        if isinstance(sub, nn.Linear):
            nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.LayerNorm):
            nn.init.ones_(sub.weight)
            nn.init.zeros_(sub.bias)


def _new_head(width: int, num_labels: int, gen: torch.Generator) -> nn.Linear:
    head = nn.Linear(width, num_labels)
    _init_weights(head, gen)
    return head


@torch.no_grad()
def _add_pixel_row(bert: DigitBertModel, gen: torch.Generator) -> None:
    """Append one normal(0, 0.02) row to the pixel embedding, like ``resize_token_embeddings``."""
    old = bert.embeddings.pixel
    grown = nn.Embedding(old.num_embeddings + 1, old.embedding_dim)
    grown.weight.copy_(torch.cat([old.weight, torch.randn(1, old.embedding_dim, generator=gen) * INIT_STD]))
    bert.embeddings.pixel = grown


# ------------------------------------------------------------------------------------------ lora
class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update ``scale * B @ A`` (alpha = 2 r)."""

    def __init__(self, base: nn.Linear, rank: int, gen: torch.Generator) -> None:
        super().__init__()
        self.base = base
        self.A = nn.Parameter(torch.randn(rank, base.in_features, generator=gen) / rank)
        self.B = nn.Parameter(torch.zeros(base.out_features, rank))
        alpha = 2.0 * rank
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * ((x @ self.A.T) @ self.B.T)

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """Return the base layer with ``weight = W0 + scale * B @ A`` (float32), no adapter left."""
        self.base.weight.add_((self.scale * (self.B @ self.A)).to(torch.float32))
        return self.base


def _attach_lora(net: DigitNet, rank: int, gen: torch.Generator) -> list[nn.Parameter]:
    """Freeze ``net.bert``, wrap every encoder dense layer in LoRA; return the adapter parameters."""
    net.bert.requires_grad_(False)
    params: list[nn.Parameter] = []
    for block in net.bert.encoder.layer:
        block.dense = LoRALinear(block.dense, rank, gen)  # type: ignore[arg-type]
        params += [block.dense.A, block.dense.B]
    return params


def _merge_lora(net: DigitNet) -> None:
    for block in net.bert.encoder.layer:
        if isinstance(block.dense, LoRALinear):
            block.dense = block.dense.merged()


# -------------------------------------------------------------------------------------- training
def _train(
    net: DigitNet, params: list[nn.Parameter], task: Task, steps: int, lr: float, rng: np.random.Generator
) -> float:
    """Adam on cross-entropy with random mini-batches; return the accuracy on ``task`` afterwards."""
    try:  # the fused CPU kernel is ~3x faster than the default per-tensor loop
        optimizer = torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):
        optimizer = torch.optim.Adam(params, lr=lr)
    batches = torch.from_numpy(rng.integers(0, len(task.y), size=(steps, min(BATCH_SIZE, len(task.y)))))
    net.train()
    for batch in batches:
        loss = F.cross_entropy(net(task.x[batch]), task.y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        return float((net(task.x).argmax(1) == task.y).float().mean())


@dataclass
class _Trained:
    """A trained model plus what the truth file and the log report about it."""

    net: DigitNet = dataclasses.field(repr=False)
    depth: int
    task: str
    num_labels: int | None
    format: str
    resized: bool
    accuracy: float
    lr: float
    steps: int


def _train_root(config: ZooConfig, family: int) -> _Trained:
    """Pre-train a fresh random init of family ``family`` on 10-way digit classification."""
    rng = np.random.default_rng([config.seed, _TAG_ROOT, family, 0])
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    fmt = str(rng.choice(FORMATS, p=FORMAT_WEIGHTS))
    task = pretraining_task()
    bert = DigitBertModel(PIXEL_VALUES, config.width, config.layers)
    _init_weights(bert, gen)
    net = DigitNet(bert, _new_head(config.width, task.num_labels, gen))
    accuracy = _train(net, list(net.parameters()), task, ROOT_STEPS, ROOT_LR, rng)
    return _Trained(net, 0, task.name, None, fmt, False, accuracy, ROOT_LR, ROOT_STEPS)


def _train_child(parent: DigitNet, depth: int, config: ZooConfig, rng: np.random.Generator) -> _Trained:
    """Fine-tune a copy of ``parent`` on a randomly drawn task (fully or through merged LoRA)."""
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    task = draw_task(rng)
    data = subsample(task, TRAIN_FRACTION, rng)
    low, high = CHILD_LR[config.mode]
    lr = low * (high / low) ** float(rng.random())
    steps = int(rng.integers(CHILD_STEPS[0], CHILD_STEPS[1] + 1))
    resize = depth == 1 and float(rng.random()) < config.resize_probability
    fmt = str(rng.choice(FORMATS, p=FORMAT_WEIGHTS))

    net = copy.deepcopy(parent)
    if resize:
        _add_pixel_row(net.bert, gen)
    if depth == 1 or net.classifier.out_features != task.num_labels:
        net.classifier = _new_head(config.width, task.num_labels, gen)
    if config.mode == "lora":
        params = _attach_lora(net, config.lora_rank, gen) + list(net.classifier.parameters())
    else:
        params = list(net.parameters())
    net.requires_grad_(False)
    for param in params:
        param.requires_grad_(True)
    accuracy = _train(net, params, data, steps, lr, rng)
    _merge_lora(net)
    resized = net.bert.embeddings.pixel.num_embeddings > PIXEL_VALUES
    return _Trained(net, depth, task.name, task.num_labels, fmt, resized, accuracy, lr, steps)


def _train_family(config: ZooConfig, family: int) -> Iterator[tuple[int | None, _Trained]]:
    """Train one family breadth-first, yielding ``(index of the parent in yield order, model)``."""
    trained = [_train_root(config, family)]
    yield None, trained[0]
    frontier = [0]
    for depth in range(1, config.depth + 1):
        next_frontier = []
        for parent in frontier:
            for _ in range(config.children):
                rng = np.random.default_rng([config.seed, _TAG_NODE, family, len(trained)])
                trained.append(_train_child(trained[parent].net, depth, config, rng))
                next_frontier.append(len(trained) - 1)
                yield parent, trained[-1]
        frontier = next_frontier


# ---------------------------------------------------------------------------------------- saving
def _config_json(net: DigitNet, is_root: bool) -> dict:
    cfg = {
        "architectures": ["DigitBertModel" if is_root else "DigitBertForSequenceClassification"],
        "model_type": "digitbert",
        "hidden_size": net.bert.embeddings.pixel.embedding_dim,
        "num_hidden_layers": len(net.bert.encoder.layer),
        "vocab_size": net.bert.embeddings.pixel.num_embeddings,
        "max_position_embeddings": SEQUENCE_LENGTH,
        "torch_dtype": "float32",
    }
    if not is_root:
        cfg["num_labels"] = net.classifier.out_features
    return cfg


def _save_safetensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    save_file(tensors, str(path), metadata={"format": "pt"})
    path.chmod(0o644)  # safetensors >= 0.7 creates files as 0600; keep them readable like the rest


def _write_weights(model_dir: Path, tensors: dict[str, torch.Tensor], fmt: str) -> None:
    """Write ``tensors`` as ``model.safetensors``, ``pytorch_model.bin`` or two safetensors shards."""
    if fmt == "safetensors":
        _save_safetensors(tensors, model_dir / "model.safetensors")
    elif fmt == "bin":
        torch.save(tensors, model_dir / "pytorch_model.bin")
    elif fmt == "sharded":
        sizes = {name: t.numel() * t.element_size() for name, t in tensors.items()}
        shards: list[dict[str, torch.Tensor]] = [{}, {}]
        total, names = sum(sizes.values()), list(tensors)
        running = 0
        for i, name in enumerate(names):
            # first shard up to half the bytes, but leave at least one tensor for the second
            second = i > 0 and (running >= total / 2 or i == len(names) - 1)
            shards[int(second)][name] = tensors[name]
            running += sizes[name]
        files = [f"model-0000{k + 1}-of-00002.safetensors" for k in range(2)]
        weight_map = {}
        for shard, file in zip(shards, files, strict=True):
            _save_safetensors(shard, model_dir / file)
            weight_map.update(dict.fromkeys(shard, file))
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        text = json.dumps(index, indent=2, sort_keys=True) + "\n"
        (model_dir / "model.safetensors.index.json").write_text(text)
    else:
        raise ValueError(f"unknown format {fmt!r}")


@torch.no_grad()
def _save_model(model_dir: Path, net: DigitNet, is_root: bool, fmt: str) -> None:
    """Save a root as a bare base model (no prefix, no head), others with ``bert.`` and ``classifier``."""
    module = net.bert if is_root else net
    tensors = {name: t.detach().float().contiguous().clone() for name, t in module.state_dict().items()}
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(_config_json(net, is_root), indent=2) + "\n")
    _write_weights(model_dir, tensors, fmt)


# ------------------------------------------------------------------------------------------- zoo
def _check(out_dir: Path, truth_path: Path, config: ZooConfig) -> None:
    if config.mode not in MODES:
        raise ValueError(f"unknown mode {config.mode!r}; expected one of {MODES}")
    for field in ("families", "children", "depth", "width", "layers", "lora_rank"):
        if getattr(config, field) < 1:
            raise ValueError(f"ZooConfig.{field} must be >= 1, got {getattr(config, field)}")
    if not 0.0 <= config.resize_probability <= 1.0:
        raise ValueError(f"resize_probability must be in [0, 1], got {config.resize_probability}")
    out, truth = out_dir.resolve(), truth_path.resolve()
    if truth == out or out in truth.parents:
        raise ValueError(f"truth_path {truth_path} must not lie inside out_dir {out_dir}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValueError(f"out_dir {out_dir} must be an empty directory or not exist")


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Train on one intra-op thread, restoring the caller's setting afterwards.

    The network is far too small to gain from more threads (measured: same speed), while OpenMP
    threads competing with any other busy process on a small machine slow training 10-100x.  One
    thread also makes the zoo bit-identical whatever the machine's core count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _truth_entry(model_id: str, family: int, parent_id: str | None, model: _Trained) -> dict:
    return {
        "id": model_id,
        "family": f"family-{family}",
        "parent": parent_id,
        "depth": model.depth,
        "task": model.task,
        "num_labels": model.num_labels,
        "format": model.format,
        "resized": model.resized,
    }


def _new_name(rng: np.random.Generator, taken: set[str]) -> str:
    while (name := f"model-{int(rng.integers(16**6)):06x}") in taken:
        pass
    taken.add(name)
    return name


def generate_zoo(
    out_dir: str | Path,
    truth_path: str | Path,
    config: ZooConfig,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Train the zoo, write models under out_dir and the truth JSON to truth_path; return the truth dict.

    Each family is a tree: a pre-trained root, ``children`` children per node, ``depth``
    generations below the root, so ``families * sum(children**d for d in 0..depth)`` models.

    Parameters
    ----------
    out_dir : str or Path
        Directory for the models (created if missing, must be empty); one ``model-XXXXXX``
        sub-directory per model in Hugging Face layout.
    truth_path : str or Path
        Where to write the genealogy JSON; must not lie inside ``out_dir``.
    config : ZooConfig
        Zoo shape, training mode (``"ft"`` or ``"lora"``), seed and network size.
    progress : callable, optional
        Called as ``progress(done, total)`` after each model is written.

    Returns
    -------
    dict
        ``{"mode", "seed", "config", "models": [...]}``; each model entry has ``id`` (directory
        name), ``family``, ``parent`` (id or None), ``depth``, ``task``, ``num_labels`` (None for
        roots), ``format`` (``safetensors``/``bin``/``sharded``) and ``resized`` (whether its pixel
        embedding carries the extra row, its own or inherited).

    Raises
    ------
    ValueError
        For an unknown mode, counts below 1, a non-empty ``out_dir`` or a ``truth_path`` inside it.

    Notes
    -----
    Training runs with ``torch.set_num_threads(1)``; the caller's thread count is restored on
    return.  About 0.25 s per model at the default size; a zoo of 105 models takes ~30 s.
    """
    out_dir, truth_path = Path(out_dir), Path(truth_path)
    _check(out_dir, truth_path, config)
    out_dir.mkdir(parents=True, exist_ok=True)
    total = config.families * sum(config.children**d for d in range(config.depth + 1))
    names_rng, taken = np.random.default_rng([config.seed, _TAG_NAMES, 0, 0]), set[str]()
    started, models = time.perf_counter(), []
    with _one_torch_thread():
        for family in range(config.families):
            ids: list[str] = []
            for parent, model in _train_family(config, family):
                ids.append(_new_name(names_rng, taken))
                parent_id = None if parent is None else ids[parent]
                _save_model(out_dir / ids[-1], model.net, parent_id is None, model.format)
                models.append(_truth_entry(ids[-1], family, parent_id, model))
                logger.debug("%s <- %s: %s", ids[-1], parent_id, model)
                if progress is not None:
                    progress(len(models), total)

    truth = {"mode": config.mode, "seed": config.seed, "config": dataclasses.asdict(config), "models": models}
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth_path.write_text(json.dumps(truth, indent=2) + "\n")
    elapsed = time.perf_counter() - started
    logger.info("wrote %d %s models to %s in %.1f s", total, config.mode, out_dir, elapsed)
    return truth
