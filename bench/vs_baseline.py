"""``heritage scan`` against the published recipe (bench/baseline_mother.py), side by side.

Each run is a child process on the same zoo; the runs are interleaved (heritage, recipe,
heritage, recipe, ...) ``--repeat`` times so that both see the same background load, and the
median wall time is recorded with every run's. Wall time and peak resident memory come from the
operating system (``getrusage`` of each child), accuracy from ``heritage eval``.

Besides the command line (``heritage scan``, the result that counts), the same scan is timed as a
library call (``Heritage().scan(ZOO).write_json(OUT)`` in a bare ``python -c``): the difference
is what the command line costs before it scans (imports made while building its parser).

    python -m bench.vs_baseline ZOO TRUTH --mode ft --out bench/results/vs_baseline_ft.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.record import header, save
from heritage.evaluate import evaluate_files


def _run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise RuntimeError(f"{cmd[:4]} failed with {status}")
    return wall, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", type=Path)
    parser.add_argument("truth", type=Path)
    parser.add_argument("--mode", choices=["ft", "lora"], required=True)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of each (default 3); medians recorded")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    families = len({m["family"] for m in json.loads(args.truth.read_text())["models"]})
    load_before = os.getloadavg()
    walls: dict[str, list[float]] = {}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "heritage": [sys.executable, "-m", "heritage.cli", "scan", str(args.zoo), "--json", f"{tmp}/h.json",
                         "--quiet"],
            "published_recipe": [sys.executable, "-m", "bench.baseline_mother", str(args.zoo), "--families",
                                 str(families), "--mode", args.mode, "--json", f"{tmp}/b.json"],
            "heritage_library": [sys.executable, "-c", "import sys; from heritage import Heritage; "
                                 "Heritage().scan(sys.argv[1]).write_json(sys.argv[2])", str(args.zoo),
                                 f"{tmp}/l.json"],
        }
        outputs = {"heritage": f"{tmp}/h.json", "published_recipe": f"{tmp}/b.json",
                   "heritage_library": f"{tmp}/l.json"}
        rss: dict[str, float] = {}
        for _ in range(max(1, args.repeat)):
            for name, cmd in runs.items():
                wall, peak = _run(cmd)
                walls.setdefault(name, []).append(round(wall, 3))
                rss[name] = max(rss.get(name, 0.0), peak)
        for name in runs:
            scores = evaluate_files(outputs[name], args.truth)
            rows[name] = {"wall_s": round(statistics.median(walls[name]), 2), "wall_s_runs": walls[name],
                          "peak_rss_mib": round(rss[name], 1),
                          **{k: round(scores[k], 4) for k in ("edge_accuracy", "family_ari", "root_accuracy")}}
            print(name, rows[name], flush=True)
    library = rows.pop("heritage_library")
    baseline = rows["published_recipe"]["wall_s"]
    record = header("vs_baseline", " ".join(["python -m bench.vs_baseline", *(argv or sys.argv[1:])])) | {
        "zoo": str(args.zoo), "mode": args.mode, "models": len(json.loads(args.truth.read_text())["models"]),
        "results": rows, "speedup": round(baseline / rows["heritage"]["wall_s"], 1),
        "heritage_library": library, "speedup_library": round(baseline / library["wall_s"], 1),
        "load_average": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in os.getloadavg()]},
        "note": "baseline told the true number of families (as in the paper); heritage estimates it. Walls are "
                "medians of interleaved runs (wall_s_runs). heritage_library: the same scan as a library call, "
                "without the command line's start-up",
    }
    save(record, args.out)
    return record


if __name__ == "__main__":
    main()
