"""The Neo4j graph store: scan results as graph updates, named Cypher queries, schema.

``GraphStore`` is imported on first use: the Neo4j driver (and pandas, which it pulls in) costs
about 0.4 s, which a scan that never touches the graph should not pay (``heritage.graph.queries``
only reads the ``cypher/`` files).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from heritage.graph.settings import Neo4jSettings

if TYPE_CHECKING:
    from heritage.graph.store import GraphStore

__all__ = ["GraphStore", "Neo4jSettings"]


def __getattr__(name: str) -> Any:
    if name == "GraphStore":
        from heritage.graph.store import GraphStore

        return GraphStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
