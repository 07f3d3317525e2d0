"""Service settings from the environment (the API reads them at startup; the engine never does).

``HERITAGE_API_KEY``: the key write endpoints require in the ``X-API-Key`` header. No default: when
it is unset, write endpoints answer 503 (the service refuses writes rather than accept anyone).
``HERITAGE_DATA_DIR``: where uploaded checkpoints live and what a recluster scans (default ``./data``).
``HERITAGE_MAX_UPLOAD_BYTES``: largest upload, and largest unpacked archive (default 8 GiB); more is 413.
``HERITAGE_RELATEDNESS_COSINE``: the similarity floor for joining a family, in placement and in
recluster (default 0.2; see :mod:`heritage.placement`).
``HERITAGE_JOB_WORKERS``: background jobs run at once (default 2; families are locked one by one).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from heritage.config import HeritageConfig
from heritage.exceptions import ConfigurationError


@dataclass(frozen=True)
class ServiceSettings:
    api_key: str | None = field(default=None, repr=False)
    data_dir: Path = Path("data")
    max_upload_bytes: int = 8 * 2**30
    relatedness_cosine: float = 0.2
    job_workers: int = 2

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServiceSettings:
        env = os.environ if env is None else env
        try:
            return cls(api_key=env.get("HERITAGE_API_KEY") or None,
                       data_dir=Path(env.get("HERITAGE_DATA_DIR", "data")),
                       max_upload_bytes=int(env.get("HERITAGE_MAX_UPLOAD_BYTES", 8 * 2**30)),
                       relatedness_cosine=float(env.get("HERITAGE_RELATEDNESS_COSINE", 0.2)),
                       job_workers=int(env.get("HERITAGE_JOB_WORKERS", 2)))
        except ValueError as exc:
            raise ConfigurationError(f"bad HERITAGE_* setting: {exc}") from exc

    def engine_config(self) -> HeritageConfig:
        return HeritageConfig(relatedness_cosine=self.relatedness_cosine)
