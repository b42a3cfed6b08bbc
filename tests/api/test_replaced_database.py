"""An SQLite database file replaced under a running service (a backup restored with `mv`, the
file removed, a symbolic link pointed elsewhere): each process keeps the file it opened, so a
red team saw posts acknowledged 201 and stored in the old, unlinked file, gone at the next
start. Writes are now refused (503 database_unavailable, said in a line) from the moment the
path names another file, and /healthz says so, until a restart opens the file now there
(db.check_same_file)."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from commentd.errors import replaced
from commentd.ops.backup import restore_sqlite
from commentd.web.services import of as services_of
from tests.helpers import MODERATOR, SLUG, comment_fields

BODIES = "SELECT body FROM comments ORDER BY id"


def bodies(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as connection:
        return [row[0] for row in connection.execute(BODIES)]


def copy_of(path: Path, name: str) -> Path:
    """A consistent copy of the database beside it (SQLite's backup API, as `commentd backup`
    makes one)."""
    copy = path.with_name(name)
    with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    return copy


def restored_with_mv(path: Path) -> Path:
    """A backup renamed over the database (`mv backup.db commentd.db`): the file now there."""
    os.replace(copy_of(path, "backup.db"), path)
    return path


def removed(path: Path) -> None:
    """The database removed (`rm commentd.db`): no file now there."""
    path.unlink()


def removed_and_made_again(path: Path) -> Path:
    """Removed, and a new database made at the same path (another inode)."""
    copy = copy_of(path, "other.db")
    path.unlink()
    os.link(copy, path)
    copy.unlink()
    return path


REPLACEMENTS: list[Callable[[Path], Path | None]] = [
    restored_with_mv,
    removed,
    removed_and_made_again,
]


@pytest.mark.parametrize("replace", REPLACEMENTS)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_writes_to_a_replaced_database_file_are_refused_until_a_restart(
    app: Flask,
    client: FlaskClient,
    make_app: Callable[..., Flask],
    database_url: str,
    replace: Callable[[Path], Path | None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = Path(database_url.removeprefix("sqlite:///"))
    first = client.post(f"/api/posts/{SLUG}/comments", json=comment_fields(body="Before."))
    assert first.status_code == 201
    assert client.get("/healthz").status_code == 200
    now_there = replace(path)

    with caplog.at_level(logging.WARNING):
        post = client.post(f"/api/posts/{SLUG}/comments", json=comment_fields(body="Lost?"))
        approve = client.post(
            f"/api/moderation/comments/{first.json['id']}/approve", headers=MODERATOR
        )
        health = client.get("/healthz")
        # Reads go on from the connections already open: they read the file they stored in.
        read = client.get(f"/api/posts/{SLUG}/comments")
        # A new connection is refused, for reads too: it would open the new file with the old
        # file's -wal and -shm (or create an empty database where the file was removed).
        services_of(app).engine.dispose()
        fresh = client.post(f"/api/posts/{SLUG}/comments", json=comment_fields(body="Lost?"))
        fresh_read = client.get(f"/api/posts/{SLUG}/comments")
    assert read.status_code == 200
    answers = {
        "post": post,
        "approve": approve,
        "health": health,
        "fresh": fresh,
        "fresh read": fresh_read,
    }
    for name, answer in answers.items():
        assert answer.status_code == 503, (name, answer.data[:300])
        assert answer.json is not None and answer.json["error"] == "database_unavailable", name
        assert answer.headers["Retry-After"] == "5", name
    assert health.json is not None and health.json["status"] == "unavailable"
    # Said once a request, in a line naming the file and what to do; no traceback.
    told = [r.getMessage() for r in caplog.records if "database file replaced" in r.getMessage()]
    assert len(told) == 5 and str(path) in told[0] and "commentd restore" in told[0], told
    assert all(record.exc_info is None for record in caplog.records)
    services_of(app).engine.dispose()  # commentd stopped
    if now_there is None:
        assert not path.exists()  # no empty database made where the file was
        return
    # What the log says to do: move the file there aside, and restore it.
    aside = path.with_name("put-there.db")
    path.rename(aside)
    restore_sqlite(aside, path, datetime.now(UTC))
    assert bodies(path) == ["Before."]  # refused, so stored nowhere
    restarted = make_app().test_client()
    assert restarted.get("/healthz").status_code == 200
    again = restarted.post(f"/api/posts/{SLUG}/comments", json=comment_fields(body="After."))
    assert again.status_code == 201, again.data
    assert bodies(path) == ["Before.", "After."]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_symbolic_link_pointed_at_another_database_is_a_replaced_file(
    tmp_path: Path, make_app: Callable[..., Flask], migrated_engine: Engine, database_url: str
) -> None:
    """The path the service was given names a link; pointing it elsewhere replaces the file."""
    real = Path(database_url.removeprefix("sqlite:///"))
    other = copy_of(real, "other.db")
    link = tmp_path / "served.db"
    link.symlink_to(real)
    client = make_app(database_url=f"sqlite:///{link}").test_client()
    assert client.post(f"/api/posts/{SLUG}/comments", json=comment_fields()).status_code == 201
    link.unlink()
    link.symlink_to(other)
    refused = client.post(f"/api/posts/{SLUG}/comments", json=comment_fields())
    assert refused.status_code == 503 and refused.json is not None
    assert refused.json["error"] == "database_unavailable"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_database_written_in_place_is_not_a_replaced_file(
    client: FlaskClient, database_url: str
) -> None:
    """Another program writing the same file (`commentd` commands, sqlite3) is no replacement:
    only another file at the path is."""
    path = Path(database_url.removeprefix("sqlite:///"))
    assert client.post(f"/api/posts/{SLUG}/comments", json=comment_fields()).status_code == 201
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("UPDATE posts SET title = 'Written elsewhere'")
    assert client.post(f"/api/posts/{SLUG}/comments", json=comment_fields()).status_code == 201
    assert client.get("/healthz").status_code == 200


def test_the_refusal_is_known_through_any_wrapper() -> None:
    from sqlalchemy.exc import OperationalError

    from commentd.errors import DatabaseFileReplaced

    inner = OperationalError("BEGIN", None, DatabaseFileReplaced("the database file x was removed"))
    assert replaced(inner)
    assert replaced(OperationalError("COMMIT", None, inner))  # as a group commit passes it on
    assert not replaced(OperationalError("BEGIN", None, sqlite3.OperationalError("locked")))
