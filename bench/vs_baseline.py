"""``heritage scan`` against the published recipe (bench/baseline_mother.py), side by side.

Both run as child processes on the same zoo, one after the other; wall time and peak resident
memory come from the operating system (``getrusage`` of each child), accuracy from ``heritage eval``.

    python -m bench.vs_baseline ZOO TRUTH --mode ft --out bench/results/vs_baseline_ft.json
"""

from __future__ import annotations

import argparse
import json
import os
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
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    families = len({m["family"] for m in json.loads(args.truth.read_text())["models"]})
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "heritage": [sys.executable, "-m", "heritage.cli", "scan", str(args.zoo), "--json", f"{tmp}/h.json",
                         "--quiet"],
            "published_recipe": [sys.executable, "-m", "bench.baseline_mother", str(args.zoo), "--families",
                                 str(families), "--mode", args.mode, "--json", f"{tmp}/b.json"],
        }
        for name, cmd in runs.items():
            wall, rss = _run(cmd)
            scores = evaluate_files(cmd[cmd.index("--json") + 1], args.truth)
            rows[name] = {"wall_s": round(wall, 2), "peak_rss_mib": round(rss, 1),
                          **{k: round(scores[k], 4) for k in ("edge_accuracy", "family_ari", "root_accuracy")}}
            print(name, rows[name], flush=True)
    record = header("vs_baseline", " ".join(["python -m bench.vs_baseline", *(argv or sys.argv[1:])])) | {
        "zoo": str(args.zoo), "mode": args.mode, "models": len(json.loads(args.truth.read_text())["models"]),
        "results": rows, "speedup": round(rows["published_recipe"]["wall_s"] / rows["heritage"]["wall_s"], 1),
        "note": "baseline told the true number of families (as in the paper); heritage estimates it",
    }
    save(record, args.out)
    return record


if __name__ == "__main__":
    main()
