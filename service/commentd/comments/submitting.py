"""Submitting a comment: the post must be open and the parent public, then the spam layers and
the moderation mode give it its status. The one entry point is `submit`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from commentd.comments import history
from commentd.comments.events import CommentEvents
from commentd.comments.fast_path import bump_post, insert_comment, insert_commenter
from commentd.comments.identity import avatar_key, is_trusted, proven_commenter
from commentd.comments.posts import open_post
from commentd.comments.rendering import render_body
from commentd.comments.validation import CommentSubmission
from commentd.config import ModerationMode
from commentd.errors import ValidationFailed
from commentd.i18n import text
from commentd.keys import keyed_hash, new_token, token_hash
from commentd.models import Comment, CommentStatus, utcnow
from commentd.spam.screening import SiteRules, choose_status, screen


@dataclass(frozen=True, kw_only=True)
class Sender:
    """Where a submission came from, as far as the rules may know it."""

    client_network: str  # an IPv4 address or IPv6 /64, only ever stored as a keyed hash
    secret: str  # the site's secret (keys.load_or_create_secret)


@dataclass(frozen=True)
class Submitted:
    """A stored comment, and the commenter_token to hand its writer (the one they sent, or a
    new one for a new identity: 43 URL-safe characters)."""

    comment: Comment
    commenter_token: str


def check_parent(session: Session, post_id: int, parent_id: int | None) -> None:
    """A reply's parent must be a public comment of the same post; raises ValidationFailed
    (422, on `parent_id`) saying what it is else.

    What is said is true and tells a stranger nothing the public pages do not: an id that is
    unknown or on another post is "no comment on this post" alike; one of this post that is
    not public is waiting or removed, never why (rejected or spam stays the author's).
    """
    if parent_id is None:
        return
    parent = session.get(Comment, parent_id)
    if parent is None or parent.post_id != post_id:
        message = text("refused_parent_unknown", id=parent_id)
        field = text("refused_parent_unknown_field")
    elif parent.status is CommentStatus.PENDING:
        message = text("refused_parent_pending")
        field = text("refused_parent_pending_field")
    elif parent.status is not CommentStatus.APPROVED:
        message = text("refused_parent_removed")
        field = text("refused_parent_removed_field")
    else:
        return
    raise ValidationFailed(message, fields={"parent_id": field})


def submit(
    session: Session,
    slug: str,
    submission: CommentSubmission,
    rules: SiteRules,
    sender: Sender,
    *,
    events: CommentEvents,
    admit: Callable[[bool], None] | None = None,
) -> Submitted:
    """Store a reader's comment on post `slug` (normalised) with the status the site's rules
    give it, and tell `events`; flushes, never commits.

    Raises PostClosed (403) for a closed post, ValidationFailed (422) for a parent that is not
    a public comment of the post. `admit(proven)` runs once nothing here can refuse the
    comment any more, with whether its commenter_token proves its email; it may raise to
    refuse it (the rate limits: a refused comment must use up none of them).
    """
    post_id = open_post(session, slug, title=submission.title)
    check_parent(session, post_id, submission.parent_id)

    commenter_id = proven_commenter(session, submission.email_key, submission.commenter_token)
    if admit is not None:
        admit(commenter_id is not None)
    if commenter_id is not None and submission.commenter_token:
        token = submission.commenter_token
        trusted = rules.moderation is ModerationMode.KNOWN and is_trusted(
            session, commenter_id, submission.name, submission.website
        )
    else:
        # A new identity: typing a known address proves nothing, so it gains no trust and
        # changes nothing stored for the address's owner.
        token = new_token()
        commenter_id = insert_commenter(session, submission.email_key, token_hash(token))
        trusted = False

    body_html = submission.body_html or render_body(submission.body)
    now = utcnow()
    screening = screen(session, submission, body_html, rules, sender.secret, now)
    values = dict(
        post_id=post_id,
        parent_id=submission.parent_id,
        commenter_id=commenter_id,
        status=choose_status(screening.verdict, rules.moderation, trusted),
        name=submission.name,
        email=submission.email,
        website=submission.website,
        body=submission.body,
        body_html=body_html,
        # The identity's, not the typed email's: an avatar must not tell a stranger typing an
        # address which comments that address wrote. A commenter_token keeps it.
        avatar_key=avatar_key(sender.secret, commenter_id),
        client_key=keyed_hash(sender.secret, "client", sender.client_network),
        notify=submission.notify,
        notify_approved=submission.notify_approved,
        spam_score=screening.verdict.score,
        reasons=list(screening.verdict.reasons),
        body_key=screening.body_key,
        created_at=now,
        is_owner=False,
        pinned_at=None,
    )
    comment = insert_comment(session, values)
    # The status the spam layers and the moderation mode gave it, and their reasons.
    history.record(session, comment, "submitted", history.RULES)
    if comment.status is CommentStatus.APPROVED:
        bump_post(session, post_id, +1)
    events.submitted(session, comment, slug)
    return Submitted(comment, token)
