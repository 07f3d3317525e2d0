"""The published MoTHer recipe, written from the paper's description, as the speed and accuracy baseline.

Horwitz et al., "Unsupervised Model Tree Heritage Recovery", ICLR 2025: kurtosis of the square
weight matrices gives direction; the distance is the largest absolute weight difference over
square matrices (full fine-tuning) or the summed rank of their differences (LoRA); families come
from Ward linkage with a known number of families; each family's tree is networkx's Edmonds
minimum arborescence on ``D + lambda * mean(D) * [kurtosis says the edge is reversed]``. Like the
research code it loads each pair of models from disk to compare them. It writes the same JSON as
``heritage scan`` so ``heritage eval`` scores both alike.

    python -m bench.baseline_mother ZOO --families K --mode ft|lora --json OUT
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import networkx as nx
import numpy as np
import torch
from safetensors.torch import load_file
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from scipy.stats import kurtosis

WRAPPERS = ("bert.",)


def load(model_dir: Path) -> dict[str, torch.Tensor]:
    """Every square weight matrix of a model, names without the task wrapper."""
    tensors: dict[str, torch.Tensor] = {}
    for file in sorted(model_dir.iterdir()):
        if file.suffix == ".safetensors":
            tensors.update(load_file(file))
        elif file.suffix == ".bin":
            tensors.update(torch.load(file, weights_only=True))
    out = {}
    for name, t in tensors.items():
        for prefix in WRAPPERS:
            name = name.removeprefix(prefix)
        if t.dim() == 2 and t.shape[0] == t.shape[1]:
            out[name] = t.double()
    return out


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], mode: str) -> float:
    shared = sorted(set(a) & set(b))
    if mode == "lora":
        return float(sum(int(torch.linalg.matrix_rank(a[n] - b[n], atol=1e-5)) for n in shared))
    return float(max((a[n] - b[n]).abs().max().item() for n in shared))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", type=Path)
    parser.add_argument("--families", type=int, required=True, help="known number of families (as in the paper)")
    parser.add_argument("--mode", choices=["ft", "lora"], required=True)
    parser.add_argument("--lam", type=float, default=0.3)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    ids = sorted(p.name for p in args.zoo.iterdir() if p.is_dir())
    kurt = np.array([sum(kurtosis(t.flatten().numpy()) for t in load(args.zoo / i).values()) for i in ids])
    n = len(ids)
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            d[i, j] = d[j, i] = distance(load(args.zoo / ids[i]), load(args.zoo / ids[j]), args.mode)
    labels = fcluster(linkage(squareform(d, checks=False), method="ward"), t=args.families, criterion="maxclust")
    sign = 1 if args.mode == "ft" else -1  # published: ViT parents higher kurtosis, Stable Diffusion (LoRA) lower
    models, families, edges = [], [], []
    for label in sorted(set(labels)):
        members = [i for i in range(n) if labels[i] == label]
        sub = d[np.ix_(members, members)]
        mean = sub[~np.eye(len(members), dtype=bool)].mean() if len(members) > 1 else 0.0
        graph = nx.DiGraph()
        graph.add_nodes_from(members)
        for a in members:
            for b in members:
                if a != b:
                    reversed_ = sign * (kurt[b] - kurt[a]) > 0
                    graph.add_edge(a, b, weight=d[a, b] + args.lam * mean * reversed_)
        tree = nx.minimum_spanning_arborescence(graph) if len(members) > 1 else graph
        root = next(v for v in members if tree.in_degree(v) == 0)
        family = f"family:{ids[root]}"
        families.append({"id": family, "members": [ids[i] for i in members], "root": ids[root], "medoid": ids[root]})
        for a, b in tree.edges():
            edges.append({"parent": ids[a], "child": ids[b], "distance": float(d[a, b]), "confidence": 0.0})
        models += [{"id": ids[i], "family": family, "kurtosis": float(kurt[i]), "num_params": 0, "sha256": ""}
                   for i in members]
    result = {"models": models, "families": families, "edges": edges, "rejected": [],
              "run": {"params": vars(args) | {"zoo": str(args.zoo), "json": str(args.json)},
                      "seconds": {"total": time.perf_counter() - started}}}
    args.json.write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
