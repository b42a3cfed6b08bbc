"""Isso's SQLite database file → SourceComment records.

The format is Isso's own database, defined by its db layer (isso/db/threads.py and
isso/db/comments.py, https://github.com/isso-comments/isso/tree/master/isso/db), schema
version 5 (older ones read too, as long as the columns below are there):

    threads(id INTEGER PRIMARY KEY, uri VARCHAR(256) UNIQUE, title VARCHAR(256))
    comments(tid REFERENCES threads(id), id INTEGER PRIMARY KEY, parent INTEGER,
             created FLOAT NOT NULL, modified FLOAT, mode INTEGER, remote_addr VARCHAR,
             text VARCHAR NOT NULL, author VARCHAR, email VARCHAR, website VARCHAR,
             likes INTEGER, dislikes INTEGER, voters BLOB NOT NULL, notification INTEGER)

Facts this reader relies on, all from Isso's source:

- `mode` is 1 (accepted), 2 (waiting in the moderation queue) or 4 (deleted but kept
  because replies point at it: text "", author and website NULL). Isso has no spam state:
  its guard refuses spam outright.
- `created` is seconds since the Unix epoch (time.time(), a float).
- `text` is the Markdown as typed; Isso renders it on every read, so markup is MARKDOWN.
- `author`, `email` and `website` are HTML-escaped on the way in by Isso's API
  (views/comments.py: escape(author, quote=False), escape(website, quote=True)), so
  `Dana &amp; Co` is stored for `Dana & Co`: the reader unescapes them to the plain text
  commentd keeps (escaping again on output).
- `remote_addr` is already anonymised by Isso (the last IPv4 octet zeroed, an IPv6 address
  cut to /48); `0.0.0.0` is what Isso stores when it had no address, read here as none.
- `uri` is the page's path as the embed saw it (location.pathname, or data-isso-id).
- Isso keeps replies one level deep (Comments.add re-parents a reply to a reply onto the
  top-level comment), but older databases may hold deeper chains: any depth is read as is.
"""

from __future__ import annotations

import contextlib
import html
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from commentd.models import CommentStatus
from commentd.portability.records import (
    ImportFileError,
    Markup,
    Progress,
    Skip,
    SourceComment,
    utc,
)

_SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database file
_REQUIRED: dict[str, tuple[str, ...]] = {
    "threads": ("id", "uri"),
    "comments": (
        "tid",
        "id",
        "parent",
        "created",
        "mode",
        "remote_addr",
        "text",
        "author",
        "email",
        "website",
    ),
}
_ACCEPTED, _PENDING, _DELETED = 1, 2, 4  # Isso's comment modes (isso/db/comments.py)
_NO_ADDRESS = "0.0.0.0"  # isso.utils.anonymize() of an address it could not parse

_QUERY = """
    SELECT c.id, c.tid, c.parent, c.created, c.mode, c.remote_addr, c.text,
           c.author, c.email, c.website, t.uri
    FROM comments AS c LEFT JOIN threads AS t ON t.id = c.tid
    ORDER BY c.id
"""


def read(path: Path, progress: Progress) -> Iterator[SourceComment]:
    """The comments of the Isso database at `path`, in id order (a reply may come before its
    parent only if the database was edited by hand), one row in memory at a time.

    The file is opened read-only (Isso may be running on it). Progress is reported in
    comments, the total being the comments table's row count. Raises OSError when the file
    cannot be opened, ImportFileError when it is not an SQLite database ("byte 0"), lacks
    Isso's tables or columns ("table comments"), has a row that is not Isso's
    ("comment 12": a mode other than 1, 2, 4, a date that is not a number, a thread that is
    not there), or is damaged ("after comment 12").
    """
    with path.open("rb") as file:
        if file.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
            raise ImportFileError("byte 0", "not an SQLite database (no SQLite header)")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as connection:
        last_id: object = None
        try:
            # The file is not trusted: functions its schema names (in views, triggers,
            # defaults) are not run, and only real tables are read (_check_schema).
            connection.execute("PRAGMA trusted_schema=OFF")
            _check_schema(connection)
            (total,) = connection.execute("SELECT count(*) FROM comments").fetchone()
            progress.start(total, "comments")
            for row in connection.execute(_QUERY):
                last_id = row[0]
                yield _comment(row)
                progress.advance(1)
        except sqlite3.DatabaseError as error:
            place = "database" if last_id is None else f"after comment {last_id}"
            raise ImportFileError(place, f"cannot be read: {error}") from error


def _check_schema(connection: sqlite3.Connection) -> None:
    """Raises ImportFileError naming the first of Isso's tables or columns that is missing,
    or that is not a table: a view can yield rows without end (a recursive one, from a file of
    a few kilobytes) where a table holds only what the file holds."""
    kinds = dict(connection.execute("SELECT name, type FROM sqlite_master"))
    for table in _REQUIRED:
        if table in kinds and kinds[table] != "table":
            raise ImportFileError(
                f"table {table}", f"is a {kinds[table]}, not a table: not an Isso database"
            )
    for table, wanted in _REQUIRED.items():
        columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if not columns:
            raise ImportFileError(f"table {table}", "missing: not an Isso database")
        missing = [name for name in wanted if name not in columns]
        if missing:
            raise ImportFileError(
                f"table {table}", f"column(s) {', '.join(missing)} missing: not an Isso database"
            )


def _comment(row: tuple[object, ...]) -> SourceComment:
    """One row of comments joined with its thread → its SourceComment."""
    (cid, tid, parent, created, mode, remote_addr, text, author, email, website, page) = row
    record = f"comment {cid}"
    if not isinstance(page, str):
        raise ImportFileError(record, f"its thread {tid!r} is not in the threads table")
    if mode == _ACCEPTED:
        status, skip = CommentStatus.APPROVED, None
    elif mode == _PENDING:
        status, skip = CommentStatus.PENDING, None
    elif mode == _DELETED:
        status, skip = CommentStatus.APPROVED, Skip.DELETED
    else:
        raise ImportFileError(record, f"mode {mode!r} is not one of Isso's (1, 2, 4)")
    if not isinstance(created, int | float):
        raise ImportFileError(record, f"created {created!r} is not a Unix time")
    try:
        created_at = utc(datetime.fromtimestamp(created, tz=UTC), record)
    except (OverflowError, OSError, ValueError) as error:
        raise ImportFileError(record, f"created {created!r} is out of range") from error
    return SourceComment(
        source_id=str(cid),
        parent_id=None if parent in (None, 0, "", "0") else str(parent),
        page=page,
        name=_plain(author),
        email=_plain(email).strip(),
        website=_plain(website).strip() or None,
        text=text if isinstance(text, str) else "",
        markup=Markup.MARKDOWN,
        created_at=created_at,
        status=status,
        skip=skip,
        ip=_address(remote_addr),
        record=record,
    )


def _address(remote_addr: object) -> str | None:
    """Isso's anonymised address, or None when it recorded none."""
    if isinstance(remote_addr, str) and remote_addr not in ("", _NO_ADDRESS):
        return remote_addr
    return None


def _plain(value: object) -> str:
    """An author, email or website as Isso stored it (HTML-escaped, or NULL) → plain text."""
    return html.unescape(value) if isinstance(value, str) else ""
