"""Minimum arborescence: our O(V^2) Tarjan/Camerini against networkx's Edmonds, side by side.

Same random dense graphs (uniform costs), same process; the total costs must agree, and the
ratio of wall times is recorded.

    python -m bench.arborescence --sizes 100 200 400 --large 2000 --out bench/results/arborescence.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np

from bench.record import header, save
from heritage.arborescence import arborescence_cost, minimum_arborescence


def networkx_cost(cost: np.ndarray) -> float:
    graph = nx.from_numpy_array(np.where(np.isfinite(cost), cost, 0.0), create_using=nx.DiGraph)
    graph.remove_edges_from(nx.selfloop_edges(graph))
    tree = nx.minimum_spanning_arborescence(graph, attr="weight")
    return float(sum(d["weight"] for _, _, d in tree.edges(data=True)))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 400])
    parser.add_argument("--large", type=int, default=2000, help="a size timed for ours alone")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rows = []
    for n in args.sizes:
        cost = rng.random((n, n)) + 0.01
        np.fill_diagonal(cost, np.inf)
        start = time.perf_counter()
        ours = arborescence_cost(cost, minimum_arborescence(cost))
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        theirs = networkx_cost(cost)
        t_nx = time.perf_counter() - start
        assert abs(ours - theirs) < 1e-7 * max(1.0, abs(theirs)), (n, ours, theirs)
        rows.append({"nodes": n, "ours_s": round(t_ours, 4), "networkx_s": round(t_nx, 3),
                     "ratio": round(t_nx / t_ours, 1), "total_cost": round(ours, 6)})
        print(rows[-1], flush=True)
    large = None
    if args.large:
        cost = rng.random((args.large, args.large)) + 0.01
        start = time.perf_counter()
        minimum_arborescence(cost)
        large = {"nodes": args.large, "ours_s": round(time.perf_counter() - start, 3)}
        print(large, flush=True)
    command = " ".join(["python -m bench.arborescence", *(argv if argv is not None else sys.argv[1:])])
    record = header("arborescence", command) | {"networkx": nx.__version__, "dense_random": rows, "large": large}
    save(record, args.out)
    return record


if __name__ == "__main__":
    main()
