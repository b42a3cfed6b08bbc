"""Shared fixtures: the app on a real SQLite file and on a fresh PostgreSQL schema, and a live
`commentd serve` subprocess for end-to-end tests over HTTP."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from commentd.config import Settings
from commentd.db import make_engine
from commentd.models import Comment, CommentStatus
from commentd.ops.migrate import upgrade
from commentd.web.app import create_app
from commentd.web.services import of as services_of

POSTGRES_SERVER = os.environ.get(
    "COMMENTD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
ADMIN_TOKEN = "test-admin-token-0123456789"
# CI sets this: a test that would skip (say, PostgreSQL unreachable) fails instead.
REQUIRE_ALL = os.environ.get("COMMENTD_REQUIRE_ALL_TESTS") == "1"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under COMMENTD_REQUIRE_ALL_TESTS=1 a skipped test is reported as a failed one."""
    report = yield
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, but CI requires every test to run: {report.longrepr}"
    return report


def postgres_available() -> bool:
    try:
        psycopg.connect(POSTGRES_SERVER, connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[Callable[[], str]]:
    """Makes SQLAlchemy URLs that each point into a fresh schema of the `test` database."""
    if not postgres_available():
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_SERVER}")
    schemas: list[str] = []

    def make() -> str:
        schema = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(POSTGRES_SERVER, autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA {schema}")
        schemas.append(schema)
        base = POSTGRES_SERVER.replace("postgresql://", "postgresql+psycopg://", 1)
        return f"{base}?options=-csearch_path%3D{schema}"

    yield make
    with psycopg.connect(POSTGRES_SERVER, autocommit=True) as connection:
        for schema in schemas:
            connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that uses the database runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'commentd.db'}"
    make: Callable[[], str] = request.getfixturevalue("postgres_schema_url")
    return make()


@pytest.fixture
def migrated_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        public_url="https://comments.example",
        allowed_origins=("https://blog.example",),
        post_rate_limit="1000 per minute",
        site_rate_limit="1000 per minute",
        min_fill_seconds=0,
        # Tests post many comments quickly from one address and email, often with the same
        # text; the spam tests set these limits and the duplicate rule back where they test them.
        email_rate_limit="1000 per minute",
        slug_rate_limit="1000 per minute",
        min_post_interval=0,
        duplicate_window_seconds=0,
    )


@pytest.fixture
def make_app(migrated_engine: Engine, settings: Settings) -> Iterator[Callable[..., Flask]]:
    """create_app() on the migrated test database, with any Settings field overridden."""
    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        apps.append(create_app(replace(settings, **overrides)))
        return apps[-1]

    yield make
    for app in apps:
        services_of(app).engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db_session(migrated_engine: Engine) -> Iterator[Session]:
    """A session for looking at what was stored; `stored_comment` starts a fresh snapshot."""
    with Session(migrated_engine, expire_on_commit=False) as session:
        yield session


MODERATOR = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def comment_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": "Dana", "email": "dana@example.com", "body": "Pigeon pose!"}
    fields.update(overrides)
    return fields


@pytest.fixture
def post_comment(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    """POST a comment through the API and return its 201 JSON (fails on anything else)."""

    def post(slug: str = "gluteus-medius", **fields: Any) -> dict[str, Any]:
        response = client.post(f"/api/posts/{slug}/comments", json=comment_fields(**fields))
        assert response.status_code == 201, response.json
        assert response.json is not None
        return response.json

    return post


@pytest.fixture
def make_comment(
    client: FlaskClient, post_comment: Callable[..., dict[str, Any]]
) -> Callable[..., int]:
    """A comment posted through the API, then moved to `status` by the moderation API."""

    def make(status: CommentStatus = CommentStatus.APPROVED, **fields: Any) -> int:
        comment_id = int(post_comment(**fields)["id"])
        if status is not CommentStatus.PENDING:
            action = {"approved": "approve", "rejected": "reject", "spam": "spam"}[status.value]
            response = client.post(
                f"/api/moderation/comments/{comment_id}/{action}", headers=MODERATOR
            )
            assert response.status_code == 200
        return comment_id

    return make


def stored_comment(session: Session, comment_id: int) -> Comment | None:
    session.rollback()  # end any earlier snapshot: see what the app has committed since
    return session.get(Comment, comment_id)


# --- a real `commentd serve` -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, as an init system would; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


SERVE_COMMAND = (sys.executable, "-m", "commentd.ops.cli", "serve")


def start_server(env: dict[str, str], workdir: Path, *, port: int | None = None) -> LiveServer:
    """Start `commentd serve` with exactly `env` (plus PATH) and wait until /healthz answers."""
    port = port or free_port()
    log_path = workdir / f"serve-{port}.log"
    full_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")} | env
    with log_path.open("w") as log_file:  # the child keeps its own handle
        process = subprocess.Popen(
            [*SERVE_COMMAND, "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"commentd serve exited:\n{log_path.read_text()}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return LiveServer(url, process, log_path)
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"commentd serve did not answer in time:\n{log_path.read_text()}")


# Every posting limit and the duplicate rule off: for tests that post many comments quickly
# from one address and one email (throughput, faults, backups), not for the limits' own tests.
LIFTED_LIMITS = {
    "COMMENTD_POST_RATE_LIMIT": "100000 per minute",
    "COMMENTD_SITE_RATE_LIMIT": "100000 per minute",
    "COMMENTD_EMAIL_RATE_LIMIT": "100000 per minute",
    "COMMENTD_SLUG_RATE_LIMIT": "100000 per minute",
    "COMMENTD_MIN_POST_INTERVAL": "0",
    "COMMENTD_DUPLICATE_WINDOW_SECONDS": "0",
}


@pytest.fixture
def serve_env(database_url: str) -> dict[str, str]:
    """The environment a live server gets by default; tests add to it."""
    return {
        "COMMENTD_DATABASE_URL": database_url,
        "COMMENTD_ADMIN_TOKEN": ADMIN_TOKEN,
        "COMMENTD_ALLOWED_ORIGINS": "https://blog.example",
        "COMMENTD_MIN_FILL_SECONDS": "0",
        "COMMENTD_MIN_POST_INTERVAL": "0",
        "COMMENTD_EMAIL_RATE_LIMIT": "1000 per minute",
        "COMMENTD_SLUG_RATE_LIMIT": "1000 per minute",
        "COMMENTD_DUPLICATE_WINDOW_SECONDS": "0",
    }


@pytest.fixture
def live_server(serve_env: dict[str, str], tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(serve_env, tmp_path)
    yield server
    server.stop()
