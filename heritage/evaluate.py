"""Scoring a scan against the true genealogy written by ``heritage zoo``.

* directed-edge accuracy, as published: correct parent -> child edges / true edges;
* family adjusted Rand index over the models both sides know;
* root accuracy: true families whose true root is predicted as a root.
"""

from __future__ import annotations

import json
from pathlib import Path

from sklearn.metrics import adjusted_rand_score


def evaluate(result: dict, truth: dict) -> dict[str, float]:
    """Scores for a scan result (the JSON written by ``heritage scan``) against a truth file's content."""
    true_models = {m["id"]: m for m in truth["models"]}
    true_edges = {(m["parent"], m["id"]) for m in truth["models"] if m["parent"] is not None}
    predicted_edges = {(e["parent"], e["child"]) for e in result["edges"]}
    predicted_family = {m["id"]: m["family"] for m in result["models"]}
    predicted_roots = {f["root"] for f in result["families"]}
    common = sorted(set(true_models) & set(predicted_family))
    ari = adjusted_rand_score([true_models[i]["family"] for i in common], [predicted_family[i] for i in common])
    true_roots = {m["id"] for m in truth["models"] if m["parent"] is None}
    return {
        "edge_accuracy": len(true_edges & predicted_edges) / len(true_edges) if true_edges else 1.0,
        "family_ari": float(ari) if len(common) > 1 else 1.0,
        "root_accuracy": len(true_roots & predicted_roots) / len(true_roots) if true_roots else 1.0,
        "true_edges": float(len(true_edges)),
        "models_scored": float(len(common)),
        "models_missing": float(len(set(true_models) - set(predicted_family))),
    }


def evaluate_files(result_path: str | Path, truth_path: str | Path) -> dict[str, float]:
    return evaluate(json.loads(Path(result_path).read_text()), json.loads(Path(truth_path).read_text()))
