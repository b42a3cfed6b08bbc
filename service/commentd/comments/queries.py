"""Reading comments: a post's public ones, the moderation queue, one comment, a commenter's
own. Reads only."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import select
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


def get_comment(session: Session, comment_id: int, *, lock: bool = False) -> tuple[Comment, str]:
    """A comment, whatever its status, and its post's slug; raises NotFound (404). With
    `lock`, its row is locked until the transaction ends (PostgreSQL's FOR UPDATE; SQLite's
    writers take turns already) and read afresh, so a decision taken twice at once sees the
    first one's result instead of acting on the same old state."""
    if lock:
        # The comment alone, then its post: locked with the join, a comment that a post move
        # took elsewhere while this waited was re-read joined to its old post, found to differ
        # and dropped (a 404 for a comment that exists; PostgreSQL's READ COMMITTED re-check).
        comment = session.scalars(
            select(Comment)
            .where(Comment.id == comment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
        if comment is None:
            raise NotFound(f"There is no comment {comment_id}.")
        return comment, session.scalars(select(Post.slug).where(Post.id == comment.post_id)).one()
    query = (
        select(Comment, Post.slug)
        .join(Post, Post.id == Comment.post_id)
        .where(Comment.id == comment_id)
    )
    row = session.execute(query).one_or_none()
    if row is None:
        raise NotFound(f"There is no comment {comment_id}.")
    return row[0], row[1]
