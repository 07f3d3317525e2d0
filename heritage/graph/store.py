"""Scan results as Neo4j graph updates, and the named lineage queries.

Writes are batched (``UNWIND $rows``, ``batch_size`` rows per statement) and made in one
transaction per family, through the driver's managed transactions, which retry transient
errors with backoff. If the database goes away mid-write, the families already committed stay
intact, the family being written is left unchanged (its transaction rolls back), and
:class:`GraphStoreUnavailableError` says how far the write got.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import PurePosixPath
from typing import Any, TypeVar

import numpy as np
from neo4j import Driver, GraphDatabase, ManagedTransaction, RoutingControl
from neo4j.exceptions import AuthError, DriverError, Neo4jError, ServiceUnavailable, SessionExpired

from heritage.exceptions import ConfigurationError, GraphStoreUnavailableError
from heritage.graph import queries
from heritage.graph.settings import Neo4jSettings
from heritage.result import FamilyRecord, HeritageResult, ModelRecord

log = logging.getLogger(__name__)
T = TypeVar("T")
_GONE = (ServiceUnavailable, SessionExpired, DriverError, OSError)


@dataclass
class WriteReport:
    run_id: str
    families: int
    models: int
    edges: int
    rejected: int
    pruned_families: int


class GraphStore:
    """One injected :class:`neo4j.Driver` and the database to use."""

    def __init__(self, driver: Driver, settings: Neo4jSettings) -> None:
        self.driver = driver
        self.settings = settings

    @classmethod
    def connect(cls, settings: Neo4jSettings) -> GraphStore:
        """Open a driver and check that the server answers and accepts the credentials."""
        driver = GraphDatabase.driver(settings.uri, auth=(settings.user, settings.password),
                                      connection_timeout=10.0,
                                      max_transaction_retry_time=settings.retry_seconds,
                                      notifications_min_severity="OFF")  # e.g. "unknown property" on every read
        try:
            driver.verify_connectivity()
        except AuthError as exc:
            driver.close()
            raise GraphStoreUnavailableError(
                f"Neo4j at {settings.uri} refused the credentials of user {settings.user!r}: check NEO4J_USER "
                "and NEO4J_PASSWORD") from exc
        except (*_GONE, Neo4jError) as exc:
            driver.close()
            raise GraphStoreUnavailableError(f"cannot reach Neo4j at {settings.uri}: {_one_line(exc)}") from exc
        return cls(driver, settings)

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------------------
    def init_schema(self) -> int:
        """Apply ``cypher/schema.cypher`` (idempotent); returns the number of statements run."""
        statements = queries.statements("schema")
        for statement in statements:
            self._guard(partial(self.driver.execute_query, statement, database_=self.settings.database),
                        "applying the schema")
        return len(statements)

    # -- writes ---------------------------------------------------------------------------------------
    def write_result(self, result: HeritageResult,
                     on_family_written: Callable[[str], None] | None = None) -> WriteReport:
        """Write a scan: one transaction per family, then rejected inputs, empty families, the Run node."""
        run_id = f"run-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        now = _now()
        by_family: dict[str, list[ModelRecord]] = {}
        for model in result.models:
            by_family.setdefault(model.family, []).append(model)
        edges_of = {e.child: e for e in result.edges}
        written: list[str] = []
        with self.driver.session(database=self.settings.database) as session:
            for family in result.families:
                members = by_family.get(family.id, [])
                edges = [edges_of[m.id] for m in members if m.id in edges_of]

                def work(tx: ManagedTransaction, family: FamilyRecord = family,
                         members: list[ModelRecord] = members, edges: list = edges) -> None:
                    self._write_family(tx, family, members, edges, run_id, now)

                try:
                    session.execute_write(work)
                except _GONE as exc:
                    error = GraphStoreUnavailableError(
                        f"Neo4j at {self.settings.uri} went away while writing family {family.id!r}: {_one_line(exc)}. "
                        f"{len(written)} of {len(result.families)} families were written and are intact; "
                        "that family and the rest are unchanged")
                    error.families_written = tuple(written)
                    raise error from exc
                written.append(family.id)
                if on_family_written:
                    on_family_written(family.id)
            rejected_rows = [{"id": r.id, "name": _name(r.id), "reason": r.reason, "kind": r.kind}
                             for r in result.rejected]
            try:
                pruned = self._guard(lambda: session.execute_write(self._finish, rejected_rows, run_id, now, result),
                                     "recording the run (every family was written)")
            except GraphStoreUnavailableError as error:
                error.families_written = tuple(written)
                raise
        return WriteReport(run_id, len(written), len(result.models), len(result.edges), len(result.rejected), pruned)

    def _write_family(self, tx: ManagedTransaction, family: FamilyRecord, members: list[ModelRecord],
                      edges: list, run_id: str, now: str) -> None:
        """All members first, then all edges, in statements of at most ``batch_size`` rows each."""
        node = {"id": family.id, "size": len(family.members), "root_id": family.root, "medoid_id": family.medoid}
        hue = family_hue(family.id)
        rows = [{"id": m.id, "parent": m.parent, "props": _model_props(m), "labels": [size_label(m.num_params), hue]}
                for m in members]
        edge_rows = [{"parent": e.parent, "child": e.child, "distance": e.distance, "confidence": e.confidence,
                      "method": e.method} for e in edges]
        for member_batch, edge_batch in _statements(rows, edge_rows, self.settings.batch_size):
            tx.run(queries.load("write_family"), family=node, rows=member_batch, edges=edge_batch,
                   run_id=run_id, now=now, display_labels=DISPLAY_LABELS).consume()

    def _finish(self, tx: ManagedTransaction, rejected: list[dict], run_id: str, now: str,
                result: HeritageResult) -> int:
        for batch in _batches(rejected, self.settings.batch_size):
            tx.run(queries.load("write_rejected"), rows=batch, run_id=run_id, now=now).consume()
        pruned = tx.run(queries.load("prune_families")).single()
        tx.run(queries.load("write_run"), id=run_id, started_at=now, finished_at=_now(),
               params=json.dumps(result.run.get("params", {}), sort_keys=True),
               metrics=json.dumps({"seconds": result.run.get("seconds", {}), "counts": result.run.get("counts", {})},
                                  sort_keys=True)).consume()
        return int(pruned["pruned"]) if pruned else 0

    def delete_model(self, model_id: str) -> None:
        """Remove one model node and its relationships (its family goes too if it was the last member)."""
        self._guard(lambda: self.driver.execute_query(queries.load("delete_model"), {"id": model_id},
                                                      database_=self.settings.database),
                    f"deleting model {model_id!r}")

    # -- reads ----------------------------------------------------------------------------------------
    def query(self, name: str, /, **params: object) -> list[dict[str, Any]]:
        """Run a named query (``cypher/<name>.cypher``) and return its rows as dicts.

        ``name`` is positional-only, so a query may take a parameter called ``name`` too. Rows whose
        every value is null are dropped: the per-model queries answer with one such row for a model
        that exists but has no relatives (see :meth:`query_anchored`).
        """
        rows = self.query_anchored(name, **params)
        return rows or []

    def query_anchored(self, name: str, /, **params: object) -> list[dict[str, Any]] | None:
        """Like :meth:`query`, but ``None`` when the query returned no row at all.

        For the per-model queries (they match the model first, then ``OPTIONAL MATCH`` its
        relatives) ``None`` means the model does not exist and ``[]`` that it has no relatives:
        one round trip answers both.
        """
        if name not in queries.QUERIES:
            raise ConfigurationError(f"unknown query {name!r}; choose one of: {', '.join(sorted(queries.QUERIES))}")
        missing = [p for p in queries.QUERIES[name] if p not in params]
        if missing:
            raise ConfigurationError(f"query {name!r} needs parameter(s): {', '.join(missing)}")
        records = self._guard(lambda: self.driver.execute_query(
            queries.load(name), params, database_=self.settings.database, routing_=RoutingControl.READ).records,
            f"running query {name!r}")
        if not records:
            return None
        # Named queries return plain values (no nodes), so dict(record) is all the conversion needed.
        return [row for row in map(dict, records) if any(value is not None for value in row.values())]

    def ping(self) -> None:
        """Raise :class:`GraphStoreUnavailableError` unless the database answers now."""
        self._guard(lambda: self.driver.execute_query("RETURN 1", database_=self.settings.database,
                                                      routing_=RoutingControl.READ), "checking readiness")

    def stats(self) -> dict[str, Any]:
        return self.query("statistics")[0]

    def _guard(self, call: Callable[[], T], doing: str) -> T:
        try:
            return call()
        except _GONE as exc:
            raise GraphStoreUnavailableError(
                f"Neo4j at {self.settings.uri} is unavailable while {doing}: {_one_line(exc)}") from exc


# Display-only labels, so Neo4j Browser (which styles by label alone) can size models by parameter
# count and colour them by family: Params1K .. Params100B (decade of the parameter count) and
# Hue0 .. Hue11 (a stable hash of the family id). Queries never depend on them.
SIZE_LABELS = [f"Params{s}" for s in ("1K", "10K", "100K", "1M", "10M", "100M", "1B", "10B", "100B")]
HUES = 12
DISPLAY_LABELS = SIZE_LABELS + [f"Hue{k}" for k in range(HUES)]


def size_label(num_params: int) -> str:
    decade = int(np.floor(np.log10(max(num_params, 1))))
    return SIZE_LABELS[min(max(decade - 3, 0), len(SIZE_LABELS) - 1)]


def family_hue(family_id: str) -> str:
    return f"Hue{int(hashlib.sha256(family_id.encode()).hexdigest(), 16) % HUES}"


def _model_props(m: ModelRecord) -> dict[str, object]:
    return {"name": _name(m.id), "path": m.path, "sha256": m.sha256, "format": m.format,
            "architecture": m.architecture, "num_params": m.num_params, "kurtosis": m.kurtosis,
            "weight_norm": m.weight_norm}


def _name(model_id: str) -> str:
    return PurePosixPath(model_id).name or model_id


def _statements(rows: list, edges: list, size: int) -> Iterator[tuple[list, list]]:
    """(member batch, edge batch) per statement: a family that fits one batch is one statement."""
    member_batches = list(_batches(rows, size)) or [[]]
    edge_batches = list(_batches(edges, size)) or [[]]
    for batch in member_batches[:-1]:
        yield batch, []
    yield member_batches[-1], edge_batches[0]
    for batch in edge_batches[1:]:
        yield [], batch


def _batches(rows: list, size: int) -> Iterator[list]:
    for start in range(0, len(rows), max(size, 1)):
        yield rows[start:start + size]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
