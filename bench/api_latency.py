"""Lineage endpoints through the real API server versus the same Cypher run directly with the driver.

A real scan of a trained zoo is replicated under fresh ids (``bench.graph_writes.replicate``) to
the requested size and written to Neo4j. ``heritage serve`` then runs as a child process over that
database. For a seeded sample of models, each endpoint is called over HTTP (one keep-alive
connection; ``/path/`` goes to another member of the model's family, drawn with the same seed)
and, right beside it, the named queries whose rows the endpoint returns are run with the driver
from this process; the two alternate which goes first from one sample to the next, so machine
noise hits both alike. Per endpoint: p50, p95 and mean of each, and the ratio of the
medians (API over driver); the target is a ratio of at most 2.

The endpoint is measured with a minimal keep-alive ``http.client`` connection: what the service
adds, with as little client-side work as Python allows (a curl or Go client would add less still).
Two more passes put that in context:

- ``httpx_client``: the same calls through httpx, a full-featured Python client. Its own work per
  request (``client_cost_ms``: its ``/health`` floor minus the minimal client's) is paid in the
  calling process whatever the service does.
- ``without_hot_reads``: the minimal client against the same app served without
  :class:`api.hot_reads.HotReads`, so FastAPI's routes answer the one-query reads: the baseline
  that layer is measured against, in the same run.

Both sides include decoding what they receive (the HTTP side parses the JSON body), neither
includes connecting: the HTTP connection and the driver are warmed up first. Each sample also times
``GET /health`` (no database): the HTTP floor the API pays on top of its queries. The answers of
both sides are checked to hold the same number of rows.

    python -m bench.api_latency --zoo DIR --copies 60 --samples 500 --out bench/results/api_latency.json
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import random
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
from neo4j import RoutingControl

from bench.graph_writes import _wipe, replicate
from bench.record import header, save
from heritage import Heritage
from heritage.graph import GraphStore, Neo4jSettings, queries

TARGET_RATIO = 2.0
REPO = Path(__file__).resolve().parents[1]

# Endpoint -> (URL template, the named queries whose rows make up its answer). The driver side runs
# exactly these; an existence check the route makes besides them counts against the API.
ENDPOINTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "model": ("/api/models/{id}", ("model",)),
    "ancestors": ("/api/models/{id}/ancestors", ("ancestors",)),
    "descendants": ("/api/models/{id}/descendants", ("descendants",)),
    "lineage": ("/api/models/{id}/lineage", ("model", "ancestors", "descendants")),
    "parent": ("/api/models/{id}/parent", ("parent",)),
    "children": ("/api/models/{id}/children", ("children",)),
    "path": ("/api/models/{id}/path/{other}", ("path",)),
    "genealogy": ("/api/families/{family}/genealogy", ("family_tree",)),
}
Sample = tuple[str, str, str]  # a model, its family, another member of that family (for the path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def framework_only() -> Any:
    """The served app without the hot read layer (``without_hot_reads``), for uvicorn's ``--factory``."""
    from api.main import create_app

    return create_app(hot_reads=False)


def _serve(settings: Neo4jSettings, port: int, log: Path, hot_reads: bool = True) -> subprocess.Popen:
    """``heritage serve`` over the same database (or, without the hot read layer, uvicorn with the
    options ``heritage serve`` uses), answering /ready within a minute."""
    env = dict(os.environ, NEO4J_URI=settings.uri, NEO4J_USER=settings.user, NEO4J_PASSWORD=settings.password,
               NEO4J_DATABASE=settings.database)
    where = ["--host", "127.0.0.1", "--port", str(port)]
    command = ["-m", "heritage.cli", "serve", *where] if hot_reads else \
        ["-m", "uvicorn", "--factory", "bench.api_latency:framework_only", *where, "--no-access-log"]
    with log.open("wb") as sink:  # run from this checkout, so the code served is the code benchmarked
        server = subprocess.Popen([sys.executable, *command], env=env, cwd=REPO, stdout=sink,
                                  stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"heritage serve did not become ready; its log:\n{log.read_text()}")
        time.sleep(0.25)


def _items(body: Any) -> int:
    """How many rows of the named queries an answer holds (so both sides can be checked to agree)."""
    if isinstance(body, list):
        return len(body)
    if body is None:  # a root's parent
        return 0
    if "edges" in body:  # a genealogy: one row per member, the root included
        return len(body["edges"]) + 1
    if "ancestors" in body:
        return 1 + len(body["ancestors"]) + len(body["descendants"])
    return 1


class StdlibClient:
    """A minimal keep-alive HTTP client (``http.client``): what the endpoint costs without httpx's own overhead."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, url: str) -> _Answer:
        self.connection.request("GET", url)
        response = self.connection.getresponse()
        return _Answer(response.status, response.read())

    def close(self) -> None:
        self.connection.close()


class _Answer:
    def __init__(self, status: int, content: bytes) -> None:
        self.status_code, self.content = status, content

    def raise_for_status(self) -> _Answer:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.content[:200]!r}")
        return self

    def json(self) -> Any:
        return json.loads(self.content)


Client = httpx.Client | StdlibClient


def _calls(client: Client, store: GraphStore, endpoint: str, model_id: str, family_id: str,
           other_id: str) -> tuple[Callable[[], int], Callable[[], int]]:
    """(API call, driver call) for one endpoint and model; each returns how many rows it got."""
    template, names = ENDPOINTS[endpoint]
    url = template.format(id=quote(model_id, safe="/~"), family=quote(family_id, safe="/~:"),
                          other=quote(other_id, safe="/~"))
    params = {"id": model_id, "family": family_id, "a": model_id, "b": other_id}
    db = store.settings.database

    def api() -> int:
        response = client.get(url)
        response.raise_for_status()
        return _items(response.json())

    def driver() -> int:
        rows = 0
        for name in names:
            records = store.driver.execute_query(queries.load(name), {p: params[p] for p in queries.QUERIES[name]},
                                                 database_=db, routing_=RoutingControl.READ).records
            # Decoded as the store decodes them: dicts, the all-null "no relatives" row dropped.
            rows += sum(1 for row in map(dict, records) if any(v is not None for v in row.values()))
        return rows

    return api, driver


def _stats(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50": round(float(np.median(a)), 3), "p95": round(float(np.percentile(a, 95)), 3),
            "mean": round(float(a.mean()), 3)}


def _timed(call: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    got = call()
    return (time.perf_counter() - start) * 1e3, got


def measure(client: Client, store: GraphStore, sample: list[Sample], warmup: int) -> dict:
    """Per endpoint, API and driver latencies (ms) over ``sample``, interleaved per model, the
    endpoints in a fresh seeded order for each model.

    Each model also times one ``GET /health`` (no database), the HTTP floor the API side pays on
    top of its queries.
    """
    times: dict[str, dict[str, list[float]]] = {e: {"api": [], "driver": []} for e in ENDPOINTS}
    rows: dict[str, list[int]] = {e: [] for e in ENDPOINTS}
    floor: list[float] = []
    shuffle = random.Random(0).shuffle
    for i, (model_id, family_id, other_id) in enumerate(sample[:warmup] + sample):
        counted = i >= warmup
        endpoints = list(ENDPOINTS)
        shuffle(endpoints)  # a fresh order per sample: no endpoint always follows the same one
        for endpoint in endpoints:
            api, driver = _calls(client, store, endpoint, model_id, family_id, other_id)
            order = [("api", api), ("driver", driver)] if i % 2 == 0 else [("driver", driver), ("api", api)]
            got = {}
            for side, call in order:
                elapsed, got[side] = _timed(call)
                if counted:
                    times[endpoint][side].append(elapsed)
            if got["api"] != got["driver"]:
                raise RuntimeError(f"{endpoint} of {model_id!r}: the API answered {got['api']} rows, "
                                   f"the driver {got['driver']}")
            if counted:
                rows[endpoint].append(got["driver"])
        elapsed, _ = _timed(lambda: len(client.get("/health").raise_for_status().content))
        if counted:
            floor.append(elapsed)
    by_endpoint = {}
    for endpoint, sides in times.items():
        api, driver = _stats(sides["api"]), _stats(sides["driver"])
        by_endpoint[endpoint] = {"url": ENDPOINTS[endpoint][0], "queries": list(ENDPOINTS[endpoint][1]),
                                 "mean_rows": round(float(np.mean(rows[endpoint])), 1),
                                 "api_ms": api, "driver_ms": driver,
                                 "overhead_ms_p50": round(api["p50"] - driver["p50"], 3),
                                 "ratio_of_medians": round(api["p50"] / driver["p50"], 2)}
    pooled_api = [t for s in times.values() for t in s["api"]]
    pooled_driver = [t for s in times.values() for t in s["driver"]]
    ratios = [r["ratio_of_medians"] for r in by_endpoint.values()]
    overall = {"api_ms": _stats(pooled_api), "driver_ms": _stats(pooled_driver), "http_floor_ms": _stats(floor),
               "ratio_of_medians": round(float(np.median(pooled_api) / np.median(pooled_driver)), 2),
               "worst_endpoint_ratio": max(ratios), "target_ratio": TARGET_RATIO,
               "within_target": max(ratios) <= TARGET_RATIO}
    return {"endpoints": by_endpoint, "overall": overall}


def _measure_lean(port: int, store: GraphStore, sample: list[Sample], warmup: int) -> dict:
    lean = StdlibClient(port)
    try:
        return measure(lean, store, sample, warmup)
    finally:
        lean.close()


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=30)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", type=Path, required=True, help="a trained zoo (heritage zoo) to scan once")
    parser.add_argument("--copies", type=int, default=60, help="disjoint copies of the scan written to Neo4j")
    parser.add_argument("--samples", type=int, default=300, help="models sampled (each hits every endpoint)")
    parser.add_argument("--warmup", type=int, default=20, help="samples run first and not counted")
    parser.add_argument("--seed", type=int, default=0, help="seed of the model sample")
    parser.add_argument("--zoo-command", default=None, help="how the zoo was made, recorded as given")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    # cypher/model.cypher reads m.reason, a key only rejected inputs carry: on a graph without any,
    # Neo4j attaches an "unknown property key" notification to every answer, which the driver logs.
    logging.getLogger("neo4j.notifications").setLevel(logging.ERROR)
    env = dict(os.environ)
    env.setdefault("NEO4J_PASSWORD", "heritage-dev-password")
    settings = Neo4jSettings.from_env(env)
    result = replicate(Heritage().scan(args.zoo), args.copies)
    family_of = {m.id: m.family for m in result.models}
    members = {f.id: sorted(f.members) for f in result.families}
    ids = sorted(family_of)
    pick = random.Random(args.seed)
    sample = [(m, family_of[m], pick.choice([o for o in members[family_of[m]] if o != m] or [m]))
              for m in pick.sample(ids, min(args.samples, len(ids)))]
    with GraphStore.connect(settings) as store, tempfile.TemporaryDirectory() as tmp:
        _wipe(store)
        store.init_schema()
        store.write_result(result)
        # Resample the indexes and drop cached plans: a plan made on stale statistics (an index scan
        # where a seek is due) would otherwise be measured. Both sides then share fresh plans.
        store.driver.execute_query("CALL db.prepareForReplanning()", database_=store.settings.database)
        warmup = min(args.warmup, len(sample))
        port = _free_port()
        server = _serve(settings, port, Path(tmp) / "serve.log")
        try:
            measured = _measure_lean(port, store, sample, warmup)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                measured["httpx_client"] = measure(client, store, sample, warmup)
        finally:
            _stop(server)
        httpx_run = measured["httpx_client"]
        floor = httpx_run["overall"]["http_floor_ms"]["p50"] - measured["overall"]["http_floor_ms"]["p50"]
        httpx_run["client_cost_ms"] = round(floor, 3)
        server = _serve(settings, port, Path(tmp) / "framework.log", hot_reads=False)
        try:
            measured["without_hot_reads"] = _measure_lean(port, store, sample, warmup)
        finally:
            _stop(server)
        _wipe(store)
    record = header("api_latency", shlex.join(["python", "-m", "bench.api_latency", *(argv or sys.argv[1:])])) | {
        "server": f"heritage serve (uvicorn {version('uvicorn')}, one worker)",
        "client": f"http.client keep-alive (endpoints, overall, without_hot_reads); httpx {httpx.__version__} "
                  "(httpx_client)",
        "models": len(result.models), "edges": len(result.edges), "families": len(result.families),
        "samples": len(sample), "warmup": min(args.warmup, len(sample)), "seed": args.seed,
        "zoo_command": args.zoo_command,
    } | measured
    print(json.dumps(record, indent=2))
    save(record, args.out)
    return record


if __name__ == "__main__":
    main()
