"""A commenter's own comments: edit or delete one from the browser that posted it (its
commenter_token), for COMMENTD_EDIT_MINUTES after posting (API.md, "The commenter's own
comments"). Entry points: `edit_own`, `delete_own`; neither commits.

An edit is checked like a new comment: the same field rules (validation.parse_submission, on
the stored fields with the new body), rendering, rate limits and spam layers, and the status
the site's rules would give a new comment (so an edit the rules would hold waits again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from commentd.comments import history
from commentd.comments.erasure import erase
from commentd.comments.events import CommentEvents
from commentd.comments.fast_path import bump_post
from commentd.comments.identity import commenter_by_token, is_trusted
from commentd.comments.rendering import render_body
from commentd.comments.submitting import Sender
from commentd.comments.validation import CommentSubmission, parse_submission
from commentd.config import ModerationMode
from commentd.errors import EditWindowClosed, NotYours, PostClosed
from commentd.keys import keyed_hash
from commentd.models import Comment, CommentStatus, Post, utcnow
from commentd.spam import learned
from commentd.spam.screening import SiteRules, choose_status, screen

NOT_YOURS = "This comment was not posted from this browser, or it no longer exists."
# Comments the author rejected or filed as spam are gone to their writer (queries.own_comment_
# states leaves them out alike): editing cannot undo the author's decision.
EDITABLE = (CommentStatus.PENDING, CommentStatus.APPROVED)


def editable_until(comment: Comment, edit_minutes: int) -> datetime | None:
    """Until when its writer may edit or delete `comment` (aware UTC); None when editing is
    off (COMMENTD_EDIT_MINUTES=0)."""
    return comment.created_at + timedelta(minutes=edit_minutes) if edit_minutes else None


def own_comment(
    session: Session,
    slug: str,
    comment_id: int,
    commenter_token: str | None,
    *,
    edit_minutes: int,
    now: datetime,
) -> Comment:
    """The comment `comment_id` on post `slug` (normalised), if the holder of `commenter_token`
    posted it and may still change it at `now`.

    Raises NotYours (403) alike for a missing or unknown token, another commenter's comment, an
    unknown id, an id of another post, and a rejected or spam comment: a stranger learns
    nothing. Then, for the writer only, EditWindowClosed (403) after the window.
    """
    commenter = commenter_by_token(session, commenter_token) if commenter_token else None
    row = session.execute(
        select(Comment, Post.slug)
        .join(Post, Post.id == Comment.post_id)
        .where(Comment.id == comment_id)
    ).one_or_none()
    if (
        commenter is None
        or row is None
        or row[1] != slug
        or row[0].commenter_id != commenter.id
        or row[0].status not in EDITABLE
    ):
        raise NotYours(NOT_YOURS)
    comment: Comment = row[0]
    until = editable_until(comment, edit_minutes)
    if until is None or now >= until:
        raise EditWindowClosed(
            "Comments can be edited or deleted only for a short time after posting; "
            "this one can no longer be changed here."
            if until is not None
            else "Comments cannot be edited or deleted on this site."
        )
    return comment


def edit_own(
    session: Session,
    slug: str,
    comment_id: int,
    fields: Mapping[str, object],
    rules: SiteRules,
    sender: Sender,
    *,
    commenter_token: str | None,
    edit_minutes: int,
    events: CommentEvents,
    admit: Callable[[CommentSubmission], None] | None = None,
    check_deliverability: bool = False,
    now: datetime | None = None,
) -> Comment:
    """Give the writer's comment the new text `fields["body"]` (Markdown, the rules of a new
    comment's body), and the status the site's rules give it now; tell `events`. Flushes.

    `fields` may also carry `form_token`, `altcha` and the honeypot, as a new comment does;
    name, email, website and threading stay. Raises what own_comment raises, ValidationFailed
    (422) for the body, and whatever `admit(submission)` raises (the rate limits, called once
    nothing else can refuse).
    The learned filter forgets what it was taught from the old text: it learns from the final
    text only, when the author next decides on it. A post the author closed takes no new text,
    as it takes no new comment: PostClosed (403), to the writer only (after own_comment).
    """
    now = now or utcnow()
    comment = own_comment(
        session, slug, comment_id, commenter_token, edit_minutes=edit_minutes, now=now
    )
    post = session.get(Post, comment.post_id)
    if post is not None and post.closed:
        raise PostClosed("Comments on this post are closed.")
    submission = parse_submission(
        {
            "name": comment.name,
            "email": comment.email,
            "website": comment.website or "",
            "body": fields.get("body"),
            "parent_id": comment.parent_id,
            "notify": comment.notify,
            "notify_approved": comment.notify_approved,
            "form_token": fields.get("form_token"),
            "altcha": fields.get("altcha"),
            "commenter_token": commenter_token,
            "url2": fields.get("url2"),
        },
        check_deliverability=check_deliverability,
    )
    if admit is not None:
        admit(submission)  # the token posted it: counted as the writer's own (proven) comment
    was_status = comment.status
    learned.teach(session, comment, None)
    body_html = submission.body_html or render_body(submission.body)  # as submit does
    screening = screen(
        session, submission, body_html, rules, sender.secret, now, edited_id=comment.id
    )
    trusted = (
        rules.moderation is ModerationMode.KNOWN
        and comment.commenter_id is not None
        and is_trusted(session, comment.commenter_id, comment.name, comment.website)
    )
    comment.body = submission.body
    comment.body_html = body_html
    comment.body_key = screening.body_key
    comment.spam_score = screening.verdict.score
    comment.reasons = list(screening.verdict.reasons)
    comment.client_key = keyed_hash(sender.secret, "client", sender.client_network)
    comment.status = choose_status(screening.verdict, rules.moderation, trusted)
    comment.edited_at = now
    session.flush()
    history.record(session, comment, "edited", history.READER, before=was_status)
    was_public = was_status is CommentStatus.APPROVED
    is_public = comment.status is CommentStatus.APPROVED
    if was_public or is_public:  # what the public sees changed: its text, or whether it shows
        bump_post(session, comment.post_id, int(is_public) - int(was_public))
    events.edited(session, comment, slug, was_status=was_status)
    return comment


def delete_own(
    session: Session,
    slug: str,
    comment_id: int,
    *,
    commenter_token: str | None,
    edit_minutes: int,
    events: CommentEvents,
    now: datetime | None = None,
) -> None:
    """The writer deletes their comment: the author's delete (erasure.erase) — gone with its
    personal data, its replies kept, moved up to its parent. Raises what own_comment raises."""
    comment = own_comment(
        session, slug, comment_id, commenter_token, edit_minutes=edit_minutes, now=now or utcnow()
    )
    erase(session, comment.id, events=events)
