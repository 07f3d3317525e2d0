"""Command line: ``heritage scan``, ``zoo``, ``eval``, ``db init|stats`` and ``query``.

Exit codes: 0 success; 1 the scan finished but rejected some inputs (they are listed in the
JSON); 2 the command could not run (bad arguments, missing directory, unwritable output);
3 Neo4j was unreachable, refused the credentials, or went away mid-write.

Neo4j settings come from ``NEO4J_URI``, ``NEO4J_USER``, ``NEO4J_PASSWORD`` and ``NEO4J_DATABASE``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

if TYPE_CHECKING:
    from heritage.graph import GraphStore

from heritage.config import (
    ClusteringMethod,
    DirectionStatistic,
    DistanceMetric,
    HeritageConfig,
    LayerFilter,
    TreeBuildingMethod,
)
from heritage.exceptions import GraphStoreUnavailableError, HeritageError

EXIT_OK, EXIT_REJECTED, EXIT_FAILED, EXIT_GRAPH = 0, 1, 2, 3
log = logging.getLogger("heritage")


def _names(enum: type[Enum]) -> list[str]:
    return [str(e.value) for e in enum]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heritage", description="Recover model families and genealogy trees "
                                     "from neural network weights.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    scan = sub.add_parser("scan", help="scan a directory of checkpoints into families and trees")
    scan.add_argument("dir", type=Path, help="directory of models (weight files or Hugging Face dirs), or one model")
    scan.add_argument("--json", dest="json_out", type=Path, required=True, help="where to write the result JSON")
    scan.add_argument("--metric", choices=_names(DistanceMetric), default="auto")
    scan.add_argument("--clustering", choices=_names(ClusteringMethod), default="auto")
    scan.add_argument("--tree", choices=_names(TreeBuildingMethod), default="mother")
    scan.add_argument("--families", type=int, default=None, help="force this many families (default: estimate)")
    scan.add_argument("--layers", choices=_names(LayerFilter), default="matrices",
                      help="tensors compared: 2-D matrices (default), square matrices only, or all")
    scan.add_argument("--lambda", dest="lam", type=float, default=0.3, help="MoTHer direction penalty weight")
    scan.add_argument("--direction", choices=_names(DirectionStatistic), default="auto",
                      help="statistic that orders parents before children (default: per family from the data)")
    scan.add_argument("--sign", type=int, choices=[1, -1], default=None,
                      help="force the direction sign (+1: parents have the higher statistic); default: from data")
    scan.add_argument("--quiet", action="store_true", help="print no summary or progress")
    scan.add_argument("--neo4j", action="store_true", help="also write the result to Neo4j (NEO4J_* settings)")

    zoo = sub.add_parser("zoo", help="train a model zoo for real and write its true genealogy")
    zoo.add_argument("dir", type=Path, help="empty (or new) directory for the models")
    zoo.add_argument("--truth", type=Path, required=True, help="truth JSON, outside DIR")
    zoo.add_argument("--families", type=int, default=4)
    zoo.add_argument("--children", type=int, default=3, help="children per model, each generation")
    zoo.add_argument("--depth", type=int, default=2, help="generations below each root")
    zoo.add_argument("--mode", choices=["ft", "lora"], default="ft")
    zoo.add_argument("--seed", type=int, default=0)
    zoo.add_argument("--width", type=int, default=64)
    zoo.add_argument("--layers", type=int, default=3)

    ev = sub.add_parser("eval", help="score a scan result against a zoo's truth file")
    ev.add_argument("result", type=Path)
    ev.add_argument("truth", type=Path)

    serve = sub.add_parser("serve", help="serve the lineage API (FastAPI on uvicorn) over Neo4j")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--access-log", action="store_true", help="log every request (off: it costs latency)")

    db = sub.add_parser("db", help="the Neo4j graph store")
    db.add_argument("action", choices=["init", "stats"], help="init: apply the schema; stats: graph health")

    query = sub.add_parser("query", help="run a named lineage query against Neo4j and print its rows as JSON")
    query.add_argument("name", help="one of: " + ", ".join(sorted(_query_names())))
    query.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="query parameter")
    return parser


def _query_names() -> list[str]:
    from heritage.graph.queries import QUERIES

    return list(QUERIES)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        commands = {"scan": _scan, "zoo": _zoo, "eval": _eval, "db": _db, "query": _query, "serve": _serve}
        return commands[args.command](args)
    except GraphStoreUnavailableError as exc:
        print(f"heritage {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_GRAPH
    except (HeritageError, OSError, ValueError) as exc:
        print(f"heritage {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


class _Bars:
    """One tqdm bar per engine stage, on stderr, silent when stderr is not a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.bars = enabled, {}  # type: ignore[var-annotated]

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=stage, unit="tensor" if stage == "distance" else "model",
                                          file=sys.stderr, disable=None, leave=False)
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _scan(args: argparse.Namespace) -> int:
    from heritage.pipeline import Heritage
    from heritage.render import summary

    if not args.dir.exists():
        raise HeritageError(f"{args.dir}: no such directory or file")
    config = HeritageConfig(metric=args.metric, clustering=args.clustering, tree=args.tree, families=args.families,
                            layer_filter=args.layers, mother_lambda=args.lam, sign=args.sign,
                            direction=args.direction)
    bars = _Bars(not args.quiet)
    try:
        result = Heritage(config).scan(args.dir, progress=bars)
    finally:
        bars.close()
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    result.write_json(args.json_out)
    if args.neo4j:
        with _store() as store:
            store.init_schema()
            report = store.write_result(result)
        if not args.quiet:
            print(f"written to Neo4j at {store.settings.uri} as {report.run_id}: {report.families} families, "
                  f"{report.models} models, {report.edges} edges, {report.rejected} rejected")
    if not result.models and not result.rejected:
        print(f"heritage scan: no models found under {args.dir}", file=sys.stderr)
    if not args.quiet:
        print(summary(result))
        print(f"\nresult written to {args.json_out}")
    return EXIT_REJECTED if result.rejected else EXIT_OK


def _zoo(args: argparse.Namespace) -> int:
    from heritage.zoo import ZooConfig, generate_zoo

    config = ZooConfig(families=args.families, children=args.children, depth=args.depth, mode=args.mode,
                       seed=args.seed, width=args.width, layers=args.layers)
    with tqdm(desc="training", unit="model", file=sys.stderr, disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        truth = generate_zoo(args.dir, args.truth, config, progress=progress)
    print(f"trained {len(truth['models'])} models into {args.dir}; true tree in {args.truth}")
    return EXIT_OK


def _store() -> GraphStore:
    from heritage.graph import GraphStore, Neo4jSettings

    return GraphStore.connect(Neo4jSettings.from_env())


def _db(args: argparse.Namespace) -> int:
    with _store() as store:
        if args.action == "init":
            print(f"schema applied to {store.settings.uri} ({store.init_schema()} statements)")
        else:
            print(json.dumps(store.stats(), indent=2))
    return EXIT_OK


def _query(args: argparse.Namespace) -> int:
    params = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param expects KEY=VALUE, got {item!r}")
        params[key] = value
    with _store() as store:
        print(json.dumps(store.query(args.name, **params), indent=2))
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from heritage.graph import Neo4jSettings

    Neo4jSettings.from_env()  # fail before binding the port if the password is missing
    # httptools and uvloop (uvicorn[standard]) when installed: they roughly halve the per-request overhead.
    uvicorn.run("api.main:create_app", factory=True, host=args.host, port=args.port, log_level="info",
                access_log=args.access_log, http="auto", loop="auto")
    return EXIT_OK


def _eval(args: argparse.Namespace) -> int:
    from heritage.evaluate import evaluate_files

    print(json.dumps(evaluate_files(args.result, args.truth), indent=2))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
