"""Which emails and webhooks a change to a comment causes, enqueued in the change's transaction.

Nothing is sent here: rows go into the outbox beside the change (outbox.py), and delivery.py
sends them after the commit. Emails are composed at delivery from what is stored then, so a
comment erased or a reader unsubscribed meanwhile is never mailed about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from . import comments, outbox, webhooks
from .api.serializers import public_comment
from .config import ModerationMode, Settings
from .keys import keyed_hash
from .models import Comment, Commenter, CommentStatus, OutboxEvent, utcnow


class Kind:
    """The outbox event kinds this module enqueues (delivery.py has a handler for each)."""

    AUTHOR_NOTICE = "author_notice"
    AUTHOR_DIGEST = "author_digest"
    REPLY_NOTICE = "reply_notice"
    CONFIRM_EMAIL = "confirm_email"
    WEBHOOK = "webhook"


class Event:
    """Webhook event names (API.md)."""

    CREATED = "comment.created"
    APPROVED = "comment.approved"
    # Erased, or taken off the public page (approved -> rejected or spam): a rebuild is due.
    DELETED = "comment.deleted"


def digest_due(now: datetime, minutes: int) -> datetime:
    """The end of the digest period `now` falls in: periods are aligned to the clock."""
    period = minutes * 60
    start = int(now.timestamp()) // period * period
    return datetime.fromtimestamp(start + period, tz=now.tzinfo)


@dataclass(frozen=True)
class Notifier:
    """The site's notification policy, applied to each change before the caller commits."""

    settings: Settings
    secret: str

    @property
    def sends_mail(self) -> bool:
        return bool(self.settings.smtp_url)

    def submitted(self, session: Session, comment: Comment, slug: str) -> None:
        """A new comment was stored (comments.submit)."""
        if comment.status is CommentStatus.SPAM:
            return  # the spam folder is not news, to the author or to the site
        self._webhooks(session, Event.CREATED, comment, slug)
        if comment.status is CommentStatus.APPROVED:
            self._published(session, comment, slug)
        if self._tells_author(comment):
            self._author_notice(session, comment)
        if self._needs_confirmation(session, comment):
            self._confirmation(session, comment)

    def moderate(
        self, session: Session, comment_id: int, status: CommentStatus
    ) -> tuple[Comment, str]:
        """comments.moderate, plus what the change of visibility causes."""
        comment, _ = comments.get_comment(session, comment_id)
        was_public = comment.status is CommentStatus.APPROVED
        comment, slug = comments.moderate(session, comment_id, status)
        is_public = comment.status is CommentStatus.APPROVED
        if is_public and not was_public:
            self._published(session, comment, slug)
        elif was_public and not is_public:
            self._webhooks(session, Event.DELETED, comment, slug)
        return comment, slug

    def erase(self, session: Session, comment_id: int) -> None:
        """comments.erase, after taking the public form the webhook carries."""
        comment, slug = comments.get_comment(session, comment_id)
        if comment.status is not CommentStatus.SPAM:
            self._webhooks(session, Event.DELETED, comment, slug)
        comments.erase(session, comment_id)

    def _published(self, session: Session, comment: Comment, slug: str) -> None:
        self._webhooks(session, Event.APPROVED, comment, slug)
        self._reply_notice(session, comment)

    def _webhooks(self, session: Session, event: str, comment: Comment, slug: str) -> None:
        if not self.settings.webhook_urls:
            return
        public = public_comment(comment, self.settings.public_url, comment.parent_id)
        body = webhooks.body(event, public, slug)
        for url in self.settings.webhook_urls:
            outbox.enqueue(
                session,
                Kind.WEBHOOK,
                {"url": url, "event": event, "comment_id": comment.id, "body": body},
            )

    def _tells_author(self, comment: Comment) -> bool:
        if not (self.sends_mail and self.settings.notify_email):
            return False
        return comment.status is CommentStatus.PENDING or (
            comment.status is CommentStatus.APPROVED and self.settings.notify_approved
        )

    def _author_notice(self, session: Session, comment: Comment) -> None:
        minutes = self.settings.notify_digest_minutes
        if not minutes:
            # A comment is submitted once, so no dedupe key (and no savepoint) is needed.
            outbox.enqueue(session, Kind.AUTHOR_NOTICE, {"comment_id": comment.id})
            return
        # One digest per period, however many comments arrive in it.
        due = digest_due(comment.created_at, minutes)
        outbox.enqueue(
            session,
            Kind.AUTHOR_DIGEST,
            {"until": due.isoformat(), "minutes": minutes},
            dedupe_key=f"{Kind.AUTHOR_DIGEST}:{int(due.timestamp())}",
            available_at=due,
        )

    def _reply_notice(self, session: Session, reply: Comment) -> None:
        if not self.sends_mail or reply.parent_id is None:
            return
        parent = session.get(Comment, reply.parent_id)
        if parent is None or not parent.notify or parent.email.lower() == reply.email.lower():
            return  # nobody asked, or it is their own reply
        outbox.enqueue(
            session,
            Kind.REPLY_NOTICE,
            {"reply_id": reply.id},
            dedupe_key=f"{Kind.REPLY_NOTICE}:{reply.id}",  # approved twice, told once
        )

    def _needs_confirmation(self, session: Session, comment: Comment) -> bool:
        """COMMENTD_MODERATION=known, and a known address on a new device (issue 4).

        Only a comment that waits for no other reason than its unproven sender qualifies; the
        address must already have an approved comment (else there is nothing to be known for).
        """
        if (
            self.settings.moderation is not ModerationMode.KNOWN
            or not self.sends_mail
            or comment.status is not CommentStatus.PENDING
            or comment.reasons
            or comment.commenter_id is None
        ):
            return False
        return bool(
            session.scalar(
                select(
                    exists().where(
                        Comment.commenter_id == Commenter.id,
                        Commenter.email == comment.email.lower(),
                        Comment.status == CommentStatus.APPROVED,
                    )
                )
            )
        )

    def _confirmation(self, session: Session, comment: Comment) -> None:
        """At most one confirmation email per address and window, whoever typed the address."""
        now = utcnow()
        window = self.settings.confirm_email_minutes * 60
        address = keyed_hash(self.secret, "confirm-address", comment.email.lower())
        prefix = f"{Kind.CONFIRM_EMAIL}:{address}:"
        recently = session.scalar(
            select(
                exists().where(
                    OutboxEvent.dedupe_key.startswith(prefix, autoescape=True),
                    OutboxEvent.created_at > now - timedelta(seconds=window),
                )
            )
        )
        if recently:
            return
        outbox.enqueue(
            session,
            Kind.CONFIRM_EMAIL,
            {"comment_id": comment.id},
            dedupe_key=f"{prefix}{int(now.timestamp()) // window}",
        )


def current_notifier() -> Notifier:
    notifier: Notifier = current_app.extensions["notifier"]
    return notifier
