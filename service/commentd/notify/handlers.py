"""Delivering outbox events: one handler per kind, each reading what is stored now and sending
it by SMTP or webhook, outside any request and any open transaction."""

from __future__ import annotations

import smtplib
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from commentd.comments.identity import address_proven
from commentd.comments.privacy import has_data
from commentd.comments.validation import PrivacyKind
from commentd.config import Settings
from commentd.db import writer
from commentd.keys import keyed_hash
from commentd.models import Comment, CommentStatus, OutboxEvent, Post
from commentd.notify import smtp, webhooks
from commentd.notify import spam_digest as digest
from commentd.notify.emails import Writer
from commentd.notify.notifier import Kind
from commentd.notify.outbox import BATCH, Delivered, Handler, Outbox, RetryPolicy, Worker
from commentd.spam import rules

# A batch's leases must outlast its deliveries, each bounded by a few socket timeouts.
LEASE_PER_EVENT_TIMEOUTS = 3


class MailServerResting(Exception):
    """Not tried: the mail server failed a moment ago."""


class Deliveries:
    """The handlers of one site: they share its settings, secret and database."""

    def __init__(self, engine: Engine, settings: Settings, secret: str) -> None:
        self.sessions = sessionmaker(bind=engine, expire_on_commit=False)
        self.writer_engine = writer(engine)
        self.settings = settings
        self.secret = secret
        self.writer = Writer(settings, secret)
        self.smtp = smtp.parse_smtp_url(settings.smtp_url) if settings.smtp_url else None
        self._smtp_failed_batch: str | None = None

    def handlers(self) -> dict[str, Handler]:
        """One handler per outbox kind (notifier.Kind), for Outbox."""
        return {
            Kind.AUTHOR_NOTICE: self.author_notice,
            Kind.AUTHOR_DIGEST: self.author_digest,
            Kind.REPLY_NOTICE: self.reply_notice,
            Kind.CONFIRM_EMAIL: self.confirm_email,
            Kind.CONFIRM_NOTICES: self.confirm_notices,
            Kind.APPROVED_NOTICE: self.approved_notice,
            Kind.PRIVACY_LINK: self.privacy_link,
            Kind.WEBHOOK: self.webhook,
            Kind.SPAM_DIGEST: self.spam_digest,
        }

    def schedule(self, now: datetime) -> None:
        """The outbox's scheduler: enqueue the spam digest of the period `now` falls in."""
        if not self.settings.notify_email:
            return
        with Session(self.writer_engine) as session, session.begin():
            digest.schedule(session, self.settings, now)

    def message_key(self, event: OutboxEvent) -> str:
        """Unique to this site and event, and the same on every attempt (the Message-ID)."""
        return f"{event.id}.{keyed_hash(self.secret, 'message-id', str(event.id), length=12)}"

    def _send(self, event: OutboxEvent, message: EmailMessage) -> Delivered:
        if self.smtp is None:
            raise RuntimeError("COMMENTD_SMTP_URL is not set, so email cannot be sent")
        # A mail server that failed is not tried again for the other mails of the same batch
        # (they share the claim's lock token): each try could cost a whole timeout, and the
        # batch's webhooks wait behind them.
        if event.lock_token is not None and event.lock_token == self._smtp_failed_batch:
            raise MailServerResting("the mail server failed moments ago; trying again later")
        try:
            smtp.send(self.smtp, message, timeout=self.settings.delivery_timeout)
        except (smtp.Undeliverable, smtplib.SMTPRecipientsRefused):
            raise  # this message's or recipient's trouble: the batch's other mail may go
        except (OSError, smtplib.SMTPException):
            self._smtp_failed_batch = event.lock_token
            raise
        return Delivered.SENT

    def _comment(self, session: Session, comment_id: object) -> tuple[Comment, str] | None:
        row = session.execute(
            select(Comment, Post.slug)
            .join(Post, Post.id == Comment.post_id)
            .where(Comment.id == int(str(comment_id)))
        ).one_or_none()
        return (row[0], row[1]) if row is not None else None

    def author_notice(self, event: OutboxEvent) -> Delivered:
        """Send the author's notice of one comment; SKIPPED if it was erased meanwhile."""
        with self.sessions() as session:
            found = self._comment(session, event.payload["comment_id"])
        if found is None or not self.settings.notify_email:
            return Delivered.SKIPPED  # erased before the notice went out
        return self._send(event, self.writer.author_notice(*found, key=self.message_key(event)))

    def author_digest(self, event: OutboxEvent) -> Delivered:
        """Send the digest of a period's comments still waiting (and published ones with
        COMMENTD_NOTIFY_APPROVED); SKIPPED if none is left."""
        until = datetime.fromisoformat(str(event.payload["until"]))
        minutes = int(str(event.payload["minutes"]))
        statuses = [CommentStatus.PENDING]
        if self.settings.notify_approved:
            statuses.append(CommentStatus.APPROVED)
        with self.sessions() as session:
            rows = session.execute(
                select(Comment, Post.slug)
                .join(Post, Post.id == Comment.post_id)
                .where(
                    Comment.created_at >= until - timedelta(minutes=minutes),
                    Comment.created_at < until,
                    Comment.status.in_(statuses),
                )
                .order_by(Comment.id)
            ).all()
        if not rows or not self.settings.notify_email:
            return Delivered.SKIPPED  # all moderated or erased already
        items = [(row[0], row[1]) for row in rows]
        return self._send(event, self.writer.author_digest(items, minutes, self.message_key(event)))

    def spam_digest(self, event: OutboxEvent) -> Delivered:
        """Send the spam digest of a period: what the defences caught since the last digest
        sent, each with a Not spam link; SKIPPED when nothing was caught (or still is spam),
        or when the author chose another cadence (or none) meanwhile."""
        cadence = str(event.payload["cadence"])
        until = datetime.fromisoformat(str(event.payload["until"]))
        with self.sessions() as session:
            if rules.spam_digest(session, self.settings) != cadence:
                return Delivered.SKIPPED
            found = digest.caught(session, until)
        if not found.items:
            return Delivered.SKIPPED
        return self._send(event, self.writer.spam_digest(found, cadence, self.message_key(event)))

    def reply_notice(self, event: OutboxEvent) -> Delivered:
        """Send a reply notice, if the parent still asks for notices from a proven address."""
        with self.sessions() as session:
            found = self._comment(session, event.payload["reply_id"])
            parent = (
                session.get(Comment, found[0].parent_id) if found and found[0].parent_id else None
            )
            proven = parent is not None and address_proven(session, parent)
        if found is None or parent is None:
            return Delivered.SKIPPED
        reply, slug = found
        # Checked again at sending: unsubscribed, unpublished or own replies are never mailed,
        # nor any to an address its owner did not confirm.
        if (
            not parent.notify
            or not proven
            or reply.status is not CommentStatus.APPROVED
            or parent.email.lower() == reply.email.lower()
        ):
            return Delivered.SKIPPED
        return self._send(
            event, self.writer.reply_notice(reply, parent, slug, self.message_key(event))
        )

    def confirm_email(self, event: OutboxEvent) -> Delivered:
        """Send an address or reply-notices confirmation, if its comment still waits for it."""
        with self.sessions() as session:
            found = self._comment(session, event.payload["comment_id"])
        if found is None or found[0].status is not CommentStatus.PENDING:
            return Delivered.SKIPPED  # moderated meanwhile: nothing left to confirm
        return self._send(event, self.writer.confirmation(*found, key=self.message_key(event)))

    def confirm_notices(self, event: OutboxEvent) -> Delivered:
        """The double opt-in of reply notices: fixed text and a link, to the typed address."""
        with self.sessions() as session:
            found = self._comment(session, event.payload["comment_id"])
            proven = found is not None and address_proven(session, found[0])
        if (
            found is None
            or proven  # confirmed meanwhile (another link, or known mode's)
            or not (found[0].notify or found[0].notify_approved)  # unsubscribed meanwhile
            or found[0].commenter_id is None
            or found[0].status in (CommentStatus.SPAM, CommentStatus.REJECTED)
        ):
            return Delivered.SKIPPED
        message = self.writer.notices_confirmation(found[0], self.message_key(event))
        return self._send(event, message)

    def approved_notice(self, event: OutboxEvent) -> Delivered:
        """ "Your comment was approved", if it still is, still asks, and its address is proven
        (whoever typed an address may not own it: only a confirmed one gets mail about it)."""
        with self.sessions() as session:
            found = self._comment(session, event.payload["comment_id"])
            proven = found is not None and address_proven(session, found[0])
        if (
            found is None
            or not proven
            or not found[0].notify_approved
            or found[0].status is not CommentStatus.APPROVED
        ):
            return Delivered.SKIPPED
        return self._send(event, self.writer.approved_notice(*found, key=self.message_key(event)))

    def privacy_link(self, event: OutboxEvent) -> Delivered:
        """Mail the link of a data export or erasure request, if anything is stored about the
        address (else there is nothing to send, and nobody learns that there was not)."""
        email = str(event.payload["email"])
        with self.sessions() as session:
            stored = has_data(session, email.lower())
        if not stored:
            return Delivered.SKIPPED
        kind = PrivacyKind(str(event.payload["kind"]))
        return self._send(event, self.writer.privacy_link(email, kind, self.message_key(event)))

    def webhook(self, event: OutboxEvent) -> Delivered:
        """POST the stored payload (webhooks.body) to its hook, signed; raises on failure (the
        outbox retries) and RuntimeError without COMMENTD_WEBHOOK_SECRET.
        """
        if not self.settings.webhook_secret:
            raise RuntimeError("COMMENTD_WEBHOOK_SECRET is not set, so webhooks cannot be signed")
        webhooks.post(
            str(event.payload["url"]),
            str(event.payload["body"]).encode(),
            secret=self.settings.webhook_secret,
            event=str(event.payload["event"]),
            delivery_id=event.id,
            timeout=self.settings.delivery_timeout,
        )
        return Delivered.SENT


def build_outbox(engine: Engine, settings: Settings, secret: str) -> Outbox:
    """The site's outbox, with a handler for every kind of event notifications.py enqueues."""
    lease = timedelta(seconds=60 + BATCH * LEASE_PER_EVENT_TIMEOUTS * settings.delivery_timeout)
    deliveries = Deliveries(engine, settings, secret)
    return Outbox(
        engine,
        deliveries.handlers(),
        RetryPolicy(
            first_delay=settings.retry_seconds, max_attempts=settings.max_attempts, lease=lease
        ),
        scheduler=deliveries.schedule,
    )


def build_worker(outbox: Outbox, settings: Settings) -> Worker:
    """The background thread that delivers the outbox every COMMENTD_OUTBOX_POLL_SECONDS."""
    return Worker(outbox, settings.outbox_poll_seconds)
