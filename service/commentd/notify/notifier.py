"""Which emails and webhooks a change to a comment causes, enqueued in the change's transaction.

Nothing is sent here: rows go into the outbox beside the change (outbox.py), and handlers.py
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

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from commentd.comments.identity import address_proven, known_address_identity
from commentd.comments.public import public_comment
from commentd.comments.validation import PrivacyRequest
from commentd.config import ModerationMode, Settings
from commentd.keys import keyed_hash
from commentd.models import Comment, CommentStatus, OutboxEvent, utcnow
from commentd.notify import outbox, spam_digest, webhooks
from commentd.spam import rules


class Kind:
    """The outbox event kinds this module enqueues (handlers.py has a handler for each)."""

    AUTHOR_NOTICE = "author_notice"
    AUTHOR_DIGEST = "author_digest"
    REPLY_NOTICE = "reply_notice"
    CONFIRM_EMAIL = "confirm_email"  # COMMENTD_MODERATION=known: a known address, a new browser
    CONFIRM_NOTICES = "confirm_notices"  # double opt-in before any reply or approval notice
    APPROVED_NOTICE = "approved_notice"  # "your comment was approved", to a proven address
    PRIVACY_LINK = "privacy_link"  # the link of a data export or erasure request
    SPAM_DIGEST = spam_digest.KIND  # what the defences caught (spam_digest.schedule enqueues it)
    WEBHOOK = "webhook"


# Kinds whose mail goes to a reader's address about one of their comments (payload comment_id
# or reply_id): what erasing an address drops with its comments.
MAIL_ABOUT_COMMENTS = (
    Kind.AUTHOR_NOTICE,
    Kind.REPLY_NOTICE,
    Kind.CONFIRM_EMAIL,
    Kind.CONFIRM_NOTICES,
    Kind.APPROVED_NOTICE,
)


class Event:
    """Webhook event names (API.md)."""

    CREATED = "comment.created"
    APPROVED = "comment.approved"
    # Erased, or taken off the public page (approved -> rejected or spam): a rebuild is due.
    DELETED = "comment.deleted"
    # A public comment's writer changed its text (it stayed public): a rebuild is due.
    EDITED = "comment.edited"


def digest_due(now: datetime, minutes: int) -> datetime:
    """The end of the digest period `now` falls in: periods are aligned to the clock."""
    period = minutes * 60
    start = int(now.timestamp()) // period * period
    return datetime.fromtimestamp(start + period, tz=now.tzinfo)


@dataclass(frozen=True)
class Notifier:
    """The site's notification policy, applied to each change before the caller commits: the
    comments.CommentEvents that views hand to the domain's operations."""

    settings: Settings
    secret: str

    @property
    def sends_mail(self) -> bool:
        """Whether any email is sent at all (COMMENTD_SMTP_URL is set)."""
        return bool(self.settings.smtp_url)

    def submitted(self, session: Session, comment: Comment, slug: str) -> None:
        """A new comment was stored (comments.submit)."""
        if comment.status is CommentStatus.SPAM:
            return  # the spam folder is not news, to the author or to the site
        self._webhooks(session, Event.CREATED, comment, slug)
        if comment.status is CommentStatus.APPROVED:
            self._published(session, comment, slug)
        if self._tells_author(comment) and not comment.is_owner:  # not of their own reply
            self._author_notice(session, comment)
        if self._needs_confirmation(session, comment):
            # Confirming it proves the address too, so it stands for a notices confirmation.
            self._confirmation(session, comment, Kind.CONFIRM_EMAIL)
        elif self._asks_notices_unproven(session, comment):
            self._confirmation(session, comment, Kind.CONFIRM_NOTICES)

    def moderated(self, session: Session, comment: Comment, slug: str, *, was_public: bool) -> None:
        """A comment was given a new status (comments.moderate): what the change of
        visibility causes (published: webhooks and reply notice; taken down: webhooks)."""
        is_public = comment.status is CommentStatus.APPROVED
        if is_public and not was_public:
            self._published(session, comment, slug)
            self._approved_notice(session, comment)
        elif was_public and not is_public:
            self._webhooks(session, Event.DELETED, comment, slug)

    def edited(
        self, session: Session, comment: Comment, slug: str, *, was_status: CommentStatus
    ) -> None:
        """Its writer changed a comment's text (comments.edit_own): static sites rebuild
        (comment.edited while it stays public; published or taken down when that changed), and
        an edit that waits again is news to the author."""
        was_public = was_status is CommentStatus.APPROVED
        is_public = comment.status is CommentStatus.APPROVED
        if was_public and is_public:
            self._webhooks(session, Event.EDITED, comment, slug)
        elif is_public:
            self._published(session, comment, slug)
        elif was_public:
            self._webhooks(session, Event.DELETED, comment, slug)
        if was_status is not comment.status and self._tells_author(comment):
            self._author_notice(session, comment)

    def review_requested(self, session: Session, comment: Comment, slug: str) -> None:
        """Its writer asked for a review of a comment the spam defences caught: it waits now,
        so it is news as a new waiting comment is (webhook comment.created, the author's
        notice); spam was never announced before. A notice of its own even where the author
        gets digests: a digest lists the comments written in its period, and this one is older."""
        self._webhooks(session, Event.CREATED, comment, slug)
        if self._tells_author(comment):
            outbox.enqueue(
                session,
                Kind.AUTHOR_NOTICE,
                {"comment_id": comment.id},
                dedupe_key=f"{Kind.AUTHOR_NOTICE}:review:{comment.id}",
            )

    def privacy_requested(self, session: Session, request: PrivacyRequest) -> None:
        """Someone asked for an address's data: the link goes to that address (handlers.py
        sends it only if anything is stored about it then). Enqueued whatever is stored, so
        the request costs the same either way; the address leaves the row once sent."""
        outbox.enqueue(
            session, Kind.PRIVACY_LINK, {"email": request.email, "kind": request.kind.value}
        )

    def forgetting_address(self, session: Session, email_key: str, comment_ids: list[int]) -> None:
        """An address is being erased: drop every outbox row that would mail it or names it —
        mail about its comments, its privacy links, its confirmation keys (keyed hashes) — and
        every webhook of its comments but the comment.deleted that tells sites to rebuild."""
        erased = set(comment_ids)
        confirm_prefix = f"{Kind.CONFIRM_EMAIL}:{self._address_key(email_key)}:"
        session.execute(
            delete(OutboxEvent).where(
                OutboxEvent.dedupe_key.startswith(confirm_prefix, autoescape=True)
            )
        )
        rows = session.execute(
            select(OutboxEvent.id, OutboxEvent.kind, OutboxEvent.payload).where(
                OutboxEvent.kind.in_([*MAIL_ABOUT_COMMENTS, Kind.PRIVACY_LINK, Kind.WEBHOOK])
            )
        ).all()
        doomed = [row.id for row in rows if self._names(row.kind, row.payload, email_key, erased)]
        if doomed:
            session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(doomed)))

    @staticmethod
    def _names(kind: str, payload: dict[str, object], email_key: str, erased: set[int]) -> bool:
        if kind == Kind.PRIVACY_LINK:
            return str(payload.get("email", "")).lower() == email_key
        ids = {payload.get(key) for key in ("comment_id", "reply_id")}
        if kind == Kind.WEBHOOK:
            return payload.get("event") != Event.DELETED and bool(ids & erased)
        return bool(ids & erased)

    def _address_key(self, email_key: str) -> str:
        return keyed_hash(self.secret, "confirm-address", email_key)

    def _approved_notice(self, session: Session, comment: Comment) -> None:
        """The author approved a comment whose writer asked to be told (`notify_approved`):
        one mail, sent only if the address is proven then (checked again at sending)."""
        if not (self.sends_mail and comment.notify_approved):
            return
        outbox.enqueue(
            session,
            Kind.APPROVED_NOTICE,
            {"comment_id": comment.id},
            dedupe_key=f"{Kind.APPROVED_NOTICE}:{comment.id}",  # approved twice, told once
        )

    def erasing(self, session: Session, comment: Comment, slug: str) -> None:
        """A comment is about to be erased (comments.erase): the webhook carries its public
        form, taken while it can still be read. Spam was never public: nothing is due."""
        if comment.status is not CommentStatus.SPAM:
            self._webhooks(session, Event.DELETED, comment, slug)

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
            and (comment.notify or comment.notify_approved)
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
            not self.sends_mail
            or comment.status is not CommentStatus.PENDING
            or comment.reasons
            or comment.commenter_id is None
            # The author may change the mode in the console: the stored rules say (one query).
            or rules.moderation_mode(session, self.settings) is not ModerationMode.KNOWN
        ):
            return False
        return known_address_identity(session, comment)

    def _confirmation(self, session: Session, comment: Comment, kind: str) -> None:
        """At most one confirmation email (of either kind) per address and window, whoever
        typed the address. The address is in the key only as a keyed hash."""
        now = utcnow()
        window = self.settings.confirm_email_minutes * 60
        address = self._address_key(comment.email.lower())
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
