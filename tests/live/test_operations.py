"""Operations: JSON logs with request ids, /metrics over several workers, backups, and the
container files (checked by parsing them: no Docker engine runs here)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench.floor import Base as FloorBase
from bench.floor import FloorComment, floor_app
from bench.seed import seed
from commentd.comments.validation import HONEYPOT_FIELD
from commentd.config import Settings
from commentd.db import make_engine
from commentd.models import Comment, CommentStatus, Post
from commentd.web.app import create_app
from commentd.web.services import of as services_of
from tests.conftest import POSTGRES_SERVER
from tests.helpers import LIFTED_LIMITS, LiveServer, comment_fields, post_live, start_server
from tests.private_servers import SHARED_REDIS, forget_prefix, redis_available, unique_prefix

# Posts to the slug "pose" of a live server; the answer unchecked.
post = partial(post_live, slug="pose")


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def samples(metrics_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    response = requests.get(metrics_url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


@pytest.fixture
def shared_redis_prefix() -> Iterator[str]:
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {SHARED_REDIS}")
    prefix = unique_prefix()
    yield prefix
    forget_prefix(SHARED_REDIS, prefix)


def test_every_log_line_is_json_and_a_request_keeps_the_id_it_was_given(
    live_server: LiveServer,
) -> None:
    given = requests.get(
        f"{live_server.url}/api/posts/pose/comments",
        headers={"X-Request-Id": "proxy-id-12345678"},
        timeout=10,
    )
    made = requests.get(f"{live_server.url}/api/counts?slug=pose", timeout=10)
    assert given.headers["X-Request-Id"] == "proxy-id-12345678"
    assert re.fullmatch(r"[0-9a-f]{16}", made.headers["X-Request-Id"])
    live_server.stop()

    lines = json_lines(live_server.log())  # fails on any line that is not JSON
    access = {line["request_id"]: line for line in lines if line["logger"] == "commentd.access"}
    assert {k: v for k, v in access["proxy-id-12345678"].items() if k != "ts"} == {
        "level": "info",
        "logger": "commentd.access",
        "msg": "request",
        "request_id": "proxy-id-12345678",
        "method": "GET",
        "path": "/api/posts/pose/comments",
        "endpoint": "public.list_comments",
        "status": 200,
        "bytes": len(given.content),
        "duration_ms": access["proxy-id-12345678"]["duration_ms"],
    }
    assert access[made.headers["X-Request-Id"]]["endpoint"] == "public.count_comments"
    assert any(line["logger"] == "gunicorn.error" for line in lines)  # gunicorn's too


def test_a_request_id_that_is_not_an_id_is_replaced(live_server: LiveServer) -> None:
    response = requests.get(
        f"{live_server.url}/healthz", headers={"X-Request-Id": "a b<script>"}, timeout=10
    )
    assert re.fullmatch(r"[0-9a-f]{16}", response.headers["X-Request-Id"])


def test_metrics_add_up_the_requests_of_every_worker_process(
    serve_env: dict[str, str], tmp_path: Path, shared_redis_prefix: str
) -> None:
    # Shared rate-limit storage makes `commentd serve` run several worker processes.
    server = start_server(
        serve_env
        | {
            "COMMENTD_RATELIMIT_STORAGE_URI": SHARED_REDIS,
            "COMMENTD_RATELIMIT_KEY_PREFIX": shared_redis_prefix,
        }
        | LIFTED_LIMITS,
        tmp_path,
        metrics=True,
    )
    try:
        for _ in range(30):  # a new connection each time, so the workers share them out
            with requests.Session() as session:
                assert session.get(f"{server.url}/api/posts/pose/comments").status_code == 200
        assert post(server).json()["status"] == "pending"
        assert post(server, **{HONEYPOT_FIELD: "x"}).json()["status"] == "spam"
        found = samples(f"{server.metrics_url}/metrics")
        public = requests.get(f"{server.url}/metrics", timeout=10)
        log = server.log()
    finally:
        server.stop()

    assert log.count("Booting worker with pid") >= 2
    assert public.status_code == 404
    list_comments = (("endpoint", "public.list_comments"), ("method", "GET"), ("status", "200"))
    assert found[("commentd_http_requests_total", list_comments)] == 30
    latency = (("endpoint", "public.list_comments"),)
    assert found[("commentd_http_request_duration_seconds_count", latency)] == 30
    assert found[("commentd_comments_submitted_total", (("status", "pending"),))] == 1
    assert found[("commentd_comments_submitted_total", (("status", "spam"),))] == 1
    queue = {
        status: found[("commentd_comments", (("status", status),))]
        for status in ("pending", "approved", "rejected", "spam")
    }
    assert queue == {"pending": 1, "approved": 0, "rejected": 0, "spam": 1}


def test_backup_copies_a_live_sqlite_database_that_opens_on_its_own(
    tmp_path: Path,
) -> None:
    database = tmp_path / "live.db"
    env = {
        "COMMENTD_DATABASE_URL": f"sqlite:///{database}",
        "COMMENTD_ADMIN_TOKEN": "test-admin-token-0123456789",
    } | LIFTED_LIMITS
    server = start_server(env, tmp_path)
    try:
        ids = [post(server, body=f"comment {n}").json()["id"] for n in range(5)]
        result = subprocess.run(
            [sys.executable, "-m", "commentd.ops.cli", "backup", str(tmp_path / "copy.db")],
            env={"PATH": "/usr/bin:/bin"} | env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    copy = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = [row[0] for row in copy.execute("SELECT id FROM comments ORDER BY id")]
    finally:
        copy.close()
    assert stored == ids


def test_backup_of_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "commentd.ops.cli", "backup", str(tmp_path / "copy.db")],
        env={"PATH": "/usr/bin:/bin", "COMMENTD_DATABASE_URL": "postgresql+psycopg://x@h/db"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "for PostgreSQL use pg_dump" in result.stderr
    assert not (tmp_path / "copy.db").exists()


@pytest.mark.postgres
def test_the_documented_pg_dump_route_restores_every_comment(
    postgres_schema_url: Any, tmp_path: Path
) -> None:
    url = postgres_schema_url()
    schema = url.rsplit("%3D", 1)[1]
    server = start_server(
        {"COMMENTD_DATABASE_URL": url, "COMMENTD_ADMIN_TOKEN": "test-admin-token-0123456789"}
        | LIFTED_LIMITS,
        tmp_path,
    )
    try:
        ids = [post(server, body=f"comment {n}").json()["id"] for n in range(3)]
    finally:
        server.stop()
    dump = tmp_path / "commentd.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", f"--schema={schema}", f"--file={dump}", POSTGRES_SERVER],
        check=True,
    )
    with psycopg.connect(POSTGRES_SERVER, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")
    subprocess.run(["pg_restore", f"--dbname={POSTGRES_SERVER}", str(dump)], check=True)
    with psycopg.connect(POSTGRES_SERVER) as connection:
        restored = [row[0] for row in connection.execute(f"SELECT id FROM {schema}.comments")]
    assert sorted(restored) == ids


# --- the container files -----------------------------------------------------------------


# --- the benchmark's seeding (its figures are only as honest as its data) -----------------


def test_bench_seed_fills_a_database_the_service_reads_and_writes_on(database_url: str) -> None:

    seed(database_url, posts=50, comments=1220)
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Comment)) == 1220
            stored = dict(session.execute(select(Post.id, Post.approved_count)).all())
            approved = dict(
                session.execute(
                    select(Comment.post_id, func.count())
                    .where(Comment.status == CommentStatus.APPROVED)
                    .group_by(Comment.post_id)
                ).all()
            )
        assert stored == approved  # the kept counts are the true ones
    finally:
        engine.dispose()

    app = create_app(Settings(database_url=database_url, public_url="https://c.example"))
    try:
        client = app.test_client()
        page = client.get("/api/posts/bench-200/comments").json
        assert page["count"] == 200
        assert sum(1 for c in page["comments"] if c["parent_id"] is not None) > 0
        assert client.get("/api/posts/bench-20/comments").json["count"] == 20
        assert client.get("/api/counts?slug=bench-20&slug=post-000001").json == {
            "bench-20": 20,
            "post-000001": approved[1],
        }
        created = client.post("/api/posts/post-000001/comments", json=comment_fields())
        assert created.status_code == 201  # ids continue after the seeded ones
        assert created.json["id"] == 1221
    finally:
        services_of(app).engine.dispose()


def test_bench_posting_floor_counts_the_limits_and_stores_each_post(database_url: str) -> None:
    """The floor the benchmark sets posting against does the stack's work, not nothing."""
    engine = make_engine(database_url)
    FloorBase.metadata.create_all(engine)
    settings = Settings(database_url=database_url, slug_rate_limit="2 per minute")
    try:
        client = floor_app(settings, engine).test_client()
        answers = [
            client.post("/api/posts/pose/comments", json=comment_fields()).status_code
            for _ in range(3)
        ]
        assert answers == [201, 201, 429]  # commentd's per-post limit, in commentd's storage
        assert client.post("/api/posts/other/comments", json=comment_fields()).status_code == 201
        with Session(engine) as session:
            stored = session.scalars(select(FloorComment.slug).order_by(FloorComment.id)).all()
        assert stored == ["pose", "pose", "other"]
    finally:
        engine.dispose()
