"""Scaling of ``heritage scan``: time per stage and peak memory as the number of models and the width grow.

Trains the zoos it needs (``heritage zoo``), scans nested subsets made of whole families (symlinks,
so no copies), each scan in a child process (peak RSS from ``wait4``), and fits the growth
exponent of each stage (slope of log time against log size). Reading the checkpoints is the
floor: load throughput is reported against a plain sequential read of the same files (page cache
warm for both).

    python -m bench.scaling --workdir /tmp/scaling --models 20 50 100 200 400 --widths 32 64 128 256
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.record import header, save
from heritage.zoo import ZooConfig, generate_zoo

STAGES = ("load", "distance", "clustering", "tree")


def _zoo(workdir: Path, name: str, config: ZooConfig) -> tuple[Path, dict]:
    zoo, truth = workdir / name, workdir / f"{name}.truth.json"
    if not truth.is_file():
        generate_zoo(zoo, truth, config)
    return zoo, json.loads(truth.read_text())


def _subset(zoo: Path, truth: dict, count: int, where: Path) -> Path:
    """The first whole families holding at least ``count`` models, as symlinks."""
    families: dict[str, list[str]] = {}
    for m in truth["models"]:
        families.setdefault(m["family"], []).append(m["id"])
    where.mkdir(parents=True, exist_ok=True)
    taken = 0
    for members in families.values():
        if taken >= count:
            break
        for model_id in members:
            link = where / model_id
            if not link.exists():
                link.symlink_to(zoo / model_id)
        taken += len(members)
    return where


def _scan(path: Path, out: Path) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "heritage.cli", "scan", str(path), "--json", str(out), "--quiet"])
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise RuntimeError(f"scan of {path} failed")
    result = json.loads(out.read_text())
    return {"models": len(result["models"]), "wall_s": round(time.perf_counter() - start, 3),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "stages_s": {k: round(result["run"]["seconds"][k], 4) for k in STAGES}}


def _weight_files(path: Path) -> list[Path]:
    """Weight files under ``path``, through the subsets' symlinks."""
    return sorted(Path(d) / f for d, _, files in os.walk(path, followlinks=True) for f in files
                  if f.endswith((".safetensors", ".bin")))


def _weight_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in _weight_files(path))


def _plain_read_s(path: Path) -> float:
    start = time.perf_counter()
    for f in _weight_files(path):
        with open(f, "rb") as handle:
            while handle.read(1 << 20):
                pass
    return time.perf_counter() - start


def _exponents(sizes: list[int], rows: list[dict]) -> dict[str, float]:
    x = np.log(np.array(sizes, dtype=float))
    out = {}
    for stage in STAGES:
        y = np.array([max(r["stages_s"][stage], 1e-6) for r in rows])
        out[stage] = round(float(np.polyfit(x, np.log(y), 1)[0]), 2)
    out["peak_rss"] = round(float(np.polyfit(x, np.log([r["peak_rss_mib"] for r in rows]), 1)[0]), 2)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--models", type=int, nargs="+", default=[20, 50, 100, 200, 400])
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--width-models", type=int, default=42, help="models per zoo of the width curve")
    parser.add_argument("--children", type=int, default=4, help="children per model in the zoos (depth 2)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    per_family = 1 + args.children + args.children**2
    families = -(-max(args.models) // per_family)
    zoo, truth = _zoo(args.workdir, f"count-{families}", ZooConfig(families=families, children=args.children,
                                                                    depth=2, width=48, seed=808))
    by_count = []
    for count in sorted(args.models):
        subset = _subset(zoo, truth, count, args.workdir / f"subset-{count}")
        row = _scan(subset, args.workdir / f"subset-{count}.json")
        row["weight_mib"] = round(_weight_bytes(subset) / 2**20, 2)
        by_count.append(row)
        print("models", row, flush=True)
    by_width = []
    for width in sorted(args.widths):
        fam = max(1, -(-args.width_models // per_family))
        wzoo, _ = _zoo(args.workdir, f"width-{width}", ZooConfig(families=fam, children=args.children, depth=2,
                                                                 width=width, seed=909))
        row = _scan(wzoo, args.workdir / f"width-{width}.json") | {"width": width}
        size = _weight_bytes(wzoo)
        plain = _plain_read_s(wzoo)
        row["weight_mib"] = round(size / 2**20, 2)
        row["plain_read_mib_s"] = round(size / 2**20 / plain, 1)
        row["scan_read_mib_s"] = round(size / 2**20 / (row["stages_s"]["load"] + row["stages_s"]["distance"]), 1)
        row["load_fraction_of_plain_read"] = round(row["scan_read_mib_s"] / row["plain_read_mib_s"], 4)
        by_width.append(row)
        print("width", row, flush=True)
    command = " ".join(["python -m bench.scaling", *(argv if argv is not None else sys.argv[1:])])
    record = header("scaling", command) | {
        "by_models": by_count, "by_width": by_width,
        "exponent_vs_models": _exponents([r["models"] for r in by_count], by_count),
        "exponent_vs_width": _exponents([r["width"] for r in by_width], by_width),
    }
    print(json.dumps({k: record[k] for k in ("exponent_vs_models", "exponent_vs_width")}, indent=2))
    save(record, args.out)
    return record


if __name__ == "__main__":
    main()
