"""Defects found by the trial of moving comments in and out (notes/reports/trial.md).

Each test states what should happen; they fail on the code as it is, and pass once fixed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from commentd.models import Comment
from commentd.portability.importing import run_import
from commentd.portability.records import ImportFileError
from tests.helpers import MODERATOR

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
SECRET = "trial-secret"

DISQUS = """<?xml version="1.0" encoding="utf-8"?>
<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">
<thread dsq:id="7"><link>https://blog.example/dates/</link></thread>
<post dsq:id="1"><message>hi</message><createdAt>{date}</createdAt>
<author><name>A</name></author><thread dsq:id="7"/></post>
</disqus>
"""


def _count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Comment)) or 0)


@pytest.mark.parametrize("date", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_disqus_date_out_of_range_is_a_file_error_not_a_traceback(
    migrated_engine: Engine, tmp_path: Path, date: str
) -> None:
    path = tmp_path / "d.xml"
    path.write_text(DISQUS.format(date=date), encoding="utf-8")
    with pytest.raises(ImportFileError) as raised:
        run_import(migrated_engine, "disqus", path, secret=SECRET)
    assert raised.value.place == "post 1"


def test_a_remark42_time_out_of_range_is_a_file_error(
    migrated_engine: Engine, tmp_path: Path
) -> None:
    comment = {
        "id": "c1",
        "pid": "",
        "text": "<p>hi</p>",
        "user": {"name": "A", "id": "u1"},
        "locator": {"site": "blog", "url": "https://blog.example/dates/"},
        "time": "0001-01-01T00:00:00+05:00",
    }
    path = tmp_path / "r.jsonl"
    path.write_text(
        json.dumps({"version": 1, "users": [], "posts": []}) + "\n" + json.dumps(comment) + "\n"
    )
    with pytest.raises(ImportFileError):
        run_import(migrated_engine, "remark42", path, secret=SECRET)


def test_deeply_nested_remark42_json_is_a_file_error(
    migrated_engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "deep.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    path.write_text('{"version":1,"users":[],"posts":[]}\n{"id":"x","extra":' + deep + "}\n")
    with pytest.raises(ImportFileError):  # today: RecursionError, a traceback / a 500
        run_import(migrated_engine, "remark42", path, secret=SECRET)


@pytest.mark.parametrize("value", [["disqus"], {"a": 1}])
def test_an_upload_whose_format_is_not_a_string_is_422_not_500(
    client: FlaskClient, value: Any
) -> None:
    answer = client.post(
        "/api/moderation/imports", json={"format": value, "size": 10}, headers=MODERATOR
    )
    assert answer.status_code == 422


def test_a_second_blogs_wordpress_export_is_not_taken_for_already_imported(
    migrated_engine: Engine, tmp_path: Path
) -> None:
    first = FIXTURES / "wordpress" / "sample-wxr-1.0.xml"
    text = first.read_text(encoding="utf-8")
    other = tmp_path / "other-blog.xml"
    other.write_text(
        text.replace("blog.example", "other-blog.example").replace("hello-world", "other-post"),
        encoding="utf-8",
    )
    run_import(migrated_engine, "wordpress", first, secret=SECRET)
    summary = run_import(migrated_engine, "wordpress", other, secret=SECRET)
    # A different site's comments 1..n are not this site's comments 1..n.
    assert summary.already_imported == 0
    assert sum(summary.imported.values()) == 5


def test_a_dry_run_then_the_import_keeps_ids(
    migrated_engine: Engine, tmp_path: Path, database_url: str
) -> None:
    """docs/moving/commentd.md: dry run, then import, into a new database: ids are kept. On
    PostgreSQL the dry run's setval() is not rolled back, so the real run renumbers."""
    source = tmp_path / "native.json"
    source.write_text(
        json.dumps(
            {
                "format": "commentd",
                "version": 1,
                "instance": "e" * 32,
                "exported_at": "2026-01-01T00:00:00+00:00",
                "posts": [],
                "comments": [
                    {
                        "id": 17,
                        "slug": "kept",
                        "parent_id": None,
                        "status": "approved",
                        "name": "A",
                        "email": "",
                        "website": None,
                        "body": "hi",
                        "markup": "markdown",
                        "body_html": "<p>hi</p>",
                        "created_at": "2024-01-01T00:00:00+00:00",
                        "avatar_key": "k",
                        "sources": [],
                    }
                ],
            }
        )
    )
    dry = run_import(migrated_engine, "json", source, secret=SECRET, dry_run=True)
    assert dry.ids_kept
    real = run_import(migrated_engine, "json", source, secret=SECRET)
    assert real.ids_kept
    with Session(migrated_engine) as session:
        assert session.scalars(select(Comment.id)).all() == [17]


def test_an_imported_id_at_the_top_of_the_range_does_not_stop_new_comments(
    migrated_engine: Engine,
    tmp_path: Path,
    post_comment: Callable[..., dict[str, Any]],
) -> None:
    """'Not trusted: a hand-edited file cannot ...' (docs/export-format.md). One comment with
    id 2**63-1 (SQLite) makes every later comment fail (AUTOINCREMENT: database full); on
    PostgreSQL a 2**40 id is a DataError traceback."""
    source = tmp_path / "native.json"
    comment = {
        "id": 2**63 - 1,
        "slug": "top",
        "parent_id": None,
        "status": "approved",
        "name": "A",
        "email": "",
        "body": "hi",
        "body_html": "<p>hi</p>",
        "created_at": "2024-01-01T00:00:00+00:00",
        "avatar_key": "k",
    }
    source.write_text(
        json.dumps(
            {
                "format": "commentd",
                "version": 1,
                "instance": "f" * 32,
                "posts": [],
                "comments": [comment],
            }
        )
    )
    try:
        run_import(migrated_engine, "json", source, secret=SECRET)
    except ImportFileError:
        return  # refusing the id is a fine answer
    post_comment()  # fails today: 503 on SQLite


def test_an_isso_file_whose_comments_are_a_view_is_refused(
    migrated_engine: Engine, tmp_path: Path
) -> None:
    """A 12 KB "Isso database" whose comments table is a recursive VIEW yields as many
    comments as it likes (3,000,000 in the trial; without a bound, forever)."""
    path = tmp_path / "bomb.db"
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE threads(id INTEGER PRIMARY KEY, uri VARCHAR(256) UNIQUE, title VARCHAR);
        INSERT INTO threads VALUES (1, '/bomb/', 't');
        CREATE VIEW comments AS WITH RECURSIVE g(x) AS (
            SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 2000)
          SELECT 1 AS tid, x AS id, NULL AS parent, 1700000000.0 AS created, 1 AS mode,
                 '' AS remote_addr, 'bomb ' || x AS text, 'B' AS author, '' AS email,
                 '' AS website FROM g;
        """
    )
    connection.commit()
    connection.close()
    with pytest.raises(ImportFileError):
        run_import(migrated_engine, "isso", path, secret=SECRET)
    assert _count(migrated_engine) == 0


def test_a_year_1_date_is_iso_8601_in_the_public_json(
    migrated_engine: Engine, tmp_path: Path, client: FlaskClient
) -> None:
    path = tmp_path / "d.xml"
    path.write_text(DISQUS.format(date="0001-01-01T00:00:00Z"), encoding="utf-8")
    try:
        run_import(migrated_engine, "disqus", path, secret=SECRET)
    except ImportFileError:
        return  # refusing such a date is a fine answer too
    shown = client.get("/api/posts/dates/comments").json
    assert shown is not None
    assert shown["comments"][0]["created_at"].startswith("0001-")  # today: "1-01-01T…"
