"""Erasing comments for good, personal data included: on the author's or the writer's request
(`erase`), and the retention the author set (`purge`: spam and rejected comments, and the
client-address hashes of every comment, past their ages)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from commentd.comments.events import NO_EVENTS, CommentEvents
from commentd.comments.fast_path import bump_post
from commentd.comments.queries import get_comment
from commentd.comments.search import forget_erased_words
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


@dataclass(frozen=True)
class Retention:
    """How many days each kind of data is kept; 0 keeps it for good (settings
    COMMENTD_SPAM_RETENTION_DAYS, COMMENTD_REJECTED_RETENTION_DAYS and
    COMMENTD_CLIENT_KEY_RETENTION_DAYS)."""

    spam_days: int
    rejected_days: int
    client_key_days: int


@dataclass(frozen=True)
class Purged:
    """What one purge removed: comments erased per status, comments whose client hash went."""

    spam: int
    rejected: int
    client_keys: int


def _erase_older(
    session: Session, status: CommentStatus, days: int, now: datetime, *, forget_lesson: bool
) -> int:
    if not days:
        return 0
    ids = session.scalars(
        select(Comment.id).where(
            Comment.status == status, Comment.created_at < now - timedelta(days=days)
        )
    ).all()
    for comment_id in ids:
        erase(session, comment_id, events=NO_EVENTS, forget_lesson=forget_lesson)
    return len(ids)


def purge(session: Session, retention: Retention, now: datetime) -> Purged:
    """Apply the author's retention at `now` (aware UTC): erase spam and rejected comments
    older than their ages, and forget the client-address hash of every comment older than its
    age. Flushes, never commits; returns the counts.

    The only automatic deletions. Nobody is told: spam and rejected comments are not public (a
    comment taken down was announced when it was), and the hash was never shown. What the
    filter learned from spam stays (it holds no whole comment); a rejected comment taught it
    nothing. On SQLite the search index is then rewritten without the words of every comment
    erased so far (search.forget_erased_words).
    """
    spam = _erase_older(session, CommentStatus.SPAM, retention.spam_days, now, forget_lesson=False)
    rejected = _erase_older(
        session, CommentStatus.REJECTED, retention.rejected_days, now, forget_lesson=True
    )
    client_keys = 0
    if retention.client_key_days:
        cleared = session.execute(
            update(Comment)
            .where(
                Comment.client_key.is_not(None),
                Comment.created_at < now - timedelta(days=retention.client_key_days),
            )
            .values(client_key=None)
        )
        client_keys = int(cleared.rowcount)  # type: ignore[attr-defined]
    session.flush()
    # Also the words of comments erased since the last run (by anyone), from the search index.
    forget_erased_words(session)
    return Purged(spam, rejected, client_keys)
