"""API fixtures: the app over a real Neo4j holding a scanned, trained zoo."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from heritage import Heritage
from heritage.graph import GraphStore
from tests.graph.conftest import graph_settings, store  # noqa: F401  (the graph tests' fixtures)


@pytest.fixture
def scanned(store: GraphStore, genealogy_zoo):  # noqa: F811
    """``(client, result)``: the API over an empty database that then got one scan of a trained zoo."""
    _, zoo, _ = genealogy_zoo
    result = Heritage().scan(zoo)
    store.write_result(result)
    with TestClient(create_app(store)) as client:
        yield client, result
