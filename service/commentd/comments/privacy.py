"""A reader's data, asked for by address (API.md, POST /api/privacy/requests): the request
mails a link to the address (`ask`); the link's page exports every comment by it
(`export_by_link`) or erases them with all personal data about it (`erase_by_link`).

Links are notify.links' PrivacyLink (signed, expiring); here they are only the Protocol below,
and they act once (their nonce is spent in the acting transaction). None of these commits.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from commentd.comments.email_links import UsedMeanwhile, is_spent, spend
from commentd.comments.erasure import erase
from commentd.comments.events import CommentEvents
from commentd.comments.public import timestamp
from commentd.comments.validation import PrivacyKind, PrivacyRequest
from commentd.errors import BadRequest
from commentd.models import Comment, Commenter, Post, utcnow

EXPORT_FORMAT = "commentd-own-comments-1"


class PrivacyLink(Protocol):
    """What a privacy link says: whose data, what to do, and its one-time nonce."""

    @property
    def email(self) -> str:
        """The address the link was mailed to (normalised)."""
        ...

    @property
    def kind(self) -> PrivacyKind:
        """Export or erase."""
        ...

    @property
    def nonce(self) -> str:
        """The link's one-time number, spent when it acts."""
        ...


def ask(session: Session, request: PrivacyRequest, *, events: CommentEvents) -> None:
    """Someone asked for the data of `request.email`: `events` mails the link to that address
    (whether or not it ever commented: the answer and the work are the same either way)."""
    events.privacy_requested(session, request)


def _of_address(email_key: str) -> Any:
    return func.lower(Comment.email) == email_key


def has_data(session: Session, email_key: str) -> bool:
    """Whether anything is stored about the address (a comment, or a commenter identity)."""
    found = session.scalar(select(Comment.id).where(_of_address(email_key)).limit(1))
    if found is not None:
        return True
    return (
        session.scalar(select(Commenter.id).where(Commenter.email == email_key).limit(1))
        is not None
    )


def export_address(session: Session, email: str) -> dict[str, Any]:
    """Every comment by the address, whatever its status, oldest first, with its post's slug
    and its dates (API.md times): `{"format", "email", "exported_at", "comments": [...]}`.
    This is the reader's own data, for the reader only (never public output)."""
    rows = session.execute(
        select(Comment, Post.slug)
        .join(Post, Post.id == Comment.post_id)
        .where(_of_address(email.lower()))
        .order_by(Comment.id)
    ).all()
    return {
        "format": EXPORT_FORMAT,
        "email": email,
        "exported_at": timestamp(utcnow()),
        "comments": [
            {
                "id": comment.id,
                "slug": slug,
                "parent_id": comment.parent_id,
                "status": comment.status.value,
                "name": comment.name,
                "email": comment.email,
                "website": comment.website,
                "body": comment.body,
                "body_html": comment.body_html,
                "created_at": timestamp(comment.created_at),
                "edited_at": timestamp(comment.edited_at) if comment.edited_at else None,
                "moderated_at": timestamp(comment.moderated_at) if comment.moderated_at else None,
                "notify": comment.notify,
                "notify_approved": comment.notify_approved,
            }
            for comment, slug in rows
        ],
    }


def erase_address(session: Session, email_key: str, *, events: CommentEvents) -> int:
    """Erase every comment by the address (erasure.erase each: replies by others stay, moved
    up), every commenter identity of it, and what `events` keeps about it (mail waiting for
    it, keyed hashes of it); returns how many comments went. Flushes, never commits."""
    ids = session.scalars(
        select(Comment.id).where(_of_address(email_key)).order_by(Comment.id.desc())
    ).all()
    for comment_id in ids:
        erase(session, comment_id, events=events)
    session.execute(delete(Commenter).where(Commenter.email == email_key))
    events.forgetting_address(session, email_key, list(ids))
    session.flush()
    return len(ids)


def open_privacy(session: Session, link: PrivacyLink, kind: PrivacyKind) -> None:
    """Check a privacy link as its page shows it (reads only): raises BadRequest (400) when
    it is not a link of `kind`, UsedMeanwhile (409 link_used) once it was used."""
    if link.kind is not kind:
        raise BadRequest("This link is for another request.")
    if is_spent(session, link.nonce):
        raise UsedMeanwhile()


def _spend(session: Session, link: PrivacyLink, kind: PrivacyKind) -> None:
    open_privacy(session, link, kind)
    if not spend(session, link.nonce):
        session.rollback()
        raise UsedMeanwhile()


def export_by_link(session: Session, link: PrivacyLink) -> dict[str, Any]:
    """The export a link was mailed for (export_address), once; raises what open_privacy
    raises, or UsedMeanwhile when a second click raced this one."""
    _spend(session, link, PrivacyKind.EXPORT)
    return export_address(session, link.email)


def erase_by_link(session: Session, link: PrivacyLink, *, events: CommentEvents) -> int:
    """The erasure a link was mailed for (erase_address), once; returns how many comments went.
    Raises what open_privacy raises, or UsedMeanwhile when a second click raced this one."""
    _spend(session, link, PrivacyKind.ERASE)
    return erase_address(session, link.email.lower(), events=events)
