"""The spam digest: what the spam defences caught, mailed to the author daily or weekly (the
`spam_digest` rule, COMMENTD_SPAM_DIGEST), so the spam folder is never a black hole.

Periods are aligned to the clock in UTC: a day from midnight, a week from Monday midnight.
The outbox worker calls `schedule` on its rounds (no daemon of its own): once a period has
ended, it enqueues one event for it if anything was caught, under a dedupe key that names the
cadence and the period's end, so several processes (or workers) enqueue it once. At delivery
the handler lists what is still in the spam folder, caught by the defences (never filed by
the author), since the end of the last digest that was sent (at most LOOKBACK back, which is
also how far the first digest reaches): nothing caught, nothing sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from commentd.config import Settings
from commentd.models import Comment, CommentStatus, OutboxEvent, OutboxState, Post
from commentd.notify import outbox
from commentd.spam import rules

KIND = "spam_digest"
PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
# Due a little after its period ends: a comment stored in the period's last moment has
# committed by then.
GRACE = timedelta(minutes=1)
# How far back a digest may reach when earlier ones were not sent (mail down, digest off).
LOOKBACK = timedelta(days=35)
# At most this many comments are listed; the mail says how many more the console holds.
MAX_ITEMS = 100
_MONDAY = datetime(2024, 1, 1, tzinfo=UTC)  # any Monday midnight: weeks are counted from it


def period_of(now: datetime, cadence: str) -> tuple[datetime, datetime]:
    """The [start, end) of the `cadence` ("daily" or "weekly") period `now` falls in, UTC;
    raises KeyError for another cadence."""
    length = PERIODS[cadence]
    elapsed = (now.astimezone(UTC) - _MONDAY) // length
    start = _MONDAY + elapsed * length
    return start, start + length


def dedupe_key(cadence: str, until: datetime) -> str:
    """One digest per cadence and period end: "spam_digest:daily:1735689600"."""
    return f"{KIND}:{cadence}:{int(until.timestamp())}"


def schedule(session: Session, settings: Settings, now: datetime) -> bool:
    """Enqueue the digest of the last period that ended (GRACE before `now`), if the author
    wants digests, it is not enqueued yet, and anything was caught in it: due at once, so the
    outbox holds it only while it is being sent. True if this call added it. Does not commit.

    Several processes may call this at once: the dedupe key lets one of them add it.
    """
    cadence = rules.spam_digest(session, settings)
    if cadence not in PERIODS:
        return False
    until = period_of(now - GRACE, cadence)[0]  # the end of the period before
    key = dedupe_key(cadence, until)
    if session.scalar(select(exists().where(OutboxEvent.dedupe_key == key))):
        return False
    since = _since(session, until)
    if not session.scalar(select(exists().where(*_caught_between(since, until)))):
        return False  # nothing caught: no mail, and no event either
    return outbox.enqueue(
        session,
        KIND,
        {"cadence": cadence, "until": until.isoformat()},
        dedupe_key=key,
        available_at=until + GRACE,
    )


def _last_sent_until(session: Session, before: datetime) -> datetime | None:
    keys = session.scalars(
        select(OutboxEvent.dedupe_key).where(
            OutboxEvent.kind == KIND, OutboxEvent.state == OutboxState.SENT
        )
    ).all()
    ends = []
    for key in keys:
        stamp = (key or "").rpartition(":")[2]
        if stamp.isdigit():
            ends.append(datetime.fromtimestamp(int(stamp), tz=UTC))
    earlier = [end for end in ends if end < before]
    return max(earlier) if earlier else None


def _since(session: Session, until: datetime) -> datetime:
    """Where the digest ending at `until` starts: the end of the last digest sent before it,
    at most LOOKBACK back (so also the first digest, or the first after digests were off or
    could not be sent, lists the spam folder's recent catch, not only its period's)."""
    last = _last_sent_until(session, until)
    earliest = until - LOOKBACK
    return earliest if last is None else max(last, earliest)


def _caught_between(since: datetime, until: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        Comment.status == CommentStatus.SPAM,
        Comment.moderated_at.is_(None),  # the defences' decision, not the author's
        Comment.created_at >= since,
        Comment.created_at < until,
    )


@dataclass(frozen=True)
class Caught:
    """What one digest lists: up to MAX_ITEMS comments (oldest first) with their slugs, how
    many more were caught, and the time span [since, until) they were caught in."""

    items: list[tuple[Comment, str]]
    more: int
    since: datetime
    until: datetime


def caught(session: Session, until: datetime) -> Caught:
    """What the defences caught and is still in the spam folder, from the end of the last
    digest sent (see _since) to `until`."""
    since = _since(session, until)
    where = _caught_between(since, until)
    rows = session.execute(
        select(Comment, Post.slug)
        .join(Post, Post.id == Comment.post_id)
        .where(*where)
        .order_by(Comment.id)
        .limit(MAX_ITEMS)
    ).all()
    items = [(row[0], row[1]) for row in rows]
    more = 0
    if len(items) == MAX_ITEMS:
        total = session.scalar(select(func.count()).select_from(Comment).where(*where)) or 0
        more = total - len(items)
    return Caught(items, more, since, until)
