"""Shared fixtures: the app on a real SQLite file and on a fresh PostgreSQL schema, and a live
`commentd serve` subprocess for end-to-end tests over HTTP."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from commentd.config import Settings
from commentd.db import make_engine
from commentd.models import CommentStatus
from commentd.ops.migrate import upgrade
from commentd.web.app import create_app
from commentd.web.services import of as services_of
from tests.helpers import (
    ADMIN_TOKEN,
    LIFTED_LIMITS,
    SLUG,
    LiveServer,
    moderate,
    port_of,
    refusing_socket,
    serve_environment,
    start_server,
)
from tests.helpers import (
    post_comment as post_comment_through,
)
from tests.receivers import Mailbox, WebhookReceiver

POSTGRES_SERVER = os.environ.get(
    "COMMENTD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
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
    held = checked_out(engine)
    engine.dispose()
    assert held == 0, "a database connection of the test's engine was never given back"


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
        # Proof of work off: the test client cannot solve in a browser; the proof-of-work tests
        # (test_proof_of_work.py) turn it on and solve with ALTCHA's own solver.
        pow_max_number=0,
    )


def checked_out(engine: Engine) -> int:
    """How many of `engine`'s pooled connections are in use (0 for a pool that keeps none)."""
    count = getattr(engine.pool, "checkedout", None)
    return int(count()) if count is not None else 0


@pytest.fixture
def make_app(migrated_engine: Engine, settings: Settings) -> Iterator[Callable[..., Flask]]:
    """create_app() on the migrated test database, with any Settings field overridden."""
    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        apps.append(create_app(replace(settings, **overrides)))
        return apps[-1]

    yield make
    held = []
    for app in apps:
        engine = services_of(app).engine
        # The page cache's reads have a pool of their own on PostgreSQL (db.make_reader).
        held.append(checked_out(engine) + checked_out(services_of(app).page_cache.reader))
        engine.dispose()
    # A connection still out when the test ends outlives dispose() and is closed only when the
    # garbage collector finds it, failing whichever later test is running then.
    assert held == [0] * len(apps), "a database connection of the app was never given back"


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


@pytest.fixture
def post_comment(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    """POST a comment through the API and return its 201 JSON (fails on anything else)."""

    def post(slug: str = SLUG, **fields: Any) -> dict[str, Any]:
        return post_comment_through(client, slug, **fields)

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
            moderate(client, comment_id, action)
        return comment_id

    return make


@pytest.fixture
def serve_env(database_url: str) -> dict[str, str]:
    """The environment a live server gets by default; tests add to it."""
    return serve_environment(database_url)


@pytest.fixture
def live_server(serve_env: dict[str, str], tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(serve_env, tmp_path)
    yield server
    server.stop()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One `commentd serve` per database for a whole module's case tables (hostile inputs,
    say): each case needs a real server's answer, not a server of its own. Every posting
    limit is lifted (LIFTED_LIMITS), since the cases all come from one address."""
    workdir = tmp_path_factory.mktemp("shared-server")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'commentd.db'}"
    else:
        make: Callable[[], str] = request.getfixturevalue("postgres_schema_url")
        url = make()
    server = start_server(serve_environment(url) | LIFTED_LIMITS, workdir)
    yield server
    server.stop()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on a port of its own; Mailbox.url for COMMENTD_SMTP_URL."""
    box = Mailbox().start()
    yield box
    box.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A real HTTP server recording webhooks; WebhookReceiver.url for COMMENTD_WEBHOOK_URL."""
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port of 127.0.0.1 that refuses every connection for the whole test: bound and never
    listening, so no other process can take it meanwhile."""
    sock = refusing_socket()
    yield port_of(sock)
    sock.close()
