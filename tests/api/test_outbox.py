"""The outbox on a real database: leases, concurrent workers, back-off, giving up, retrying."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from commentd.db import make_engine, writer
from commentd.models import OutboxEvent, OutboxState, utcnow
from commentd.notify import outbox
from commentd.notify.outbox import Delivered, Outbox, RetryPolicy
from tests.helpers import wait_until


def add_events(engine: Engine, count: int, **payload: object) -> None:
    with Session(writer(engine)) as session:
        for number in range(count):
            outbox.enqueue(session, "test", {"number": number, **payload})
        session.commit()


def stored(engine: Engine) -> list[OutboxEvent]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all())


def make_outbox(
    engine: Engine, handler: Callable[[OutboxEvent], Delivered], **policy: object
) -> Outbox:
    return Outbox(engine, {"test": handler}, RetryPolicy(**policy))  # type: ignore[arg-type]


def sent(_event: OutboxEvent) -> Delivered:
    return Delivered.SENT


def refused(_event: OutboxEvent) -> Delivered:
    raise ConnectionRefusedError("connection refused")


def test_an_event_is_held_by_one_worker_until_its_lease_runs_out(
    migrated_engine: Engine,
) -> None:
    add_events(migrated_engine, 1)
    first = make_outbox(migrated_engine, sent, lease=timedelta(minutes=5))
    second = make_outbox(migrated_engine, sent, lease=timedelta(minutes=5))
    now = utcnow()

    held = first.claim(now)
    meanwhile = second.claim(now + timedelta(minutes=4))
    after_lease = second.claim(now + timedelta(minutes=6))

    assert [e.attempts for e in held] == [1]
    assert meanwhile == []
    assert [(e.id, e.attempts) for e in after_lease] == [(held[0].id, 2)]


def test_concurrent_workers_never_claim_the_same_event(
    migrated_engine: Engine, database_url: str
) -> None:
    add_events(migrated_engine, 60)
    engines = [make_engine(database_url) for _ in range(4)]
    claimed: list[list[int]] = [[] for _ in engines]
    start = threading.Barrier(len(engines))

    def work(index: int) -> None:
        box = make_outbox(engines[index], sent)
        start.wait()
        while batch := box.claim(utcnow(), limit=3):
            claimed[index].extend(event.id for event in batch)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()

    every = [event_id for ids in claimed for event_id in ids]
    assert sorted(every) == [event.id for event in stored(migrated_engine)]  # all, each once


def test_failures_are_retried_with_doubling_delays_then_given_up_until_retried(
    migrated_engine: Engine,
) -> None:
    add_events(migrated_engine, 1)
    box = make_outbox(migrated_engine, refused, first_delay=10, max_attempts=3)
    now = utcnow()

    box.deliver_due(now)
    [after_one] = stored(migrated_engine)
    assert box.deliver_due(now + timedelta(seconds=9)) == 0
    box.deliver_due(now + timedelta(seconds=10))
    [after_two] = stored(migrated_engine)
    box.deliver_due(now + timedelta(seconds=30))
    [given_up] = stored(migrated_engine)

    assert (after_one.state, after_one.attempts) == (OutboxState.PENDING, 1)
    assert after_one.available_at == now + timedelta(seconds=10)
    assert after_one.last_error == "ConnectionRefusedError: connection refused"
    assert after_two.available_at == now + timedelta(seconds=10 + 20)
    assert (given_up.state, given_up.attempts) == (OutboxState.FAILED, 3)
    assert box.deliver_due(now + timedelta(days=1)) == 0

    with Session(writer(migrated_engine)) as session:
        assert outbox.summary(session)["counts"]["failed"] == 1
        assert outbox.retry_failed(session, now) == 1
        session.commit()
    [retried] = stored(migrated_engine)
    assert (retried.state, retried.attempts) == (OutboxState.PENDING, 0)


def test_only_the_worker_holding_the_lease_records_the_outcome(migrated_engine: Engine) -> None:
    add_events(migrated_engine, 1)
    lease = timedelta(minutes=1)
    slow = make_outbox(migrated_engine, sent, lease=lease)
    other = make_outbox(migrated_engine, sent, lease=lease)
    now = utcnow()
    [stale] = slow.claim(now)
    [fresh] = other.claim(now + timedelta(minutes=2))  # the slow worker's lease ran out

    slow.deliver(stale, now + timedelta(minutes=3))
    [still_held] = stored(migrated_engine)
    other.deliver(fresh, now + timedelta(minutes=3))
    [done] = stored(migrated_engine)

    assert (still_held.state, still_held.lock_token) == (OutboxState.PENDING, fresh.lock_token)
    assert (done.state, done.lock_token, done.locked_until) == (OutboxState.SENT, None, None)


def test_a_delivered_event_keeps_no_comment_text(migrated_engine: Engine) -> None:
    add_events(migrated_engine, 1, body='{"comment": "private words"}', event="comment.created")
    make_outbox(migrated_engine, sent).deliver_due()

    [event] = stored(migrated_engine)

    assert event.state is OutboxState.SENT
    assert event.payload == {"event": "comment.created"}
    assert event.sent_at is not None


def test_an_event_with_a_taken_dedupe_key_is_not_added_twice(migrated_engine: Engine) -> None:
    with Session(writer(migrated_engine)) as session:
        added = [outbox.enqueue(session, "test", {}, dedupe_key="reply:1") for _ in range(2)]
        session.commit()
        count = session.scalar(select(func.count()).select_from(OutboxEvent))

    assert (added, count) == ([True, False], 1)


def test_an_event_of_an_unknown_kind_fails_visibly(migrated_engine: Engine) -> None:
    with Session(writer(migrated_engine)) as session:
        outbox.enqueue(session, "mystery", {})
        session.commit()
    make_outbox(migrated_engine, sent).deliver_due()

    [event] = stored(migrated_engine)

    assert event.last_error == "LookupError: no handler for 'mystery' events"


def test_a_delivery_round_that_finds_the_database_gone_says_so_in_a_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker whose database is unreachable (or whose disk is full) tries every poll: each
    failure was a whole traceback in the log, every few seconds per worker."""
    folder = tmp_path / "gone"
    folder.mkdir()
    engine = make_engine(f"sqlite:///{folder / 'c.db'}")
    shutil.rmtree(folder)  # the database can no longer be opened: sqlite3's OperationalError
    worker = outbox.Worker(make_outbox(engine, sent), poll_seconds=0.05)
    with caplog.at_level(logging.WARNING, logger="commentd"):
        worker.start()
        try:
            wait_until(lambda: len(caplog.records) >= 2, "two failed delivery rounds")
        finally:
            worker.stop()
            engine.dispose()

    failed = [r for r in caplog.records if "outbox delivery round failed" in r.getMessage()]
    assert len(failed) >= 2
    assert all(record.exc_info is None for record in failed)
    # The file the engine was made on is gone (db.OpenedFile): said as such, not as SQLite's
    # "unable to open database file", and no empty database made in its place.
    assert "was removed while commentd ran" in failed[0].getMessage()
    assert not folder.exists()


class SpentOutbox(Outbox):
    """An outbox whose round fails as an allocation that found no memory does: MemoryError(),
    whose message is empty (no way to make a real one without starving the test's process)."""

    def deliver_due(self) -> int:
        raise MemoryError()


def test_a_delivery_round_failing_with_an_empty_message_is_said_and_the_worker_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The round's one line took the first line of the error's message: an error that says
    nothing (MemoryError()) raised IndexError there, and the delivery thread ended for good."""
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    worker = outbox.Worker(SpentOutbox(engine, {"test": sent}, RetryPolicy()), poll_seconds=0.05)
    with caplog.at_level(logging.WARNING, logger="commentd"):
        worker.start()
        try:
            wait_until(lambda: len(caplog.records) >= 3, "three failed delivery rounds")
            alive = worker._thread is not None and worker._thread.is_alive()
        finally:
            worker.stop()
            engine.dispose()
    assert alive
    failed = [r.getMessage() for r in caplog.records]
    assert failed[0] == "outbox delivery round failed, tried again later: MemoryError", failed
