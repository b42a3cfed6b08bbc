"""A reader asks the author to look at a comment the spam defences caught (issue 17: the spam
folder is never a black hole). Entry point: `request_review`; it never commits.

The request moves the comment from the spam folder to the moderation queue (pending) with the
reason REVIEW_REQUESTED, once per comment, and the author is told as of any comment that
waits. It is no lesson: the learned filter learns only from what the author then decides.
Only a comment the defences put in the spam folder qualifies, never one the author filed
there (that decision stands), nor one whose hidden honeypot field was filled (no reader fills
it: only a bot does).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from commentd.comments import history
from commentd.comments.events import CommentEvents
from commentd.comments.identity import commenter_by_token
from commentd.comments.own import NOT_YOURS
from commentd.errors import NotYours, ReviewAlreadyRequested, ReviewUnavailable
from commentd.models import Comment, CommentStatus, Post

REVIEW_REQUESTED = "review_requested"
# The reason spam.assess gives a filled honeypot (spam/__init__.py).
HONEYPOT_REASON = "honeypot filled"


def reviewable(comment: Comment) -> bool:
    """Whether its writer may still ask for a review of `comment`: in the spam folder by the
    defences' decision (not the author's), not a filled honeypot, and not asked before."""
    return (
        comment.status is CommentStatus.SPAM
        and comment.moderated_at is None
        and HONEYPOT_REASON not in comment.reasons
        and REVIEW_REQUESTED not in comment.reasons
    )


def request_review(
    session: Session,
    slug: str,
    comment_id: int,
    commenter_token: str | None,
    *,
    events: CommentEvents,
) -> Comment:
    """The writer of comment `comment_id` on post `slug` (normalised), proven by the
    `commenter_token` it was posted with, asks the author to review it: it moves from spam to
    pending with the reason REVIEW_REQUESTED, and `events` hears of it. Flushes.

    Raises NotYours (403) alike for a missing or unknown token, another commenter's comment,
    an unknown id and an id of another post: a stranger learns nothing, not even whether the
    comment is spam. Then, to the writer only: ReviewAlreadyRequested (409) for a second
    request, ReviewUnavailable (409) for a comment that is not (or no longer) the defences'
    catch.
    """
    commenter = commenter_by_token(session, commenter_token) if commenter_token else None
    row = session.execute(
        select(Comment, Post.slug)
        .join(Post, Post.id == Comment.post_id)
        .where(Comment.id == comment_id)
    ).one_or_none()
    if commenter is None or row is None or row[1] != slug or row[0].commenter_id != commenter.id:
        raise NotYours(NOT_YOURS)
    comment: Comment = row[0]
    if REVIEW_REQUESTED in comment.reasons:
        raise ReviewAlreadyRequested("The author has already been asked to review this comment.")
    if not reviewable(comment):
        raise ReviewUnavailable("This comment cannot be sent for review.")
    # Only while it is still in the spam folder: of two requests racing, one moves it.
    moved = session.execute(
        update(Comment)
        .where(Comment.id == comment.id, Comment.status == CommentStatus.SPAM)
        .values(status=CommentStatus.PENDING, reasons=[*comment.reasons, REVIEW_REQUESTED])
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise ReviewAlreadyRequested("The author has already been asked to review this comment.")
    session.refresh(comment)
    history.record(session, comment, "review_requested", history.READER, before=CommentStatus.SPAM)
    events.review_requested(session, comment, slug)
    return comment
