"""Which emails and webhooks a change to a comment causes, enqueued in the change's transaction.

Nothing is sent here: rows go into the outbox beside the change (outbox.py), and delivery.py
sends them after the commit. Emails are composed at delivery from what is stored then, so a
comment erased or a reader unsubscribed meanwhile is never mailed about.

Every email to an address a reader typed, and why it cannot be turned against a stranger whose
address is typed (anyone can type anyone's):
- the reply notice, carrying someone else's text: only for a comment posted with a
  commenter_token whose address was confirmed (`address_proven`), checked again at sending;
- the confirmation of reply notices (double opt-in) and the known-address confirmation
  (COMMENTD_MODERATION=known): fixed text and a signed link, nothing a reader wrote, and at
  most one of either per address per COMMENTD_CONFIRM_EMAIL_MINUTES (`_confirmation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from commentd import comments
from commentd.comments.public import public_comment
from commentd.config import ModerationMode, Settings
from commentd.keys import keyed_hash
from commentd.models import Comment, Commenter, CommentStatus, OutboxEvent, utcnow
from commentd.notify import outbox, webhooks


class Kind:
    """The outbox event kinds this module enqueues (delivery.py has a handler for each)."""

    AUTHOR_NOTICE = "author_notice"
    AUTHOR_DIGEST = "author_digest"
    REPLY_NOTICE = "reply_notice"
    CONFIRM_EMAIL = "confirm_email"  # COMMENTD_MODERATION=known: a known address, a new browser
    CONFIRM_NOTICES = "confirm_notices"  # double opt-in before any reply notice
    WEBHOOK = "webhook"


class Event:
    """Webhook event names (API.md)."""

    CREATED = "comment.created"
    APPROVED = "comment.approved"
    # Erased, or taken off the public page (approved -> rejected or spam): a rebuild is due.
    DELETED = "comment.deleted"


def address_proven(session: Session, comment: Comment) -> bool:
    """Whether `comment` was posted with a commenter_token whose owner confirmed the address
    (followed a link mailed to it and pressed its button). A token alone proves nothing of the
    kind: one is handed out with every 201, whatever address was typed."""
    if comment.commenter_id is None:
        return False
    return bool(
        session.scalar(
            select(
                exists().where(
                    Commenter.id == comment.commenter_id,
                    Commenter.email == comment.email.lower(),
                    Commenter.confirmed_at.is_not(None),
                )
            )
        )
    )


def confirm_address(session: Session, commenter_id: int) -> None:
    """A link mailed to the commenter's address was followed and confirmed: its token now
    proves the address. In the caller's transaction."""
    session.execute(
        update(Commenter)
        .where(Commenter.id == commenter_id, Commenter.confirmed_at.is_(None))
        .values(confirmed_at=utcnow())
    )


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
            # Confirming it proves the address too, so it stands for a notices confirmation.
            self._confirmation(session, comment, Kind.CONFIRM_EMAIL)
        elif self._asks_notices_unproven(session, comment):
            self._confirmation(session, comment, Kind.CONFIRM_NOTICES)

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
        secret = self.settings.webhook_secret or ""
        for url in self.settings.webhook_urls:
            payload = {"url": url, "event": event, "comment_id": comment.id, "body": body}
            # What the outbox view may show of the URL, which is often a secret itself.
            payload["target"] = webhooks.target(url, secret)
            outbox.enqueue(session, Kind.WEBHOOK, payload)

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

    def _asks_notices_unproven(self, session: Session, comment: Comment) -> bool:
        # Not for a comment the spam signals hold (bots tick the box with any address): its
        # confirmation waits until a reply to it is published (_reply_notice asks then).
        return (
            self.sends_mail
            and comment.notify
            and not comment.reasons
            and not address_proven(session, comment)
        )

    def _reply_notice(self, session: Session, reply: Comment) -> None:
        if not self.sends_mail or reply.parent_id is None:
            return
        parent = session.get(Comment, reply.parent_id)
        if parent is None or not parent.notify or parent.email.lower() == reply.email.lower():
            return  # nobody asked, or it is their own reply
        if not address_proven(session, parent):
            # Whoever typed the address may not be its owner: never the reply's text, only
            # (bounded) the question whether the owner wants notices at all.
            self._confirmation(session, parent, Kind.CONFIRM_NOTICES)
            return
        outbox.enqueue(
            session,
            Kind.REPLY_NOTICE,
            {"reply_id": reply.id},
            dedupe_key=f"{Kind.REPLY_NOTICE}:{reply.id}",  # approved twice, told once
        )

    def _needs_confirmation(self, session: Session, comment: Comment) -> bool:
        """COMMENTD_MODERATION=known, and a known address on a new device (issue 4).

        Only a comment that waits for no other reason than its unproven sender qualifies; the
        address must already have an approved comment under the same name and website (else
        there is nothing to be known for: a new name waits for the author, not for its typist).
        """
        if (
            self.settings.moderation is not ModerationMode.KNOWN
            or not self.sends_mail
            or comment.status is not CommentStatus.PENDING
            or comment.reasons
            or comment.commenter_id is None
        ):
            return False
        of_address = Comment.commenter_id.in_(
            select(Commenter.id).where(Commenter.email == comment.email.lower())
        )
        return comments.has_approved_identity(session, of_address, comment.name, comment.website)

    def _confirmation(self, session: Session, comment: Comment, kind: str) -> None:
        """At most one confirmation email (of either kind) per address and window, whoever
        typed the address. The address is in the key only as a keyed hash."""
        now = utcnow()
        window = self.settings.confirm_email_minutes * 60
        address = keyed_hash(self.secret, "confirm-address", comment.email.lower())
        prefix = f"{Kind.CONFIRM_EMAIL}:{address}:"  # both kinds: one bound per address
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
            kind,
            {"comment_id": comment.id},
            dedupe_key=f"{prefix}{int(now.timestamp()) // window}",
        )
