"""Migration 0005: slugs stored before there was one canonical form are given it, and posts
that were spellings of one page merged; then the API finds the thread by any spelling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from flask.testing import FlaskClient
from sqlalchemy import Engine

from commentd.config import Settings
from commentd.db import make_engine, writer
from commentd.models import UTCDateTime
from commentd.ops.migrate import alembic_config, is_up_to_date, upgrade
from commentd.web.app import create_app
from commentd.web.services import of as services_of

BEFORE = "0004_confirmed_commenters"
# The tables as the revision before has them (only the columns given here).
POSTS = sa.table(
    "posts",
    sa.column("id", sa.Integer),
    sa.column("slug", sa.String),
    sa.column("approved_count", sa.Integer),
    sa.column("version", sa.String),
    sa.column("closed", sa.Boolean),
    sa.column("created_at", UTCDateTime),
)
COMMENTS = sa.table(
    "comments",
    sa.column("id", sa.Integer),
    sa.column("post_id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("name", sa.String),
    sa.column("email", sa.String),
    sa.column("body", sa.Text),
    sa.column("body_html", sa.Text),
    sa.column("avatar_key", sa.String),
    sa.column("notify", sa.Boolean),
    sa.column("spam_score", sa.Float),
    sa.column("reasons", sa.JSON),
    sa.column("created_at", UTCDateTime),
)
NOW = datetime(2026, 11, 30, tzinfo=UTC)
# id: (slug as stored, closed, statuses of its comments)
STORED: dict[int, tuple[str, bool, tuple[str, ...]]] = {
    1: ("blog/%E8%AF%BB%E4%B9%A6", False, ("approved", "pending")),
    2: ("blog/%e8%af%bb%e4%b9%a6", True, ("approved",)),
    3: ("/blog/读书/", False, ("approved", "spam")),
    4: ("notes/cafe\u0301", False, ("approved",)),
    5: ("notes/caf%C3%A9", False, ()),
    6: ("plain-slug", False, ("approved",)),
    7: ("a//b", False, ("rejected",)),
    8: ("bad%FF", False, ("approved",)),  # no canonical form: left alone
    9: ("a/b", False, ("approved",)),
}


@pytest.fixture
def old_engine(database_url: str) -> Iterator[Engine]:
    """A database at the revision before holding the posts of STORED, each with its comments."""
    engine = make_engine(database_url)
    config = alembic_config()
    with writer(engine).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, BEFORE)
    comment_id = 0
    with engine.begin() as connection:
        for post_id, (slug, closed, statuses) in STORED.items():
            connection.execute(
                sa.insert(POSTS).values(
                    id=post_id,
                    slug=slug,
                    approved_count=statuses.count("approved"),
                    version="v0",
                    closed=closed,
                    created_at=NOW,
                )
            )
            for status in statuses:
                comment_id += 1
                connection.execute(
                    sa.insert(COMMENTS).values(**_comment(comment_id, post_id, status))
                )
    yield engine
    engine.dispose()


def _comment(comment_id: int, post_id: int, status: str) -> dict[str, Any]:
    return dict(
        id=comment_id,
        post_id=post_id,
        status=status,
        name="Dana",
        email="dana@example.com",
        body=f"comment {comment_id}",
        body_html=f"<p>comment {comment_id}</p>",
        avatar_key="0" * 32,
        notify=False,
        spam_score=0.0,
        reasons=[],
        created_at=NOW,
    )


def _posts(engine: Engine) -> dict[str, tuple[int, int, bool, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                POSTS.c.slug, POSTS.c.id, POSTS.c.approved_count, POSTS.c.closed, POSTS.c.version
            )
        ).all()
    return {row.slug: (row.id, row.approved_count, row.closed, row.version) for row in rows}


def _comments_of(engine: Engine, post_id: int) -> list[int]:
    with engine.connect() as connection:
        return list(
            connection.scalars(
                sa.select(COMMENTS.c.id)
                .where(COMMENTS.c.post_id == post_id)
                .order_by(COMMENTS.c.id)
            )
        )


def test_stored_slugs_are_made_canonical_and_spellings_of_one_post_merged(
    old_engine: Engine,
) -> None:
    upgrade(old_engine)

    posts = _posts(old_engine)
    assert set(posts) == {"blog/读书", "notes/café", "plain-slug", "a/b", "bad%FF"}
    # The oldest spelling keeps its id; the count is recounted; closed if any was closed.
    post_id, count, closed, version = posts["blog/读书"]
    assert (post_id, count, closed) == (1, 3, True)
    assert version != "v0"  # cached pages of it are stale
    assert _comments_of(old_engine, 1) == [1, 2, 3, 4, 5]
    assert posts["notes/café"][:3] == (4, 1, False)
    assert posts["a/b"][:3] == (7, 1, False)
    assert _comments_of(old_engine, 7) == [8, 10]
    assert posts["plain-slug"] == (6, 1, False, "v0")  # untouched
    assert posts["bad%FF"] == (8, 1, False, "v0")
    assert is_up_to_date(old_engine)


def test_after_the_migration_every_spelling_reads_the_merged_thread(
    old_engine: Engine, settings: Settings
) -> None:
    upgrade(old_engine)
    app = create_app(settings)
    client: FlaskClient = app.test_client()
    try:
        for path in (
            "blog/%E8%AF%BB%E4%B9%A6",
            "blog/%25e8%25af%25bb%25e4%25b9%25a6",
            "blog%2F读书",
        ):
            listing = client.get(f"/api/posts/{path}/comments").json
            assert listing is not None
            assert (listing["slug"], listing["closed"]) == ("blog/读书", True)
            assert [c["id"] for c in listing["comments"]] == [1, 3, 4]
        counts = client.get("/api/counts?slug=notes/cafe%CC%81&slug=a//b").json
        assert counts == {"notes/cafe\u0301": 1, "a//b": 1}
    finally:
        services_of(app).engine.dispose()
