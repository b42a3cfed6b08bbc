"""The deployment files (compose, Dockerfile, .env.example, .dockerignore) agree with the
service."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from commentd.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_commentd_on_postgresql_and_redis_once_both_are_healthy() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "commentd"}
    app = services["commentd"]
    assert app["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert app["environment"]["COMMENTD_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert app["environment"]["COMMENTD_DATABASE_URL"].endswith("@postgres:5432/commentd")
    assert app["environment"]["COMMENTD_RATELIMIT_STORAGE_URI"] == "redis://redis:6379/0"
    assert app["ports"] == ["127.0.0.1:${COMMENTD_PORT:-8080}:8080"]  # behind the proxy only
    for name, service in services.items():
        assert "test" in service["healthcheck"], name
        assert service["restart"] == "unless-stopped", name
    assert services["postgres"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert set(compose()["volumes"]) == {"postgres-data", "commentd-data"}


def test_dockerfile_runs_serve_as_a_user_who_is_not_root_with_a_healthcheck() -> None:
    instructions = [
        line.split(None, 1)
        for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    final_stage = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]
    ops = {op: arg for op, arg in final_stage}
    assert ops["FROM"].startswith("python:3.12-slim")
    assert ops["USER"].split(":")[0] not in {"root", "0"}
    assert "/healthz" in ops["HEALTHCHECK"]
    # -OO: a smaller worker (tests/live/test_optimized_serve.py serves this way).
    assert json.loads(ops["CMD"]) == [
        *("python", "-OO", "-m", "commentd"),
        *("serve", "--host", "0.0.0.0", "--port", "8080"),
    ]
    # Its .opt-2.pyc files are compiled into the image: PYTHONDONTWRITEBYTECODE is set.
    assert "compileall -q -o 2 /usr/local/lib/python3.12" in ops["RUN"]
    assert "PYTHONDONTWRITEBYTECODE=1" in ops["ENV"]
    assert compose()["services"]["commentd"]["healthcheck"]["test"][-1] in ops["HEALTHCHECK"]


def test_env_example_holds_only_settings_the_service_reads_and_valid_values() -> None:
    pairs = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    known = {f"COMMENTD_{field.name.upper()}" for field in fields(Settings)}
    assert {name for name in pairs if name.startswith("COMMENTD_")} - known == {"COMMENTD_PORT"}
    settings = Settings.from_env(pairs)  # raises ConfigError on any unusable value
    assert settings.trusted_proxies == 1
    assert settings.allowed_origins == ("https://blog.example.org",)


def test_dockerignore_sends_only_the_build_inputs() -> None:
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[lines.index("*")] == "*"
    assert {"!pyproject.toml", "!README.md", "!service/", "!migrations/"} <= set(lines)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded
