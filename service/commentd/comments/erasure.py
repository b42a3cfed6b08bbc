"""Erasing comments for good, personal data included: on the author's request (`erase`) and
the spam folder's retention (`purge_spam`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from commentd.comments.events import NO_EVENTS, CommentEvents
from commentd.comments.fast_path import bump_post
from commentd.comments.queries import get_comment
from commentd.models import Comment, Commenter, CommentStatus
from commentd.spam import learned


def erase(
    session: Session, comment_id: int, *, events: CommentEvents, forget_lesson: bool = True
) -> None:
    """Delete a comment and its personal data for good; its replies move up to its parent.
    Flushes, never commits; raises NotFound (404) for an unknown id.

    `events` hears of it first, while the comment can still be read. Its lesson leaves the
    filter with it, unless `forget_lesson` is False (purging old spam: what the filter learned
    from spam is worth keeping, and holds no whole comment).
    """
    comment, slug = get_comment(session, comment_id)
    events.erasing(session, comment, slug)
    if forget_lesson:
        learned.teach(session, comment, None)
    session.execute(
        update(Comment).where(Comment.parent_id == comment.id).values(parent_id=comment.parent_id)
    )
    was_public = comment.status is CommentStatus.APPROVED
    email_key = comment.email.lower()
    post_id = comment.post_id
    session.delete(comment)
    session.flush()
    # The address is personal data too: forget the identities no remaining comment uses.
    session.execute(
        delete(Commenter).where(
            Commenter.email == email_key,
            ~exists().where(Comment.commenter_id == Commenter.id),
        )
    )
    bump_post(session, post_id, -1 if was_public else 0)


def purge_spam(session: Session, older_than: datetime) -> int:
    """Erase spam-folder comments that arrived before `older_than` (aware UTC); returns how
    many. Flushes, never commits.

    The only automatic deletion: a comment left in the spam folder past the retention age.
    Nobody is told (spam was never public, so no webhook is due).
    """
    ids = session.scalars(
        select(Comment.id).where(
            Comment.status == CommentStatus.SPAM, Comment.created_at < older_than
        )
    ).all()
    for comment_id in ids:
        erase(session, comment_id, events=NO_EVENTS, forget_lesson=False)
    return len(ids)
