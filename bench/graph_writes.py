"""Batched (UNWIND, one transaction per family) versus one statement per row, on the same result.

A real scan of a trained zoo is replicated under fresh ids to the requested size, so both
writers get exactly the same rows; they run side by side in this process against the same
Neo4j, on an emptied database each, and the ratio of their wall times is recorded.

    python -m bench.graph_writes --zoo DIR --copies 20 --out bench/results/graph_writes.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

from bench.record import header, save
from heritage import Heritage, HeritageResult
from heritage.graph import GraphStore, Neo4jSettings, queries
from heritage.graph.store import DISPLAY_LABELS, _model_props, family_hue, size_label


def replicate(result: HeritageResult, copies: int) -> HeritageResult:
    """``copies`` disjoint clones of a result (ids suffixed), as one bigger result."""
    out = HeritageResult(run=result.run)
    for k in range(copies):
        clone = copy.deepcopy(result)
        tag = f"~{k}"
        for m in clone.models:
            m.id, m.family = m.id + tag, m.family + tag
            m.parent = m.parent + tag if m.parent else None
        for f in clone.families:
            f.id, f.root, f.medoid = f.id + tag, f.root + tag, f.medoid + tag
            f.members = [x + tag for x in f.members]
        for e in clone.edges:
            e.parent, e.child = e.parent + tag, e.child + tag
        out.models += clone.models
        out.families += clone.families
        out.edges += clone.edges
    return out


def write_per_row(store: GraphStore, result: HeritageResult) -> None:
    """The baseline: the same statement, one model or one edge at a time, each auto-committed."""
    db, run_id, now = store.settings.database, "bench-per-row", "now"
    families = {f.id: {"id": f.id, "size": len(f.members), "root_id": f.root, "medoid_id": f.medoid}
                for f in result.families}
    for m in result.models:
        row = {"id": m.id, "parent": m.parent, "props": _model_props(m),
               "labels": [size_label(m.num_params), family_hue(m.family)]}
        store.driver.execute_query(queries.load("write_family"), database_=db, family=families[m.family],
                                   rows=[row], edges=[], run_id=run_id, now=now, display_labels=DISPLAY_LABELS)
    family_of = {m.id: m.family for m in result.models}
    for e in result.edges:
        row = {"parent": e.parent, "child": e.child, "distance": e.distance, "confidence": e.confidence,
               "method": e.method}
        store.driver.execute_query(queries.load("write_family"), database_=db, family=families[family_of[e.child]],
                                   rows=[], edges=[row], run_id=run_id, now=now, display_labels=DISPLAY_LABELS)


def _wipe(store: GraphStore) -> None:
    # CALL ... IN TRANSACTIONS needs an implicit (auto-commit) transaction: session.run, not execute_query.
    with store.driver.session(database=store.settings.database) as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS").consume()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", type=Path, required=True, help="a trained zoo (heritage zoo) to scan once")
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    env = dict(os.environ)
    env.setdefault("NEO4J_PASSWORD", "heritage-dev-password")
    result = replicate(Heritage().scan(args.zoo), args.copies)
    timings = {}
    with GraphStore.connect(Neo4jSettings.from_env(env)) as store:
        store.init_schema()
        for name, write in (("batched", store.write_result), ("per_row", lambda r: write_per_row(store, r))):
            _wipe(store)
            start = time.perf_counter()
            write(result)
            timings[name] = time.perf_counter() - start
            counts = store.driver.execute_query("MATCH (m:Model) WITH count(m) AS m MATCH ()-[e:PARENT_OF]->() "
                                                "RETURN m, count(e) AS e").records[0]
            assert (counts["m"], counts["e"]) == (len(result.models), len(result.edges)), name
        _wipe(store)
    record = header("graph_writes", " ".join(["python -m bench.graph_writes", *(argv or sys.argv[1:])])) | {
        "models": len(result.models), "edges": len(result.edges), "families": len(result.families),
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "ratio_per_row_over_batched": round(timings["per_row"] / timings["batched"], 1),
    }
    print(json.dumps(record, indent=2))
    save(record, args.out)
    return record


if __name__ == "__main__":
    main()
