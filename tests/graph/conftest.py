"""Graph-store fixtures: a real Neo4j (started by scripts/test or .ci/run), wiped before each test."""

from __future__ import annotations

import contextlib
import os
import socket
import threading

import pytest

from heritage import Heritage
from heritage.graph import GraphStore, Neo4jSettings


@pytest.fixture(scope="session")
def graph_settings() -> Neo4jSettings:
    env = dict(os.environ)
    env.setdefault("NEO4J_PASSWORD", "heritage-dev-password")  # scripts/neo4j's development default
    return Neo4jSettings.from_env(env)


@pytest.fixture
def store(graph_settings: Neo4jSettings):
    """A connected store on an empty database with the schema applied."""
    with GraphStore.connect(graph_settings) as graph:
        graph.driver.execute_query("MATCH (n) DETACH DELETE n", database_=graph_settings.database)
        graph.init_schema()
        yield graph


@pytest.fixture(scope="session")
def scanned_zoo(genealogy_zoo):
    """``(mode, zoo_dir, result)``: the engine's result on a trained genealogy zoo."""
    mode, zoo, _ = genealogy_zoo
    return mode, zoo, Heritage().scan(zoo)


class CuttableProxy:
    """A TCP relay to the real server that a test can cut, to make the database go away mid-write."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.cut_ = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut_.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_.is_set():
                client.close()
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Close the listener and every relayed connection: from now on the server is unreachable."""
        self.cut_.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in the relay thread
        self.listener.close()
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@pytest.fixture
def proxy(graph_settings: Neo4jSettings):
    host_port = graph_settings.uri.split("://", 1)[1]
    host, port = host_port.rsplit(":", 1)
    relay = CuttableProxy(host, int(port))
    yield relay
    relay.cut()
