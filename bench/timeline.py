"""Execution-time diagram: a zoo added model by model (incremental placement) beside one batch scan.

Each model of the zoo is copied into an empty data directory and added with
:class:`heritage.incremental.IncrementalHeritage`, in a seeded random order that interleaves the
families (as uploads would). For each model the diagram stacks its family-assignment time
(placement from stored sketches) and its tree-building time (its family's tree rebuilt from the
members' files), one colour per family, in upload order. Beside it: the per-stage times of one
batch ``heritage scan`` of the same zoo, run in the same process, and the summed incremental times.
The directed-edge accuracy of both results is recorded too.

    python -m bench.timeline ZOO TRUTH --plot bench/results/timeline.png --out bench/results/timeline.json
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.record import header, save
from heritage import Heritage, HeritageResult
from heritage.evaluate import evaluate
from heritage.incremental import IncrementalHeritage


def run_incremental(zoo: Path, ids: list[str], data_dir: Path) -> tuple[list[dict], HeritageResult]:
    """Add every model in order; per-model timings, and the families as last rebuilt."""
    engine = IncrementalHeritage(data_dir)
    rows, last = [], {}
    for model_id in ids:
        src, dst = zoo / model_id, data_dir / model_id
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
        outcome = engine.add(model_id)
        assert outcome.family_key is not None
        last[outcome.family_key] = outcome.results[0]
        rows.append({"model": model_id, "family_key": outcome.family_key, **outcome.seconds,
                     "family_size": len(engine.catalog.members(outcome.family_key))})
    final = HeritageResult()
    for result in last.values():
        final.models += result.models
        final.families += result.families
        final.edges += result.edges
    return rows, final


def plot(rows: list[dict], batch_seconds: dict[str, float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    keys = list(dict.fromkeys(r["family_key"] for r in rows))
    colours = {k: plt.get_cmap("tab10")(i % 10) for i, k in enumerate(keys)}
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [3.2, 1]})
    x = range(1, len(rows) + 1)
    assign = [r["assign"] * 1000 for r in rows]
    tree = [r["tree"] * 1000 for r in rows]
    colour = [colours[r["family_key"]] for r in rows]
    left.bar(x, assign, color=colour, edgecolor="black", linewidth=0.4)
    left.bar(x, tree, bottom=assign, color=colour, alpha=0.45, edgecolor="black", linewidth=0.4, hatch="//")
    left.set_xlabel("model, in upload order")
    left.set_ylabel("milliseconds")
    left.set_title("Incremental placement: family assignment (solid) + tree rebuild (hatched)")
    handles = [Patch(color=colours[k], label=f"family {i + 1}") for i, k in enumerate(keys)]
    handles += [Patch(facecolor="white", edgecolor="black", label="assignment"),
                Patch(facecolor="white", edgecolor="black", hatch="//", label="tree rebuild")]
    left.legend(handles=handles, fontsize=8, ncol=2, loc="upper left")
    stages = ["load", "distance", "clustering", "tree"]
    incremental = {"load": sum(r["load"] for r in rows), "clustering": sum(r["assign"] for r in rows),
                   "tree": sum(r["tree"] for r in rows)}
    bottom_b = bottom_i = 0.0
    stage_colours = {"load": "#8da0cb", "distance": "#fc8d62", "clustering": "#66c2a5", "tree": "#e78ac3"}
    for stage in stages:
        right.bar(0, batch_seconds.get(stage, 0.0), bottom=bottom_b, color=stage_colours[stage], label=stage,
                  edgecolor="black", linewidth=0.4)
        bottom_b += batch_seconds.get(stage, 0.0)
        value = incremental.get(stage, 0.0)
        right.bar(1, value, bottom=bottom_i, color=stage_colours[stage], edgecolor="black", linewidth=0.4)
        bottom_i += value
    right.set_xticks([0, 1], ["one batch scan", "sum of\nincremental adds"])
    right.set_ylabel("seconds")
    right.set_title("Per-stage time, same zoo")
    right.legend(fontsize=8, title="stage (incremental: tree\nrebuild includes its reads)", title_fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", type=Path)
    parser.add_argument("truth", type=Path)
    parser.add_argument("--plot", type=Path, required=True, help="PNG to write")
    parser.add_argument("--out", type=Path, help="JSON result file")
    parser.add_argument("--seed", type=int, default=0, help="upload order")
    args = parser.parse_args(argv)
    truth = json.loads(args.truth.read_text())
    ids = [m["id"] for m in truth["models"]]
    random.Random(args.seed).shuffle(ids)

    tick = time.perf_counter()
    batch = Heritage().scan(args.zoo)
    batch_wall = time.perf_counter() - tick
    with tempfile.TemporaryDirectory(prefix="heritage-timeline-") as tmp:
        tick = time.perf_counter()
        rows, final = run_incremental(args.zoo, ids, Path(tmp) / "data")
        incremental_wall = time.perf_counter() - tick
    batch_seconds = {k: float(v) for k, v in batch.run["seconds"].items()}  # type: ignore[union-attr]
    families = len({r["family_key"] for r in rows})
    plot(rows, batch_seconds, args.plot,
         f"{len(ids)} models, {families} families ({truth.get('mode', '?')}): model-by-model vs one batch scan")
    record = header("timeline", "python -m bench.timeline " + " ".join(sys.argv[1:] if argv is None else argv))
    record |= {"zoo": str(args.zoo), "models": len(ids), "families": families, "plot": str(args.plot),
               "batch": {"wall_s": round(batch_wall, 3), "seconds": batch_seconds,
                         "edge_accuracy": evaluate(batch.to_dict(), truth)["edge_accuracy"]},
               "incremental": {"wall_s": round(incremental_wall, 3),
                               "edge_accuracy": evaluate(final.to_dict(), truth)["edge_accuracy"],
                               "same_families_as_batch": sorted(sorted(f.members) for f in final.families)
                               == sorted(sorted(f.members) for f in batch.families),
                               "per_model": [{k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()}
                                             for r in rows]}}
    save(record, args.out)
    return record


if __name__ == "__main__":
    result = main()
    print(json.dumps({k: v for k, v in result.items() if k not in ("incremental",)}, indent=2))
    print("incremental:", {k: v for k, v in result["incremental"].items() if k != "per_model"})
