"""The transactional outbox: emails and webhooks stored with the change that caused them, then
delivered by a background worker with leases, retries and exponential back-off.

Enqueueing is a row in the caller's own transaction, so a rolled-back change sends nothing and
a committed one is never lost. Delivery happens outside any request: a slow or dead receiver
can only delay its own event, never a reader's POST.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, delete, event, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from commentd.db import writer
from commentd.errors import first_line, short_of
from commentd.models import OutboxEvent, OutboxState, utcnow

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = timedelta(hours=1)
KEEP_DELIVERED = timedelta(days=30)  # delivered or given-up rows stay visible this long
BATCH = 10
# Payload keys that stay on a delivered row (for the author's view); the rest, which may hold
# a comment's text, is dropped once it has been sent.
KEPT_AFTER_DELIVERY = frozenset({"event", "target", "comment_id", "reply_id"})
# Marks the last_error of an event given up at once because no retry could deliver it.
PERMANENT = "permanent: "
# In a Session's info: this transaction enqueued something (or made failed events due again).
ENQUEUED = "outbox_enqueued"
# How often a delivery round also runs the outbox's scheduler (say, the spam digest's).
SCHEDULE_EVERY = timedelta(minutes=1)


class PermanentFailure(Exception):
    """Raised by a handler when retrying cannot deliver the event (a mail server's 5xx reply to
    the message, a webhook receiver's 4xx): the event is given up at once, the reason kept."""


# What an error text may carry that must stay out of logs and the outbox view: addresses
# (a refused recipient) and the path, query and credentials of URLs (a webhook URL is often
# its own secret; an SMTP URL holds a password).
_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)(?:[^\s/?#@'\"<>]*@)?([^\s/?#'\"<>]*)([^\s'\"<>]*)")
_EMAIL = re.compile(r"[^\s<>()\[\]{}'\",;:]+@[^\s<>()\[\]{}'\",;:]+")


def scrub(text: str) -> str:
    """`text` with every URL cut to its scheme and host and every email address replaced:
    `https://hooks.example/abc?key=1` -> `https://hooks.example/…`, `a@b.example` -> `<address>`.
    """
    text = _URL.sub(lambda m: m.group(1) + m.group(2) + ("/…" if m.group(3) else ""), text)
    return _EMAIL.sub("<address>", text)


def describe(error: BaseException) -> str:
    """An error as one bounded line for logs and the outbox view, with nothing secret in it."""
    return scrub(f"{type(error).__name__}: {error}")[:400]


class Delivered(StrEnum):
    """What a handler did with an event: sent it, or found nothing left to send."""

    SENT = "sent"
    SKIPPED = "skipped"


# A scheduler enqueues (and commits) what is due by the clock, such as the spam digest of the
# period `now` falls in; it must be safe to call from several processes at once (dedupe keys).
Scheduler = Callable[[datetime], None]

# A handler delivers one event: it returns whether it sent it or found nothing left to send,
# and raises when the attempt failed (to be retried).
Handler = Callable[[OutboxEvent], Delivered]


def enqueue(
    session: Session,
    kind: str,
    payload: Mapping[str, Any],
    *,
    dedupe_key: str | None = None,
    available_at: datetime | None = None,
) -> bool:
    """Add an event to the caller's transaction; False if one with `dedupe_key` already exists."""
    event = OutboxEvent(
        kind=kind,
        payload=dict(payload),
        dedupe_key=dedupe_key,
        state=OutboxState.PENDING,
        attempts=0,
        available_at=available_at or utcnow(),
        created_at=utcnow(),
    )
    if dedupe_key is None:
        session.add(event)
    else:
        try:
            with session.begin_nested():  # another process may enqueue the same key at once
                session.add(event)
        except IntegrityError:
            return False
    session.info[ENQUEUED] = True
    return True


def retry_delay(attempts: int, first: int) -> timedelta:
    """Exponential back-off: `first` seconds, doubling with each failed attempt, at most 1 h."""
    return min(timedelta(seconds=first * 2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How failed deliveries are retried: the first delay (seconds, doubling each time, at
    most 1 h), the attempts before giving up, and how long a claim (lease) lasts."""

    first_delay: int = 30
    max_attempts: int = 12
    lease: timedelta = timedelta(minutes=5)


class Outbox:
    """Claims due events, hands each to its handler, and records the outcome; runs the
    `scheduler`, if any, at most every SCHEDULE_EVERY of its delivery rounds."""

    def __init__(
        self,
        engine: Engine,
        handlers: Mapping[str, Handler],
        policy: RetryPolicy,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.reader = engine
        self.engine = writer(engine)
        self.handlers = dict(handlers)
        self.policy = policy
        self.scheduler = scheduler
        self._purged_at: datetime | None = None
        self._scheduled_at: datetime | None = None

    def claim(self, now: datetime, limit: int = BATCH) -> list[OutboxEvent]:
        """Lease up to `limit` due events to this caller, safely against other processes.

        PostgreSQL skips rows another worker holds (FOR UPDATE SKIP LOCKED); SQLite's writer
        transaction is already exclusive. Either way the UPDATE re-checks the lease, so an event
        is only ever held by one worker.
        """
        token = secrets.token_hex(16)
        due = (
            OutboxEvent.state == OutboxState.PENDING,
            OutboxEvent.available_at <= now,
            or_(OutboxEvent.locked_until.is_(None), OutboxEvent.locked_until < now),
        )
        # Most polls find nothing: ask without SQLite's write lock, which posting also needs.
        with Session(self.reader) as session:
            if not session.scalar(select(exists().where(*due))):
                return []
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            ids = session.scalars(
                select(OutboxEvent.id)
                .where(*due)
                .order_by(OutboxEvent.available_at, OutboxEvent.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not ids:
                return []
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(ids), *due)
                .values(
                    locked_until=now + self.policy.lease,
                    lock_token=token,
                    attempts=OutboxEvent.attempts + 1,
                )
            )
            return list(
                session.scalars(
                    select(OutboxEvent)
                    .where(OutboxEvent.lock_token == token)
                    .order_by(OutboxEvent.id)
                ).all()
            )

    def _record(self, outcomes: list[tuple[OutboxEvent, dict[str, Any]]]) -> None:
        """Record outcomes in one transaction, each only while its lease is still this worker's."""
        with Session(self.engine) as session, session.begin():
            for event, values in outcomes:
                session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.id == event.id, OutboxEvent.lock_token == event.lock_token)
                    .values(locked_until=None, lock_token=None, **values)
                )

    def attempt(self, event: OutboxEvent, now: datetime) -> dict[str, Any]:
        """Hand one event to its handler; returns the columns that record the outcome."""
        handler = self.handlers.get(event.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for {event.kind!r} events")
            outcome = handler(event)
        except Exception as error:
            return self._failure(event, error, now)
        kept = {k: v for k, v in event.payload.items() if k in KEPT_AFTER_DELIVERY}
        return {
            "state": OutboxState(outcome.value),
            "sent_at": utcnow(),
            "last_error": None,
            "payload": kept,
        }

    def deliver(self, event: OutboxEvent, now: datetime) -> None:
        """Attempt one claimed event now and record the outcome (sent, skipped, retry, failed)."""
        self._record([(event, self.attempt(event, now))])

    def _failure(self, event: OutboxEvent, error: Exception, now: datetime) -> dict[str, Any]:
        message = describe(error)
        if isinstance(error, PermanentFailure):
            log.error("outbox event %s (%s) cannot be delivered: %s", event.id, event.kind, message)
            return {"state": OutboxState.FAILED, "last_error": PERMANENT + message}
        if event.attempts >= self.policy.max_attempts:
            log.error("outbox event %s (%s) failed for good: %s", event.id, event.kind, message)
            return {"state": OutboxState.FAILED, "last_error": message}
        delay = retry_delay(event.attempts, self.policy.first_delay)
        log.warning(
            "outbox event %s (%s) failed, retry in %ss: %s",
            event.id,
            event.kind,
            int(delay.total_seconds()),
            message,
        )
        return {"available_at": now + delay, "last_error": message}

    def deliver_due(self, now: datetime | None = None) -> int:
        """Deliver what is due now (one batch); returns how many events were attempted."""
        now = now or utcnow()
        self._schedule(now)
        events = self.claim(now)
        if events:
            self._record([(event, self.attempt(event, now)) for event in events])
        self._purge_old(now)
        return len(events)

    def _schedule(self, now: datetime) -> None:
        if self.scheduler is None or (
            self._scheduled_at is not None and abs(now - self._scheduled_at) < SCHEDULE_EVERY
        ):
            return
        self._scheduled_at = now
        try:
            self.scheduler(now)
        except Exception:  # the database may be down: delivery goes on, next round tries again
            log.exception("outbox scheduler failed")
            self._scheduled_at = None

    def _purge_old(self, now: datetime) -> None:
        if self._purged_at is not None and now - self._purged_at < timedelta(hours=1):
            return
        self._purged_at = now
        with Session(self.engine) as session, session.begin():
            session.execute(
                delete(OutboxEvent).where(
                    or_(
                        OutboxEvent.state.in_([OutboxState.SENT, OutboxState.SKIPPED])
                        & (OutboxEvent.sent_at < now - KEEP_DELIVERED),
                        # Given up long ago: its payload may hold a comment's text; let it go.
                        (OutboxEvent.state == OutboxState.FAILED)
                        & (OutboxEvent.created_at < now - KEEP_DELIVERED),
                    )
                )
            )


class Worker:
    """A daemon thread per server process that keeps delivering due events."""

    def __init__(self, outbox: Outbox, poll_seconds: float, settle_seconds: float = 0.5) -> None:
        self.outbox = outbox
        self.poll_seconds = poll_seconds
        # Quiet time after the last new event before delivering (see _settle).
        self.settle_seconds = settle_seconds
        self._stop = threading.Event()
        # Set when a watched Session that enqueued something commits (wake_on_commit), so
        # delivery starts at once instead of at the next poll.
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def wake_on_commit(self, sessions: sessionmaker[Session]) -> None:
        """Deliver at once what any Session made by `sessions` enqueues, once it commits."""
        if not event.contains(sessions, "after_commit", self._wake_after_commit):
            event.listen(sessions, "after_commit", self._wake_after_commit)

    def _wake_after_commit(self, session: Session) -> None:
        if session.info.pop(ENQUEUED, False):
            self._wake.set()

    def start(self) -> None:
        """Start the delivery thread, unless it runs already."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="commentd-outbox", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 15) -> None:
        """Let the delivery in progress finish (so it is marked sent), then end the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                handled = self.outbox.deliver_due()
            except Exception as error:  # the database may be down: try again at the next poll
                shortage = short_of(error)
                if shortage is not None or isinstance(error, OperationalError):
                    # What passes (a full disk, a database that went away): one line a poll,
                    # not a traceback.
                    log.warning(
                        "outbox delivery round failed, tried again later: %s", first_line(error)
                    )
                else:
                    log.exception("outbox delivery round failed")
                handled = 0
            if handled < BATCH:
                woken = self._wake.wait(self.poll_seconds)
                self._wake.clear()
                if woken:
                    self._settle()

    def _settle(self) -> None:
        """Wait until comments stop arriving (at most one poll interval): a burst's mail goes
        out after the burst, in batches, rather than competing with it request by request."""
        deadline = time.monotonic() + self.poll_seconds
        while time.monotonic() < deadline and not self._stop.is_set():
            if not self._wake.wait(self.settle_seconds):
                return
            self._wake.clear()


def summary(session: Session, *, limit: int = 50) -> dict[str, Any]:
    """What the author sees of the outbox: counts per state and the events that are failing."""
    counts = {state.value: 0 for state in OutboxState}
    rows = session.execute(
        select(OutboxEvent.state, func.count()).group_by(OutboxEvent.state)
    ).all()
    counts.update({row[0].value: row[1] for row in rows})
    oldest = session.scalar(
        select(func.min(OutboxEvent.created_at)).where(OutboxEvent.state == OutboxState.PENDING)
    )
    troubled = session.scalars(
        select(OutboxEvent)
        .where(
            or_(
                OutboxEvent.state == OutboxState.FAILED,
                (OutboxEvent.state == OutboxState.PENDING) & (OutboxEvent.last_error.is_not(None)),
            )
        )
        .order_by(OutboxEvent.id.desc())
        .limit(limit)
    ).all()
    return {
        "counts": counts,
        "oldest_pending_at": _when(oldest),
        "failing": [
            {
                "id": event.id,
                "kind": event.kind,
                "state": event.state.value,
                "attempts": event.attempts,
                # Given up at once (a permanent failure) rather than after the last attempt.
                "permanent": (event.last_error or "").startswith(PERMANENT),
                # Shown as recorded, and scrubbed again: rows written before scrubbing existed.
                "last_error": scrub(event.last_error) if event.last_error else None,
                # Where it goes, safe to show (a webhook's scheme and host); None for emails.
                "target": event.payload.get("target"),
                "next_attempt_at": _when(event.available_at)
                if event.state is OutboxState.PENDING
                else None,
                "created_at": _when(event.created_at),
            }
            for event in troubled
        ],
    }


def retry_failed(session: Session, now: datetime | None = None) -> int:
    """Give every event that was given up on a fresh set of attempts; returns how many."""
    result = session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.state == OutboxState.FAILED)
        .values(state=OutboxState.PENDING, attempts=0, available_at=now or utcnow())
    )
    session.info[ENQUEUED] = True
    return int(result.rowcount)  # type: ignore[attr-defined]


def _when(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None
