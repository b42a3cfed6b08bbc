"""Seed a realistic database fast: bulk inserts (SQLite) or COPY (PostgreSQL), not the API.

`comments` comments spread over `posts` posts (about nine in ten approved, the rest pending or
spam), plus `bench-20` and `bench-200` with exactly 20 and 200 approved comments, some of them
replies. The schema comes from the project's migrations, like any real database.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from commentd.comments.rendering import render_body
from commentd.db import make_engine
from commentd.models import Comment, CommentStatus
from commentd.ops.migrate import upgrade

SPECIAL_POSTS = {"bench-20": 20, "bench-200": 200}
BODIES = [
    "Pigeon pose helped me a lot, thank you!",
    "I tried this for a week.\nMy hips feel **much** better.",
    "Does this work for runners too? See https://example.org/running for what I do.",
    "> hold it for 30 seconds\n\nIs that per side?",
    "Great post. A few notes:\n\n- warm up first\n- breathe\n- don't bounce",
    "The `clamshell` variation is harder than it looks.",
]
COMMENT_COLUMNS = (
    "id",
    "post_id",
    "parent_id",
    "commenter_id",
    "status",
    "name",
    "email",
    "website",
    "body",
    "body_html",
    "avatar_key",
    "client_key",
    "notify",
    "spam_score",
    "reasons",
    "created_at",
    "moderated_at",
)
POST_COLUMNS = ("id", "slug", "approved_count", "version", "closed", "created_at")


@dataclass(frozen=True)
class Seeded:
    posts: int
    comments: int
    special_slugs: dict[str, int]


def post_slug(index: int) -> str:
    return f"post-{index:06d}"


def _status(index: int) -> CommentStatus:
    bucket = index % 100
    if bucket < 90:
        return CommentStatus.APPROVED
    return CommentStatus.PENDING if bucket < 97 else CommentStatus.SPAM


Row = tuple[object, ...]


def _rows(posts: int, comments: int) -> tuple[list[Row], Iterator[Row]]:
    """(post rows, comment rows) with ids assigned here, so replies can point at parents."""
    rendered = [(body, render_body(body)) for body in BODIES]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    regular = comments - sum(SPECIAL_POSTS.values())
    approved = [0] * (posts + len(SPECIAL_POSTS))
    for index in range(regular):
        if _status(index) is CommentStatus.APPROVED:
            approved[index % posts] += 1
    for offset, count in enumerate(SPECIAL_POSTS.values()):
        approved[posts + offset] = count
    slugs = [post_slug(i) for i in range(posts)] + list(SPECIAL_POSTS)
    post_rows = [
        (i + 1, slug, approved[i], secrets.token_hex(8), False, start)
        for i, slug in enumerate(slugs)
    ]

    def comment_rows() -> Iterator[Row]:
        comment_id = 0
        for index in range(regular):
            comment_id += 1
            body, html = rendered[index % len(rendered)]
            yield _comment(comment_id, index % posts + 1, None, _status(index), body, html, start)
        for offset, count in enumerate(SPECIAL_POSTS.values()):
            post_id = posts + offset + 1
            first = comment_id + 1
            for index in range(count):
                comment_id += 1
                body, html = rendered[index % len(rendered)]
                # Every fifth comment answers the one before it, so the page has threads.
                parent = comment_id - 1 if index % 5 == 4 and comment_id > first else None
                yield _comment(
                    comment_id, post_id, parent, CommentStatus.APPROVED, body, html, start
                )

    return post_rows, comment_rows()


def _comment(
    comment_id: int,
    post_id: int,
    parent_id: int | None,
    status: CommentStatus,
    body: str,
    html: str,
    start: datetime,
) -> tuple[object, ...]:
    return (
        comment_id,
        post_id,
        parent_id,
        None,
        status.value,
        f"Reader {comment_id % 997}",
        f"reader{comment_id % 997}@example.org",
        None,
        body,
        html,
        f"{comment_id % 997:032x}",
        f"{comment_id % 4093:032x}",
        False,
        0.0,
        "[]",
        start + timedelta(seconds=comment_id),
        None,
    )


def _seed_sqlite(engine: Engine, posts: list[Row], comments: Iterator[Row]) -> None:
    dialect = engine.dialect
    # Stored exactly as SQLAlchemy stores it (UTCDateTime through SQLite's DATETIME).
    to_db = Comment.__table__.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("BEGIN IMMEDIATE")
        cursor.executemany(
            f"INSERT INTO posts ({', '.join(POST_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(POST_COLUMNS))})",
            [(*row[:-1], to_db(row[-1])) for row in posts],
        )
        placeholders = ", ".join("?" * len(COMMENT_COLUMNS))
        created = COMMENT_COLUMNS.index("created_at")
        cursor.executemany(
            f"INSERT INTO comments ({', '.join(COMMENT_COLUMNS)}) VALUES ({placeholders})",
            ((*row[:created], to_db(row[created]), row[created + 1]) for row in comments),
        )
        cursor.execute("COMMIT")
        cursor.execute("ANALYZE")
        cursor.close()
    finally:
        raw.close()


def _seed_postgresql(engine: Engine, posts: list[Row], comments: Iterator[Row]) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY posts ({', '.join(POST_COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in posts:
                copy.write_row(row)
        with cursor.copy(f"COPY comments ({', '.join(COMMENT_COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in comments:
                copy.write_row(row)
        # Ids were given explicitly: move the sequences past them so new comments can come.
        for table in ("posts", "comments"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        raw.commit()
        # VACUUM now, not autovacuum in the middle of the measurements: a table just filled by
        # COPY gets vacuumed for its inserts, which took a core for seconds during the reads.
        raw.dbapi_connection.autocommit = True  # VACUUM runs outside a transaction
        cursor.execute("VACUUM (ANALYZE) posts")
        cursor.execute("VACUUM (ANALYZE) comments")
        cursor.close()
    finally:
        raw.close()


def seed(database_url: str, *, posts: int, comments: int) -> Seeded:
    """Migrate an empty database and fill it; refuses one that already has posts."""
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            if connection.execute(text("SELECT count(*) FROM posts")).scalar_one():
                raise SystemExit(f"{database_url} already has posts: seed an empty database")
        post_rows, comment_rows = _rows(posts, comments)
        if make_url(database_url).get_backend_name() == "sqlite":
            _seed_sqlite(engine, post_rows, comment_rows)
        else:
            _seed_postgresql(engine, post_rows, comment_rows)
    finally:
        engine.dispose()
    return Seeded(posts + len(SPECIAL_POSTS), comments, dict(SPECIAL_POSTS))
