"""readers/isso.py: Isso's SQLite database, read from the sample Isso itself wrote
(tests/fixtures/import/isso/make_sample.py) and from small databases of Isso's schema."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commentd.models import CommentStatus
from commentd.portability.readers import READERS
from commentd.portability.readers.isso import read
from commentd.portability.records import ImportFileError, Markup, NoProgress, Skip, SourceComment

SAMPLE = Path(__file__).parents[2] / "fixtures" / "import" / "isso" / "sample.db"

# Isso's schema (isso/db/threads.py, isso/db/comments.py, user_version 5)
THREADS = """CREATE TABLE threads (
    id INTEGER PRIMARY KEY, uri VARCHAR(256) UNIQUE, title VARCHAR(256))"""
COMMENTS = """CREATE TABLE comments (
    tid REFERENCES threads(id), id INTEGER PRIMARY KEY, parent INTEGER,
    created FLOAT NOT NULL, modified FLOAT, mode INTEGER, remote_addr VARCHAR,
    text VARCHAR NOT NULL, author VARCHAR, email VARCHAR, website VARCHAR,
    likes INTEGER DEFAULT 0, dislikes INTEGER DEFAULT 0, voters BLOB NOT NULL,
    notification INTEGER DEFAULT 0)"""


class RecordedProgress:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.starts: list[tuple[int | None, str]] = []
        self.done = 0

    def start(self, total: int | None, unit: str) -> None:
        self.starts.append((total, unit))

    def advance(self, amount: int) -> None:
        self.done += amount


def read_all(path: Path) -> dict[str, SourceComment]:
    return {c.source_id: c for c in read(path, NoProgress())}


def isso_db(path: Path, rows: Iterable[tuple[object, ...]], *, schema: str = COMMENTS) -> Path:
    """A database of Isso's schema at `path` with thread 1 = /p/ and these comments rows
    (tid, id, parent, created, mode, remote_addr, text, author, email, website)."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(THREADS)
        db.execute(schema)
        db.execute("INSERT INTO threads VALUES (1, '/p/', 'P')")
        for row in rows:
            db.execute(
                "INSERT INTO comments (tid, id, parent, created, mode, remote_addr, text,"
                " author, email, website, voters) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, x'00')",
                row,
            )
    return path


def test_it_is_the_reader_of_import_isso() -> None:
    assert READERS["isso"] is read


def test_the_sample_gives_every_row_in_id_order_with_progress_in_comments() -> None:
    progress = RecordedProgress()
    comments = list(read(SAMPLE, progress))
    assert [c.source_id for c in comments] == [
        "1", "2", "3", "4", "5", "6", "8", "9", "10", "11", "12", "14", "15",
    ]  # fmt: skip
    assert progress.starts == [(13, "comments")]
    assert progress.done == 13
    assert {c.markup for c in comments} == {Markup.MARKDOWN}
    assert [c.record for c in comments][:2] == ["comment 1", "comment 2"]


def test_the_sample_keeps_fields_as_isso_has_them() -> None:
    dana = read_all(SAMPLE)["1"]
    assert dana.parent_id is None
    assert dana.page == "/2024/03/glute/"
    assert (dana.name, dana.email, dana.website) == ("Dana", "dana@example.com", None)
    assert dana.text == (
        "Great read! My *left* glute med was weak too.\n\nThree minutes a day helped."
    )
    assert dana.created_at == datetime(2024, 3, 29, 8, 13, 20, 250000, tzinfo=UTC)
    assert dana.created_at.utcoffset() is not None
    assert dana.status is CommentStatus.APPROVED and dana.skip is None
    assert dana.ip == "203.0.113.0"  # Isso anonymised 203.0.113.7 itself


def test_names_and_websites_isso_escaped_are_read_as_typed() -> None:
    tom = read_all(SAMPLE)["5"]
    assert tom.name == "Tom & Jerry"
    assert tom.website == "https://cartoon.example/?a=1&b=2"
    assert tom.text == "Cat & mouse approve <3"  # the Markdown is not escaped by Isso


def test_hostile_markup_is_handed_on_untouched_for_the_importer_to_render() -> None:
    mallory = read_all(SAMPLE)["4"]
    assert "<script>alert('x')</script>" in mallory.text
    assert "javascript:alert(1)" in mallory.text


def test_modes_become_statuses_and_skips() -> None:
    comments = read_all(SAMPLE)
    assert comments["6"].status is CommentStatus.PENDING and comments["6"].skip is None
    deleted = comments["10"]
    assert deleted.skip is Skip.DELETED
    assert (deleted.text, deleted.name) == ("", "")
    skipped = [cid for cid, c in comments.items() if c.skip is not None]
    assert skipped == ["10"]
    assert sum(c.status is CommentStatus.PENDING for c in comments.values()) == 1


def test_parents_are_source_ids_even_when_the_parent_is_gone() -> None:
    comments = read_all(SAMPLE)
    assert comments["2"].parent_id == "1"
    assert comments["3"].parent_id == "1"  # Isso re-parented Lee's reply to Ravi
    assert comments["11"].parent_id == "10"  # a deleted parent
    assert comments["14"].parent_id == "13"  # purged: not in the file
    assert "13" not in comments


def test_unicode_and_the_page_as_isso_stored_it() -> None:
    comments = read_all(SAMPLE)
    assert comments["8"].name == "王小明"
    assert comments["8"].text == "读书使人充实 📚"
    assert comments["8"].page == "/blog/%E8%AF%BB%E4%B9%A6/"
    assert comments["9"].name == "سارة"
    assert comments["9"].ip == "2001:0db8:85a3:0000:0000:0000:0000:0000"
    assert comments["15"].name == "דוד"
    assert comments["15"].page == "/about?lang=he"


def test_anonymous_comments_have_empty_name_and_email() -> None:
    anonymous = read_all(SAMPLE)["12"]
    assert (anonymous.name, anonymous.email, anonymous.website) == ("", "", None)
    assert anonymous.text == "👍👍👍"


def test_the_database_is_not_changed_by_reading(tmp_path: Path) -> None:
    copy = tmp_path / "comments.db"
    shutil.copyfile(SAMPLE, copy)
    before = hashlib.sha256(copy.read_bytes()).hexdigest()
    assert len(list(read(copy, NoProgress()))) == 13
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["comments.db"]


def test_a_path_with_uri_characters_opens(tmp_path: Path) -> None:
    copy = tmp_path / "isso ? #1 %20.db"
    shutil.copyfile(SAMPLE, copy)
    assert len(list(read(copy, NoProgress()))) == 13


def test_deeper_chains_from_older_databases_are_read_as_they_are(tmp_path: Path) -> None:
    rows = [
        (1, i, i - 1 or None, 1.0e9 + i, 1, "", f"level {i}", f"A{i}", None, None)
        for i in range(1, 6)
    ]
    comments = read_all(isso_db(tmp_path / "deep.db", rows))
    assert [c.parent_id for c in comments.values()] == [None, "1", "2", "3", "4"]
    assert comments["1"].ip is None
    assert comments["1"].created_at == datetime(2001, 9, 9, 1, 46, 41, tzinfo=UTC)


def test_isso_s_unknown_address_and_an_integer_date(tmp_path: Path) -> None:
    path = isso_db(tmp_path / "a.db", [(1, 1, 0, 0, 1, "0.0.0.0", "Hi!", "A", " a@b.example ", "")])
    (comment,) = read(path, NoProgress())
    assert comment.ip is None
    assert comment.parent_id is None  # Isso treats parent 0 as none
    assert comment.email == "a@b.example"
    assert comment.website is None
    assert comment.created_at == datetime(1970, 1, 1, tzinfo=UTC)


def test_a_database_without_the_notification_column_reads(tmp_path: Path) -> None:
    old = COMMENTS.replace(",\n    notification INTEGER DEFAULT 0", "")
    assert "notification" not in old
    path = isso_db(
        tmp_path / "v3.db", [(1, 1, None, 1.5, 2, "", "Old one", "A", None, None)], schema=old
    )
    (comment,) = read(path, NoProgress())
    assert comment.status is CommentStatus.PENDING


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    path.write_text('<?xml version="1.0"?><disqus/>', encoding="utf-8")
    with pytest.raises(ImportFileError) as caught:
        list(read(path, NoProgress()))
    assert caught.value.place == "byte 0"
    assert "not an SQLite database" in str(caught.value)


def test_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(ImportFileError, match="byte 0"):
        list(read(path, NoProgress()))


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(read(tmp_path / "nope.db", NoProgress()))


def test_an_sqlite_database_that_is_not_isso_s(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE wp_comments (comment_ID INTEGER)")
    with pytest.raises(ImportFileError) as caught:
        list(read(path, NoProgress()))
    assert caught.value.place == "table threads"
    assert "not an Isso database" in caught.value.message


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = isso_db(tmp_path / "a.db", [], schema=COMMENTS.replace("mode INTEGER,", ""))
    with pytest.raises(ImportFileError) as caught:
        list(read(path, NoProgress()))
    assert caught.value.place == "table comments"
    assert "mode" in caught.value.message


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ((1, 7, None, 1.0, 3, "", "x", "A", None, None), "mode 3"),
        ((1, 7, None, "yesterday", 1, "", "x", "A", None, None), "created 'yesterday'"),
        ((1, 7, None, 1.0e300, 1, "", "x", "A", None, None), "out of range"),
        ((9, 7, None, 1.0, 1, "", "x", "A", None, None), "thread 9"),
    ],
)
def test_a_row_isso_would_not_write_is_named(
    tmp_path: Path, row: tuple[object, ...], said: str
) -> None:
    path = isso_db(tmp_path / "a.db", [row])
    with pytest.raises(ImportFileError) as caught:
        list(read(path, NoProgress()))
    assert caught.value.place == "comment 7"
    assert said in caught.value.message


def test_a_truncated_database(tmp_path: Path) -> None:
    rows = [
        (1, i, None, 1.0e9 + i, 1, "", "long text " * 40, "A", None, None) for i in range(1, 200)
    ]
    whole = isso_db(tmp_path / "whole.db", rows).read_bytes()
    assert len(whole) > 5 * 4096
    cut = tmp_path / "cut.db"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImportFileError) as caught:
        list(read(cut, NoProgress()))
    assert caught.value.place.startswith(("database", "after comment"))
    assert "cannot be read" in caught.value.message
