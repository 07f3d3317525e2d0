"""Connection settings, read from the environment by the entry points (CLI, API) only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from heritage.exceptions import ConfigurationError


@dataclass(frozen=True)
class Neo4jSettings:
    uri: str = "bolt://127.0.0.1:7687"
    user: str = "neo4j"
    password: str = field(default="", repr=False)
    database: str = "neo4j"
    batch_size: int = 1000
    retry_seconds: float = 15.0  # how long managed transactions retry transient errors (with backoff)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Neo4jSettings:
        """``NEO4J_URI``, ``NEO4J_USER``, ``NEO4J_PASSWORD`` (required: no default), ``NEO4J_DATABASE``."""
        env = os.environ if env is None else env
        password = env.get("NEO4J_PASSWORD", "")
        if not password:
            raise ConfigurationError("NEO4J_PASSWORD is not set; export the Neo4j password (no default is used)")
        return cls(uri=env.get("NEO4J_URI", cls.uri), user=env.get("NEO4J_USER", cls.user), password=password,
                   database=env.get("NEO4J_DATABASE", cls.database),
                   batch_size=int(env.get("HERITAGE_NEO4J_BATCH", cls.batch_size)))
