"""The browser tests write to the same Neo4j as the graph tests, through the same fixtures."""

from tests.graph.conftest import graph_settings, store  # noqa: F401
