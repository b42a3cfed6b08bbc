"""Reading comments: a post's public ones, the moderation queue, one comment, a commenter's
own. Reads only."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commentd.comments.identity import commenter_by_token
from commentd.errors import NotFound
from commentd.models import Comment, CommentStatus, Post


def approved_comments(session: Session, post_id: int) -> Sequence[Comment]:
    """A post's public comments, oldest first."""
    return session.scalars(
        select(Comment)
        .where(Comment.post_id == post_id, Comment.status == CommentStatus.APPROVED)
        .order_by(Comment.id)
    ).all()


def parent_links(session: Session, post_id: int) -> dict[int, int | None]:
    """id -> parent_id for every comment of a post, whatever its status."""
    rows = session.execute(
        select(Comment.id, Comment.parent_id).where(Comment.post_id == post_id)
    ).all()
    return {row.id: row.parent_id for row in rows}


def own_comment_states(
    session: Session, slug: str, commenter_token: str, ids: Collection[int]
) -> dict[int, CommentStatus] | None:
    """What became of some of a commenter's own comments on a post, for their browser.

    Of `ids`, those on `slug` that the holder of `commenter_token` wrote and that are still
    waiting or published, as id -> status (PENDING or APPROVED). The rest (rejected, spam,
    deleted, another post's or someone else's) are left out alike: to the writer they are
    gone, and a stranger learns nothing. None when no commenter holds the token.
    """
    commenter = commenter_by_token(session, commenter_token)
    if commenter is None:
        return None
    found = session.execute(
        select(Comment.id, Comment.status)
        .join(Post, Post.id == Comment.post_id)
        .where(
            Post.slug == slug,
            Comment.commenter_id == commenter.id,
            Comment.id.in_(ids),
            Comment.status.in_([CommentStatus.PENDING, CommentStatus.APPROVED]),
        )
    ).all()
    return {comment_id: status for comment_id, status in found}


def queue(
    session: Session, status: CommentStatus, *, limit: int, before_id: int | None = None
) -> tuple[list[tuple[Comment, str]], int | None]:
    """One page of the moderation queue, newest first, as (comment, slug) pairs.

    Keyset pagination on the id: comments arriving meanwhile never shift a later page.
    Returns the page (at most `limit` pairs) and the id to continue below, if there is more.
    """
    query = (
        select(Comment, Post.slug)
        .join(Post, Post.id == Comment.post_id)
        .where(Comment.status == status)
        .order_by(Comment.id.desc())
        .limit(limit + 1)
    )
    if before_id is not None:
        query = query.where(Comment.id < before_id)
    rows = [(row[0], row[1]) for row in session.execute(query).all()]
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1][0].id
    return rows, None


def count_by_status(session: Session) -> dict[str, int]:
    """How many comments each status holds, by status value ("pending": 3, ...), zeros kept."""
    rows = session.execute(select(Comment.status, func.count()).group_by(Comment.status)).all()
    counts = {status.value: 0 for status in CommentStatus}
    counts.update({row[0].value: row[1] for row in rows})
    return counts


def get_comment(session: Session, comment_id: int) -> tuple[Comment, str]:
    """A comment, whatever its status, and its post's slug; raises NotFound (404)."""
    row = session.execute(
        select(Comment, Post.slug)
        .join(Post, Post.id == Comment.post_id)
        .where(Comment.id == comment_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"There is no comment {comment_id}.")
    return row[0], row[1]
