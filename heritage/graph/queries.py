"""Cypher kept in ``cypher/*.cypher`` files and loaded by name; parameters are always ``$param``."""

from __future__ import annotations

import os
import re
import sys
from functools import cache
from pathlib import Path

from heritage.exceptions import ConfigurationError

# Named queries users may run (`heritage query NAME`), with the parameters each needs.
QUERIES: dict[str, tuple[str, ...]] = {
    "parent": ("id",), "children": ("id",), "ancestors": ("id",), "descendants": ("id",), "root": ("id",),
    "siblings": ("id",), "path": ("a", "b"), "lca": ("a", "b"), "family_tree": ("family",),
    "family_members": ("family",), "families": (), "statistics": (),
    "model": ("id",), "models": ("name", "family", "skip", "limit"), "family": ("family",),
    "model_by_sha": ("sha256",),
}
_NAME = re.compile(r"^[a-z_]+$")


def cypher_dir() -> Path:
    """``HERITAGE_CYPHER_DIR``, else ``cypher/`` beside the package (a source checkout), else the copy
    a non-editable install puts in ``<prefix>/share/model-heritage/cypher``."""
    override = os.environ.get("HERITAGE_CYPHER_DIR")
    if override:
        return Path(override)
    checkout = Path(__file__).resolve().parents[2] / "cypher"
    return checkout if checkout.is_dir() else Path(sys.prefix) / "share" / "model-heritage" / "cypher"


@cache
def load(name: str) -> str:
    """The text of ``cypher/<name>.cypher``, comments kept (Neo4j ignores ``//`` lines)."""
    if not _NAME.match(name):
        raise ConfigurationError(f"invalid query name {name!r}")
    path = cypher_dir() / f"{name}.cypher"
    if not path.is_file():
        raise ConfigurationError(f"no Cypher file for {name!r} at {path}")
    return path.read_text()


def statements(name: str) -> list[str]:
    """A multi-statement file (the schema) split on ``;`` at line ends, comments dropped."""
    body = "\n".join(line for line in load(name).splitlines() if not line.strip().startswith("//"))
    return [s.strip() for s in re.split(r";\s*$", body, flags=re.MULTILINE) if s.strip()]
