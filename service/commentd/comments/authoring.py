"""What the blog's author does to comments besides moderating them (API.md, "The author's
console"): reply as the author, edit a comment, pin one to the top of its post. Entry points:
`reply_as_author`, `edit_as_author`, `set_pinned`; none commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from commentd.comments import history
from commentd.comments.events import CommentEvents
from commentd.comments.fast_path import bump_post, insert_comment
from commentd.comments.moderation import moderate
from commentd.comments.queries import get_comment
from commentd.comments.validation import AuthorChanges
from commentd.errors import NotTopLevel, ParentNotPublic
from commentd.keys import keyed_hash
from commentd.models import Comment, CommentStatus, utcnow
from commentd.spam.screening import body_key


@dataclass(frozen=True, kw_only=True)
class Author:
    """Who the author's replies are from: COMMENTD_AUTHOR_NAME, the notify address (or ""),
    and the site's secret (their identicon and the text's duplicate key are keyed with it)."""

    name: str
    email: str
    secret: str


def author_avatar_key(secret: str) -> str:
    """The identicon of every reply the author writes (32 hex characters, keyed)."""
    return keyed_hash(secret, "avatar", "author")


def reply_as_author(
    session: Session,
    parent_id: int,
    changes: AuthorChanges,
    author: Author,
    *,
    approve_parent: bool,
    actor: str,
    events: CommentEvents,
) -> tuple[Comment, str]:
    """Store the author's reply (`changes.body`, checked) to comment `parent_id`: approved at
    once, `is_owner`, never asking for an email confirmation. A parent waiting for moderation
    is approved first when `approve_parent` (WordPress's "Approve and reply"). The parent's
    writer gets the usual reply notice through `events` (if they asked for one); the history
    records "approved" (the parent, if so), "submitted" (the reply) and "replied" (the
    parent, naming the reply). Flushes, never commits; returns the reply and its slug.

    Raises NotFound (404) for an unknown parent, ParentNotPublic (409) for a parent that was
    rejected or filed as spam.
    """
    assert changes.body is not None and changes.body_html is not None
    parent, slug = get_comment(session, parent_id, lock=True)
    if parent.status in (CommentStatus.REJECTED, CommentStatus.SPAM):
        fate = "rejected" if parent.status is CommentStatus.REJECTED else "filed as spam"
        raise ParentNotPublic(f"Comment {parent_id} was {fate}; approve it before replying to it.")
    if parent.status is CommentStatus.PENDING and approve_parent:
        moderate(session, parent.id, CommentStatus.APPROVED, events=events, actor=actor)
    now = utcnow()
    values: dict[str, Any] = dict(
        post_id=parent.post_id,
        parent_id=parent.id,
        commenter_id=None,
        status=CommentStatus.APPROVED,
        name=author.name,
        email=author.email,
        website=None,
        body=changes.body,
        body_html=changes.body_html,
        avatar_key=author_avatar_key(author.secret),
        client_key=None,
        notify=False,
        notify_approved=False,
        spam_score=0.0,
        reasons=[],
        body_key=body_key(author.secret, changes.body),
        created_at=now,
        edited_at=None,
        is_owner=True,
        pinned_at=None,
    )
    reply = insert_comment(session, values)
    bump_post(session, parent.post_id, +1)
    history.record(session, reply, "submitted", actor)
    history.record(session, parent, "replied", actor, detail=f"the author replied #{reply.id}")
    events.submitted(session, reply, slug)
    return reply, slug


def edit_as_author(
    session: Session,
    comment_id: int,
    changes: AuthorChanges,
    *,
    secret: str,
    actor: str,
    events: CommentEvents,
    now: datetime | None = None,
) -> tuple[Comment, str]:
    """The author changes a comment's text, name or website (those `changes` gives, checked):
    re-rendered, `edited_at` set, the post's public version moved if it is public, `events`
    told (webhook comment.edited), the history records "edited" and which fields. Its status
    stays: the author's own edit is not screened again. Flushes, never commits; returns the
    comment and its slug. Raises NotFound (404) for an unknown id."""
    comment, slug = get_comment(session, comment_id, lock=True)  # its post as it is now
    was_status = comment.status
    if changes.body is not None and changes.body_html is not None:
        comment.body = changes.body
        comment.body_html = changes.body_html
        comment.body_key = body_key(secret, changes.body)
    if changes.name is not None:
        comment.name = changes.name
    if changes.website is not None:
        comment.website = changes.website or None
    comment.edited_at = now or utcnow()
    session.flush()
    history.record(
        session, comment, "edited", actor, before=was_status, detail=", ".join(changes.changed)
    )
    if comment.status is CommentStatus.APPROVED:
        bump_post(session, comment.post_id, 0)
    events.edited(session, comment, slug, was_status=was_status)
    return comment, slug


def set_pinned(
    session: Session, comment_id: int, pinned: bool, *, actor: str, now: datetime | None = None
) -> tuple[Comment, str]:
    """Pin a top-level comment to the top of its post (pinned again: it moves to the front, the
    newest pin showing first), or unpin it; the post's public version moves when the comment
    is public; the history records "pinned" or "unpinned". Flushes, never commits.

    Raises NotFound (404) for an unknown id, NotTopLevel (422) for a reply.
    """
    comment, slug = get_comment(session, comment_id, lock=True)  # its post as it is now
    if comment.parent_id is not None:
        raise NotTopLevel(
            f"Comment {comment_id} is a reply; only top-level comments can be pinned."
        )
    comment.pinned_at = (now or utcnow()) if pinned else None
    session.flush()
    history.record(session, comment, "pinned" if pinned else "unpinned", actor)
    if comment.status is CommentStatus.APPROVED:
        bump_post(session, comment.post_id, 0)
    return comment, slug
