"""A machine short of something a request needs (room on the database's disk, open files,
memory) answers a 503 that names it and passes, never a 500, and stores nothing half-way
(web.errors.short_of). Each shortage here is a real one: SQLite's own "database or disk is
full", PostgreSQL's SQLSTATE 53100, the kernel's EMFILE."""

from __future__ import annotations

import logging
import os
import resource
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DatabaseError, OperationalError
from werkzeug.test import Client

from commentd.errors import (
    OVERLOADED_CODE,
    STORAGE_FULL_CODE,
    damaged,
    driver_error,
    first_line,
    short_of,
)
from commentd.notify import links
from commentd.ops.cli import _said
from commentd.web.metrics import scrape_app
from commentd.web.services import of as services_of
from tests.api.test_no_script import assert_whole_page, form_post, form_token, input_value, typed
from tests.helpers import MODERATOR, SLUG, comment_fields

LONG_BODY = "Every pose, every breath, every page of it. " * 100  # 4,400 characters


def stored_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM comments")).scalar_one())


@contextmanager
def full_database(app: Flask) -> Iterator[None]:
    """The app's database refuses to grow, as a full disk makes it: SQLite capped at the pages
    it has (`PRAGMA max_page_count`, its own SQLITE_FULL), PostgreSQL raising SQLSTATE 53100
    (disk_full) on every new comment, as its storage manager does when a file cannot grow."""
    engine = services_of(app).engine
    if engine.dialect.name == "sqlite":

        def capped(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            # Not below the file's size: SQLite keeps the larger of the two.
            dbapi_connection.execute("PRAGMA max_page_count = 1")

        engine.dispose()  # every pooled connection is made again, capped
        assert engine.url.database is not None
        with closing(sqlite3.connect(engine.url.database)) as connection:
            connection.execute("VACUUM")  # no free pages left to fill
        event.listen(engine, "connect", capped)
        try:
            yield
        finally:
            event.remove(engine, "connect", capped)
            engine.dispose()
        return
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " RAISE EXCEPTION 'could not extend file: No space left on device'"
                " USING ERRCODE = 'disk_full'; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER disk_full BEFORE INSERT ON comments"
                " FOR EACH ROW EXECUTE FUNCTION disk_full()"
            )
        )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP TRIGGER disk_full ON comments"))
            connection.execute(text("DROP FUNCTION disk_full()"))


def test_a_full_database_disk_is_storage_full_and_the_next_post_after_room_is_stored(
    app: Flask, client: FlaskClient
) -> None:
    engine = services_of(app).engine
    assert client.post(f"/api/posts/{SLUG}/comments", json=comment_fields()).status_code == 201
    with full_database(app):
        answers = [
            client.post(f"/api/posts/{SLUG}/comments", json=comment_fields(body=LONG_BODY))
            for _ in range(5)
        ]
        read = client.get(f"/api/posts/{SLUG}/comments")
        health = client.get("/healthz")
    for answer in answers:
        assert answer.status_code == 503, answer.json
        assert answer.json is not None and answer.json["error"] == STORAGE_FULL_CODE
        assert answer.headers["Retry-After"] == "60"
    # What was there is still served; the refused posts stored nothing.
    assert read.status_code == 200 and read.json is not None and read.json["slug"] == SLUG
    assert health.status_code == 200
    assert stored_count(engine) == 1
    again = client.post(f"/api/posts/{SLUG}/comments", json=comment_fields(body=LONG_BODY))
    assert again.status_code == 201, again.json
    assert stored_count(engine) == 2


def test_a_form_post_on_a_full_database_disk_gets_a_503_page_keeping_the_text(
    app: Flask, client: FlaskClient
) -> None:
    token = form_token(client)
    with full_database(app):
        response = form_post(client, typed(form_token=token, body=LONG_BODY))
    page = assert_whole_page(response, 503)
    assert input_value(page, "body") == LONG_BODY
    assert response.headers["Retry-After"] == "60"  # as the JSON answer says when to retry
    assert stored_count(services_of(app).engine) == 0


@contextmanager
def no_open_files_left() -> Iterator[None]:
    """This process at its limit of open files: the soft limit lowered a little above what is
    open, and the rest taken, so the next open() fails with EMFILE; all given back after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    open_now = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + 16, hard))
    taken: list[int] = []
    try:
        while True:
            try:
                taken.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        yield
    finally:
        for fd in taken:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_out_of_open_files_a_post_is_overloaded_and_a_form_keeps_its_text(
    app: Flask, client: FlaskClient
) -> None:
    # A post on SQLite opens the write turn's file beside the database (db.FileTurn).
    engine = services_of(app).engine
    assert client.post(f"/api/posts/{SLUG}/comments", json=comment_fields()).status_code == 201
    token = form_token(client)
    with no_open_files_left():
        answer = client.post(f"/api/posts/{SLUG}/comments", json=comment_fields(body="Lost?"))
        form = form_post(client, typed(form_token=token, body="Not lost."))
    assert answer.status_code == 503, answer.json
    assert answer.json is not None and answer.json["error"] == OVERLOADED_CODE
    assert answer.headers["Retry-After"] == "5"
    assert input_value(assert_whole_page(form, 503), "body") == "Not lost."
    assert form.headers["Retry-After"] == "5"
    assert stored_count(engine) == 1
    assert client.post(f"/api/posts/{SLUG}/comments", json=comment_fields()).status_code == 201


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_out_of_open_files_health_and_reads_say_overloaded_as_a_post_does(
    app: Flask, client: FlaskClient
) -> None:
    """CI saw /healthz answer 503 database_unavailable ("the database is down") from a worker
    at its open-file limit: it told its own answer for any driver error. It now answers as every
    request does (short_of), and so does a read that needs a new connection."""
    engine = services_of(app).engine
    assert client.post(f"/api/posts/{SLUG}/comments", json=comment_fields()).status_code == 201
    engine.dispose()  # the next request opens a connection
    with no_open_files_left():
        health = client.get("/healthz")
        read = client.get("/api/posts/never-read-before/comments")
    for answer in (health, read):
        assert answer.status_code == 503, answer.json
        assert answer.json is not None and answer.json["error"] == OVERLOADED_CODE, answer.json
        assert answer.headers["Retry-After"] == "5"
    assert health.json is not None and health.json["status"] == "unavailable"
    assert client.get("/healthz").json == {"status": "ok"}


def not_a_database(path: Path) -> None:
    """SQLite's "file is not a database": the file replaced by bytes of no database."""
    path.write_bytes(b"not a database, " * 512)


def malformed(path: Path) -> None:
    """SQLite's "database disk image is malformed": the header page kept, every other page
    overwritten (a bad copy restored, say)."""
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(4096)
        file.write(b"\xa5" * (size - 4096))


@pytest.mark.parametrize("damage", [not_a_database, malformed])
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_damaged_database_is_database_unavailable_everywhere_said_in_a_line(
    app: Flask,
    client: FlaskClient,
    migrated_engine: Engine,
    database_url: str,
    damage: Callable[[Path], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A red team replaced a served database with junk: /healthz said 503 database_unavailable,
    every other request 500 with a traceback (SQLite's DatabaseError is no OperationalError).
    Each now answers as a database that is down; the email link's page is a page, /metrics
    still answers with what it counted."""
    posted = client.post(f"/api/posts/{SLUG}/comments", json=comment_fields())
    assert posted.status_code == 201
    secret = services_of(app).secret_key
    link = links.ModerationLink(posted.json["id"], links.Action.APPROVE, links.new_nonce())
    scrape = Client(scrape_app(app, services_of(app).metrics))
    healthy = scrape.get("/metrics")
    assert b"commentd_database_up 1.0" in healthy.data
    # One charset: Go's mime.ParseMediaType (Prometheus) refuses a parameter named twice.
    assert healthy.headers["Content-Type"].count("charset") == 1, healthy.headers
    services_of(app).engine.dispose()
    migrated_engine.dispose()
    path = Path(database_url.removeprefix("sqlite:///"))
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    damage(path)
    with caplog.at_level(logging.WARNING):
        answers = {
            "health": client.get("/healthz"),
            "read": client.get(f"/api/posts/{SLUG}/comments"),
            "fragment": client.get(f"/api/posts/{SLUG}/comments.html"),
            "counts": client.get(f"/api/counts?slug={SLUG}"),
            "feed": client.get("/api/feed.atom"),
            "post": client.post(f"/api/posts/{SLUG}/comments", json=comment_fields()),
            "queue": client.get("/api/moderation/comments", headers=MODERATOR),
        }
        page = client.post(
            f"/email/moderate/{links.moderation_token(secret, link)}",
            headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
        )
        metrics = scrape.get("/metrics")
    for name, answer in answers.items():
        assert answer.status_code == 503, (name, answer.data[:300])
        assert answer.json is not None and answer.json["error"] == "database_unavailable", name
        assert answer.headers["Retry-After"] == "5", name
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert page.headers["Retry-After"] == "5"
    assert "try again shortly" in page.get_data(as_text=True).lower()
    assert metrics.status_code == 200
    assert b"commentd_database_up 0.0" in metrics.data
    # The 503s are counted, and told: what an outage is watched by.
    assert (
        b'commentd_http_requests_total{endpoint="public.health",method="GET",status="503"} 1.0'
        in (metrics.data)
    )
    assert all(record.exc_info is None for record in caplog.records)
    assert any("database unreadable" in record.getMessage() for record in caplog.records)


def test_sqlite_s_own_full_and_out_of_memory_codes_are_told_apart() -> None:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (x TEXT)")
    connection.execute("PRAGMA max_page_count = 1")
    with pytest.raises(sqlite3.OperationalError) as full:
        connection.execute("INSERT INTO t VALUES (?)", ("x" * 10_000,))
    connection.close()
    wrapped = OperationalError("INSERT", None, full.value)
    assert short_of(wrapped) == STORAGE_FULL_CODE
    assert short_of(full.value) == STORAGE_FULL_CODE  # the driver's own, as spill.py meets it
    # As a group commit tells each member the COMMIT's error: a wrapper around the wrapper.
    assert short_of(OperationalError("COMMIT", None, wrapped)) == STORAGE_FULL_CODE
    assert short_of(OSError(28, "No space left on device")) == STORAGE_FULL_CODE
    assert short_of(OSError(24, "Too many open files")) == OVERLOADED_CODE
    assert short_of(MemoryError()) == OVERLOADED_CODE
    # Not a shortage: a locked database, a missing file, a bad statement.
    assert short_of(OSError(2, "No such file or directory")) is None
    with pytest.raises(sqlite3.OperationalError) as bad:
        sqlite3.connect(":memory:").execute("SELECT * FROM nowhere")
    assert short_of(OperationalError("SELECT", None, bad.value)) is None


def test_sqlite_unable_to_open_a_file_is_overloaded_only_for_want_of_a_descriptor(
    tmp_path: Path,
) -> None:
    """SQLITE_CANTOPEN does not say why: a worker at its open-file limit had every read of a
    new connection answered 503 database_unavailable ("the database is down")."""
    with pytest.raises(sqlite3.OperationalError) as missing:
        sqlite3.connect(tmp_path / "no-such-folder" / "c.db")
    assert short_of(missing.value) is None
    with no_open_files_left():
        with pytest.raises(sqlite3.OperationalError) as spent:
            sqlite3.connect(tmp_path / "c.db")
        shortage = short_of(spent.value)
    assert shortage == OVERLOADED_CODE


def test_an_error_is_said_in_one_line_whatever_wraps_it_or_says_nothing() -> None:
    """One helper says a driver's error in a line for the log and the terminal (there were four,
    and the outbox's raised IndexError on an error with an empty message)."""
    with pytest.raises(sqlite3.OperationalError) as bad:
        sqlite3.connect(":memory:").execute("SELECT * FROM nowhere")
    wrapped = OperationalError("SELECT", None, bad.value)
    twice = OperationalError("COMMIT", None, wrapped)  # a group commit's member
    assert driver_error(twice) is bad.value
    assert first_line(twice) == first_line(bad.value) == "no such table: nowhere"
    several = sqlite3.OperationalError("duplicate key\nDETAIL:  Key (email)=(a@b.example) exists")
    assert first_line(OperationalError("INSERT", None, several)) == "duplicate key"
    assert first_line(MemoryError()) == "MemoryError"
    assert first_line(OperationalError("SELECT", None, sqlite3.OperationalError("  \n "))) == (
        "OperationalError"
    )
    assert (
        first_line(OSError(28, "No space left on device")) == "[Errno 28] No space left on device"
    )


def test_a_command_on_a_damaged_database_says_so_in_a_line(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    not_a_database(path)
    with pytest.raises(sqlite3.DatabaseError) as unreadable, closing(sqlite3.connect(path)) as db:
        db.execute("SELECT 1 FROM sqlite_master")
    error = DatabaseError("SELECT 1 FROM sqlite_master", None, unreadable.value)
    assert damaged(error)
    assert _said(error) == (
        "the database cannot be read (file is not a database): restore it from a backup"
    )
    with pytest.raises(sqlite3.OperationalError) as bad:
        sqlite3.connect(":memory:").execute("SELECT * FROM nowhere")
    assert not damaged(OperationalError("SELECT", None, bad.value))


@pytest.mark.parametrize("damage", [not_a_database, malformed])
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_health_sees_a_database_damaged_in_place_under_connections_it_already_holds(
    client: FlaskClient, database_url: str, damage: Callable[[Path], None]
) -> None:
    """A red team overwrote a served database in place (`dd conv=notrunc`): /healthz, whose
    `SELECT 1` reads no page on a pooled connection that holds the schema, said ok. It reads a
    page of a real table: unhealthy at once, on the connections it already had."""
    path = Path(database_url.removeprefix("sqlite:///"))
    assert client.post(f"/api/posts/{SLUG}/comments", json=comment_fields()).status_code == 201
    assert [client.get("/healthz").status_code for _ in range(3)] == [200] * 3
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    inode = path.stat().st_ino
    damage(path)
    assert path.stat().st_ino == inode  # the same file, written over: no replacement

    answers = [client.get("/healthz") for _ in range(5)]

    assert [answer.status_code for answer in answers] == [503] * 5
    assert {answer.json["error"] for answer in answers if answer.json} == {"database_unavailable"}
