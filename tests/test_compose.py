"""docker-compose.yml and Dockerfile, read statically (no Docker engine here) and checked against the code they run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from api.settings import ServiceSettings
from heritage.cli import build_parser
from heritage.graph import Neo4jSettings

ROOT = Path(__file__).resolve().parents[1]
SECRETS = ("NEO4J_PASSWORD", "HERITAGE_API_KEY")
REQUIRED = re.compile(r"^\$\{(\w+):\?[^}]+\}$")  # ${VAR:?message}: compose refuses to start without VAR


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(word.upper(), rest.strip()) for word, _, rest in (line.partition(" ") for line in lines)]


def _resolved(env: dict[str, str]) -> dict[str, str]:
    """The service environment as the container sees it once compose has interpolated the required secrets."""
    return {key: REQUIRED.sub(lambda m: f"value-of-{m.group(1)}", str(value)) for key, value in env.items()}


def test_neo4j_is_5_26_community_with_a_healthcheck_and_named_volumes(compose):
    neo4j = compose["services"]["neo4j"]
    assert neo4j["image"] == "neo4j:5.26-community"
    assert "cypher-shell" in " ".join(neo4j["healthcheck"]["test"])
    assert {v.split(":")[1] for v in neo4j["volumes"]} == {"/data", "/logs"}
    assert any(p.endswith(":7474") for p in neo4j["ports"]) and any(p.endswith(":7687") for p in neo4j["ports"])
    # The image turns every NEO4J_* variable except a few (NEO4J_AUTH among them) into a neo4j.conf setting,
    # and Neo4j 5 refuses to start on an unknown one: the healthcheck reads the password from NEO4J_AUTH.
    assert set(neo4j["environment"]) == {"NEO4J_AUTH"}


def test_api_waits_for_a_healthy_neo4j_and_checks_its_own_readiness(compose):
    api = compose["services"]["api"]
    assert api["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert "/ready" in " ".join(api["healthcheck"]["test"])
    assert api["restart"] == "unless-stopped"
    assert "heritage-data:/data" in api["volumes"]


def test_secrets_have_no_default_anywhere(compose):
    raw = (ROOT / "docker-compose.yml").read_text()
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"[^}]*\}", raw)
        assert uses, f"{name} is not used"
        assert all(REQUIRED.match(use) for use in uses), f"{name} must be required (${{{name}:?...}}): {uses}"
    assert REQUIRED.match(compose["services"]["neo4j"]["environment"]["NEO4J_AUTH"].removeprefix("neo4j/"))
    for name in SECRETS:
        assert REQUIRED.match(compose["services"]["api"]["environment"][name])
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert example == dict.fromkeys(SECRETS, "")  # placeholders only, never a real value


def test_named_volumes_are_declared(compose):
    used = {v.split(":")[0] for service in compose["services"].values() for v in service.get("volumes", [])}
    assert all(not name.startswith((".", "/")) for name in used)  # named volumes, no bind mounts
    assert used == set(compose["volumes"]) == {"neo4j-data", "neo4j-logs", "heritage-data"}


def test_api_environment_is_what_the_code_reads(compose):
    env = _resolved(compose["services"]["api"]["environment"])
    neo4j = Neo4jSettings.from_env(env)
    assert (neo4j.uri, neo4j.user, neo4j.password) == ("bolt://neo4j:7687", "neo4j", "value-of-NEO4J_PASSWORD")
    service = ServiceSettings.from_env(env)
    assert (service.api_key, service.data_dir) == ("value-of-HERITAGE_API_KEY", Path("/data"))


def test_dockerfile_runs_heritage_serve_as_a_non_root_user(dockerfile, compose):
    assert dockerfile[0] == ("FROM", "python:3.11-slim")
    users = [args for word, args in dockerfile if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    cmd = json.loads(next(args for word, args in reversed(dockerfile) if word == "CMD"))
    assert cmd[:2] == ["heritage", "serve"]
    args = build_parser().parse_args(cmd[1:])
    assert args.host == "0.0.0.0"
    assert ("EXPOSE", str(args.port)) in dockerfile
    assert any(p.endswith(f":{args.port}") for p in compose["services"]["api"]["ports"])


def test_image_finds_the_cypher_files(dockerfile):
    # A non-editable install looks for cypher/ beside site-packages; the image points HERITAGE_CYPHER_DIR at its copy.
    workdir = next(args for word, args in dockerfile if word == "WORKDIR")
    assert ("COPY", "cypher/ cypher/") in dockerfile
    env = " ".join(args for word, args in dockerfile if word == "ENV")
    assert f"HERITAGE_CYPHER_DIR={workdir}/cypher" in env
    assert "download.pytorch.org/whl/cpu" in " ".join(args for word, args in dockerfile if word == "ARG")
