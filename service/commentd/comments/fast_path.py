"""The post path's SQL, run on the session's connection past the ORM (one seam).

Posting is the service's heaviest request. Measured on SQLite (CPU per call, in-process, this
2-core machine; docs/architecture.md): a post's whole POST costs about 3.0 ms with
these statements and about 5.0 ms with the same work written with ORM entities and flushes.
Per statement: the new comment's INSERT 150-180 µs against 290-350 µs for add() + flush();
the new commenter's 100-130 against 250-350; the post's bump 45-55 against 380-440 for an
ORM UPDATE; the post's state 130-160 against 250-290 for loading the Post. Everything else
in comments/ is plain ORM.
"""

from __future__ import annotations

import secrets
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

from commentd.models import Comment, Commenter, Post

_POSTS = cast(Table, Post.__table__)
_COMMENTERS = cast(Table, Commenter.__table__)
_COMMENTS = cast(Table, Comment.__table__)
# Built once: building a statement costs about as much as running it.
# On PostgreSQL the post's row is held FOR KEY SHARE until the comment is stored, so a move of
# the post (posts.move_post locks it FOR UPDATE) either waits and takes the new comment along,
# or goes first and the comment finds the post where it now is (a merged-away slug is a new
# post). Without it the comment could point at a post the move had just deleted: a foreign-key
# error, a 500. SQLite has no row locks (its writes take turns) and SQLAlchemy leaves it out.
_POST_STATE = (
    select(_POSTS.c.id, _POSTS.c.closed, _POSTS.c.title.is_not(None).label("titled"))
    .where(_POSTS.c.slug == bindparam("slug"))
    .with_for_update(read=True, key_share=True)
)
_POST_TITLE = (
    update(_POSTS)
    .where(_POSTS.c.id == bindparam("post_id"), _POSTS.c.title.is_(None))
    .values(title=bindparam("title"))
)
_NEW_COMMENTER = insert(_COMMENTERS).returning(_COMMENTERS.c.id)
_NEW_COMMENT = insert(_COMMENTS).returning(_COMMENTS.c.id)
_BUMP_POST = (
    update(_POSTS)
    .where(_POSTS.c.id == bindparam("post_id"))
    .values(
        approved_count=_POSTS.c.approved_count + bindparam("delta"),
        version=bindparam("new_version"),
    )
)


def new_version() -> str:
    """A fresh public version of a post: 16 hex characters, compared only for equality."""
    return secrets.token_hex(8)


def post_state(session: Session, slug: str) -> tuple[int, bool, bool] | None:
    """(id, closed, has a title) of the post with this slug, if it exists."""
    row = session.connection().execute(_POST_STATE, {"slug": slug}).one_or_none()
    return None if row is None else (int(row.id), bool(row.closed), bool(row.titled))


def keep_title(session: Session, post_id: int, title: str) -> None:
    """Give a post `title` unless it has one (the widget's, sent with each comment)."""
    session.connection().execute(_POST_TITLE, {"post_id": post_id, "title": title})


def insert_commenter(session: Session, email_key: str, token_hash: str) -> int:
    """Store a new commenter (an address, lower case, and its token's hash); returns its id."""
    return int(
        session.connection()
        .execute(_NEW_COMMENTER, {"email": email_key, "token_hash": token_hash})
        .scalar_one()
    )


def insert_comment(session: Session, values: dict[str, Any]) -> Comment:
    """Store a new comment (`values`: its columns but id, lesson and moderated_at); returns
    it detached: stored, with its id, and outside the session (nothing after this reads or
    changes it through the session, and so nobody may add it again as new)."""
    comment = Comment(**values, lesson=None, moderated_at=None)
    comment.id = session.connection().execute(_NEW_COMMENT, values).scalar_one()
    make_transient_to_detached(comment)
    return comment


def bump_post(session: Session, post_id: int, approved_delta: int) -> None:
    """Record that what the public sees of a post changed: a new version, and its approved
    count moved by `approved_delta` (-1, 0 or +1). One UPDATE, atomic under concurrency."""
    session.connection().execute(
        _BUMP_POST, {"post_id": post_id, "delta": approved_delta, "new_version": new_version()}
    )
