"""Several `commentd serve` instances on one database and one Redis act as one service."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import psycopg
import pytest
import requests
from alembic.script import ScriptDirectory
from sqlalchemy import text

from commentd.db import make_engine
from commentd.ops.migrate import alembic_config, migrations_dir
from tests.helpers import ADMIN_TOKEN, SLUG, LiveServer, post_live, start_server, wait_until
from tests.private_servers import (
    SHARED_REDIS,
    forget_prefix,
    private_postgres,
    redis_available,
    unique_prefix,
)

# The advisory lock that migrations/env.py takes (read from it: env.py cannot be imported).
MIGRATION_LOCK_ID = int(
    re.search(r"MIGRATION_LOCK_ID = ([\d_]+)", (migrations_dir() / "env.py").read_text())[1]  # type: ignore[index]
)


@pytest.fixture
def cluster_env(serve_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """One database (SQLite file or PostgreSQL schema) and one Redis, under a fresh prefix."""
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {SHARED_REDIS}")
    prefix = unique_prefix()
    yield serve_env | {
        "COMMENTD_RATELIMIT_STORAGE_URI": SHARED_REDIS,
        "COMMENTD_RATELIMIT_KEY_PREFIX": prefix,
        "COMMENTD_MODERATION": "none",
        # Instances behind one proxy share the public address (and so their ETags).
        "COMMENTD_PUBLIC_URL": "https://comments.example",
    }
    forget_prefix(SHARED_REDIS, prefix)


def start_together(env: dict[str, str], workdir: Path, count: int) -> list[LiveServer]:
    """`count` instances launched at the same moment (each waits until it answers)."""
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: start_server(env, workdir), range(count)))


@pytest.fixture
def instances(cluster_env: dict[str, str], tmp_path: Path) -> Iterator[list[LiveServer]]:
    limited = cluster_env | {"COMMENTD_POST_RATE_LIMIT": "3 per minute"}
    servers = start_together(limited, tmp_path, 3)
    yield servers
    for server in servers:
        server.stop()


# A comment with a form token from this instance, so the rules approve it at once.
post_approved = partial(post_live, widget=True)


def listing(server: LiveServer, etag: str | None = None) -> requests.Response:
    headers = {"If-None-Match": etag} if etag else {}
    return requests.get(f"{server.url}/api/posts/{SLUG}/comments", headers=headers, timeout=10)


def test_a_comment_posted_through_one_instance_is_served_by_the_others_at_once(
    instances: list[LiveServer],
) -> None:
    first, second, third = instances
    before = listing(second)  # the second instance now holds the empty page in its cache
    assert before.json() == {
        "slug": SLUG,
        "count": 0,
        "closed": False,
        "comments": [],
        "pinned": [],
    }

    created = post_approved(first, body="Pigeon pose helped me a lot.")
    assert created.status_code == 201
    assert created.json()["status"] == "approved"

    after = listing(second, etag=before.headers["ETag"])
    assert after.status_code == 200
    assert after.json() == {
        "slug": SLUG,
        "count": 1,
        "closed": False,
        "comments": [created.json()["comment"]],
        "pinned": [],
    }
    assert listing(third).json() == after.json()
    counts = requests.get(f"{third.url}/api/counts?slug={SLUG}&slug=/{SLUG}/&slug=new", timeout=10)
    assert counts.json() == {SLUG: 1, f"/{SLUG}/": 1, "new": 0}


def test_instances_agree_on_etags_and_answer_each_others_with_304(
    instances: list[LiveServer],
) -> None:
    assert post_approved(instances[0]).status_code == 201
    pages = [listing(server) for server in instances]
    assert len({page.headers["ETag"] for page in pages}) == 1
    assert len({page.content for page in pages}) == 1
    etag = pages[0].headers["ETag"]
    assert [listing(server, etag=etag).status_code for server in instances] == [304, 304, 304]


def test_three_posts_through_three_instances_count_as_three_against_the_limit(
    instances: list[LiveServer],
) -> None:
    answers = [post_approved(server).status_code for server in instances]
    assert answers == [201, 201, 201]
    fourth = [post_approved(server) for server in instances]
    assert [answer.status_code for answer in fourth] == [429, 429, 429]
    assert fourth[0].json()["error"] == "rate_limited"
    assert int(fourth[0].headers["Retry-After"]) > 0


def upgrades_logged(servers: list[LiveServer]) -> list[str]:
    return [
        line["msg"]
        for server in servers
        for line in map(json.loads, server.log().splitlines())
        if line["msg"].startswith("Running upgrade")
    ]


def start_racing(env: dict[str, str], workdir: Path, hold: Callable[[], None]) -> list[LiveServer]:
    """Two instances that reach the migration while the lock is held, then race for it."""
    with ThreadPoolExecutor(2) as pool:
        starting = [pool.submit(start_server, env, workdir) for _ in range(2)]
        hold()
        return [future.result() for future in starting]


def assert_migrated_once(servers: list[LiveServer], database_url: str) -> None:
    try:
        assert all(requests.get(f"{s.url}/healthz", timeout=10).ok for s in servers)
    finally:
        for server in servers:
            server.stop()
    scripts = ScriptDirectory.from_config(alembic_config())
    # Every revision ran exactly once, by one of the two; the other found nothing to do.
    assert len(upgrades_logged(servers)) == len(list(scripts.walk_revisions()))
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert [row[0] for row in versions] == list(scripts.get_heads())


def commentd_processes_with_open(path: Path) -> int:
    """How many `commentd` processes (servers, or the migrations they run) have `path` open."""
    count = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"commentd.ops.cli\0" not in cmdline:
                continue
            if any(fd.readlink() == path for fd in (proc / "fd").iterdir()):
                count += 1
        except OSError:  # gone, or not ours to read
            continue
    return count


def test_two_instances_starting_together_on_sqlite_migrate_once(tmp_path: Path) -> None:
    database = tmp_path / "race.db"
    env = {"COMMENTD_DATABASE_URL": f"sqlite:///{database}", "COMMENTD_ADMIN_TOKEN": ADMIN_TOKEN}
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("PRAGMA journal_mode=WAL")

    def hold() -> None:
        # Both wait on the write lock the migration needs, then go at the same moment.
        wait_until(lambda: commentd_processes_with_open(database) == 2, "both instances wait")
        blocker.execute("COMMIT")
        blocker.close()

    blocker.execute("BEGIN IMMEDIATE")
    assert_migrated_once(start_racing(env, tmp_path, hold), f"sqlite:///{database}")


def test_two_instances_starting_together_on_postgresql_migrate_once(tmp_path: Path) -> None:
    with private_postgres() as postgres:
        env = {"COMMENTD_DATABASE_URL": postgres.url, "COMMENTD_ADMIN_TOKEN": ADMIN_TOKEN}
        plain_url = postgres.url.replace("+psycopg", "")
        with psycopg.connect(plain_url, autocommit=True) as blocker:
            blocker.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))

            def waiting() -> bool:
                row = blocker.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ).fetchone()
                return row is not None and row[0] == 2

            def hold() -> None:
                wait_until(waiting, "both instances wait for the migration lock")
                blocker.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))

            servers = start_racing(env, tmp_path, hold)
        assert_migrated_once(servers, postgres.url)
