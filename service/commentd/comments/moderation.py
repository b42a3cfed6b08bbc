"""Moderating a comment: the author gives it a status. The one entry point is `moderate`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from commentd.comments import history
from commentd.comments.events import CommentEvents
from commentd.comments.fast_path import bump_post
from commentd.comments.queries import get_comment
from commentd.models import Comment, CommentStatus, utcnow
from commentd.spam import learned


def moderate(
    session: Session,
    comment_id: int,
    status: CommentStatus,
    *,
    events: CommentEvents,
    actor: str,
    action: str | None = None,
    now: datetime | None = None,
) -> tuple[Comment, str]:
    """Give a comment its new status, tell `events`, and record it in the comment's history
    as `action` (default: the status's name, "approved", "rejected", "spam") taken by `actor`
    (comments.history); flushes, never commits.

    The post's public version moves if the comment's visibility changed; the learning filter
    takes the decision as its lesson (a changed decision replaces the earlier one). Returns
    the comment and its post's slug; raises NotFound (404) for an unknown id.
    """
    comment, slug = get_comment(session, comment_id)
    was_public = comment.status is CommentStatus.APPROVED
    before = comment.status
    comment.status = status
    comment.moderated_at = now or utcnow()
    is_public = status is CommentStatus.APPROVED
    session.flush()
    learned.teach(session, comment, learned.lesson_for(status))
    if was_public != is_public:
        bump_post(session, comment.post_id, +1 if is_public else -1)
    history.record(session, comment, action or status.value, actor, before=before)
    events.moderated(session, comment, slug, was_public=was_public)
    return comment, slug
