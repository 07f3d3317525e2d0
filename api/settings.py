"""Service settings from the environment (the API reads them at startup; the engine never does).

``HERITAGE_API_KEY``: the key write endpoints require in the ``X-API-Key`` header. No default: when
it is unset, write endpoints answer 503 (the service refuses writes rather than accept anyone).
``HERITAGE_DATA_DIR``: where uploaded checkpoints live and what a recluster scans (default ``./data``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ServiceSettings:
    api_key: str | None = field(default=None, repr=False)
    data_dir: Path = Path("data")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServiceSettings:
        env = os.environ if env is None else env
        return cls(api_key=env.get("HERITAGE_API_KEY") or None, data_dir=Path(env.get("HERITAGE_DATA_DIR", "data")))
