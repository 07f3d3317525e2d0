"""The Neo4j graph store: scan results as graph updates, named Cypher queries, schema."""

from heritage.graph.settings import Neo4jSettings
from heritage.graph.store import GraphStore

__all__ = ["GraphStore", "Neo4jSettings"]
