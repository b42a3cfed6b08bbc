"""The rate-limit counters (counters.py): limits' semantics, expiry without a sweep, and the
file the processes of `commentd serve` share, exact across processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from limits import parse
from limits.strategies import SlidingWindowCounterRateLimiter

from commentd.web.counters import FILE_SCHEME, FileCounters, InProcessCounters


def test_the_sliding_window_counter_allows_the_limit_and_no_more() -> None:
    window = SlidingWindowCounterRateLimiter(InProcessCounters())
    two_a_minute = parse("2/minute")

    assert [window.hit(two_a_minute, "sender") for _ in range(3)] == [True, True, False]
    assert window.hit(two_a_minute, "another sender")
    assert window.get_window_stats(two_a_minute, "sender").remaining == 0


def test_expired_counters_are_dropped_as_new_ones_arrive() -> None:
    counters = InProcessCounters()
    for sender in range(200):
        counters.incr(f"sender-{sender}", expiry=0.01)

    time.sleep(0.05)
    counters.incr("a new sender", expiry=60)

    assert dict(counters.storage) == {"a new sender": 1}
    assert set(counters.expirations) == {"a new sender"}


def test_a_counter_cleared_and_started_again_outlives_its_old_expiry() -> None:
    counters = InProcessCounters()
    counters.incr("sender", expiry=0.01)
    counters.clear("sender")  # its queue entry stays behind
    counters.incr("sender", expiry=60)

    time.sleep(0.05)
    counters.incr("someone else", expiry=60)  # drops the queue's stale entry for "sender"

    assert counters.get("sender") == 1


def file_counters(path: Path) -> FileCounters:
    return FileCounters(f"{FILE_SCHEME}://{path.resolve()}")


def test_file_counters_count_expire_and_clear(tmp_path: Path) -> None:
    counters = file_counters(tmp_path / "c.sqlite3")
    assert counters.incr("k", expiry=60) == 1
    assert counters.incr("k", expiry=60, amount=2) == 3
    assert counters.get("k") == 3
    assert counters.decr("k", 5) == 0
    counters.incr("short", expiry=0.05)
    assert counters.get_expiry("short") > time.time()
    time.sleep(0.1)
    assert counters.get("short") == 0
    assert counters.incr("short", expiry=60) == 1  # starts again from zero once expired
    counters.clear("k")
    assert counters.get("k") == 0
    assert counters.check()
    assert counters.reset() == 1  # "short"


def test_file_counters_sliding_window_refuses_past_the_limit(tmp_path: Path) -> None:
    counters = file_counters(tmp_path / "c.sqlite3")
    assert [counters.acquire_sliding_window_entry("w", 3, 60) for _ in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    previous, _, current, ttl = counters.get_sliding_window("w", 60)
    assert (previous, current) == (0, 3) and 60 < ttl <= 120
    counters.clear_sliding_window("w", 60)
    assert counters.get_sliding_window("w", 60)[2] == 0


def test_a_refusal_inside_a_batch_keeps_the_hits_before_it(tmp_path: Path) -> None:
    counters = file_counters(tmp_path / "c.sqlite3")
    with pytest.raises(LookupError), counters.batch():
        assert counters.acquire_sliding_window_entry("first", 1, 60)
        raise LookupError("a limit refused")  # as flask-limiter raises RateLimitExceeded
    assert not counters.acquire_sliding_window_entry("first", 1, 60)


def _hammer(path: str, start: Any, results: Any) -> None:
    counters = FileCounters(f"{FILE_SCHEME}://{path}")
    start.wait()
    results.put(sum(counters.acquire_sliding_window_entry("shared", 30, 60) for _ in range(25)))


def test_file_counters_are_exact_across_processes(tmp_path: Path) -> None:
    """Four processes hit one limit of 30 a hundred times at once: exactly 30 pass."""
    path = str((tmp_path / "c.sqlite3").resolve())
    file_counters(tmp_path / "c.sqlite3").check()  # the file exists before the race
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(4), context.Queue()
    workers = [context.Process(target=_hammer, args=(path, start, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    passed = sum(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(timeout=10)
    assert passed == 30
    assert file_counters(tmp_path / "c.sqlite3").get_sliding_window("shared", 60)[2] == 30


@pytest.mark.parametrize("kind", ["in-process", "file"])
def test_clearing_a_sliding_window_leaves_no_live_counter_of_its_key(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An erasure clears the counters keyed by an address (RateLimits.forget_address): a
    window's counter lives two windows, so the one before the previous is still there."""
    window = 60
    now = [1_000 * window + 0.9 * window]  # late in a window
    monkeypatch.setattr(time, "time", lambda: now[0])
    counters = InProcessCounters() if kind == "in-process" else file_counters(tmp_path / "c")
    assert counters.acquire_sliding_window_entry("sender-key", 5, window)
    now[0] += 1.2 * window  # two windows on, before the counter expires

    counters.clear_sliding_window("sender-key", window)

    if isinstance(counters, InProcessCounters):
        live = [key for key in counters.storage if counters.get(key)]
    else:
        live = [
            key
            for (key,) in counters._connect().execute(
                "SELECT key FROM counters WHERE expires > ?", (now[0],)
            )
        ]
    assert live == []


class FailingOnce:
    """A connection whose first statement starting with `statement` fails (a full disk, an
    I/O error), as SQLite reports it."""

    def __init__(self, connection: Any, statement: str) -> None:
        self.connection, self.statement, self.failed = connection, statement, False

    def execute(self, sql: str, *arguments: Any) -> Any:
        if sql.startswith(self.statement) and not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("disk I/O error")
        return self.connection.execute(sql, *arguments)

    def executemany(self, sql: str, *arguments: Any) -> Any:
        return self.connection.executemany(sql, *arguments)

    @property
    def in_transaction(self) -> bool:
        return bool(self.connection.in_transaction)


@pytest.mark.parametrize("statement", ["DELETE", "COMMIT"])
def test_a_batch_that_fails_as_it_ends_counts_nothing(tmp_path: Path, statement: str) -> None:
    """A failing batch is taken again hit by hit (RateLimits.take_posting): had it counted,
    a comment would count twice. Its purge and its commit fail too (a full disk)."""
    counters = file_counters(tmp_path / "c.sqlite3")
    counters._connection = FailingOnce(counters._connect(), statement)  # type: ignore[assignment]
    counters._next_purge = 0.0

    with pytest.raises(sqlite3.OperationalError):
        counters.acquire_sliding_window_entries([("sender", 5, 60), ("site", 5, 60)])

    assert counters.acquire_sliding_window_entries([("sender", 5, 60)]) is None
    assert counters.get_sliding_window("sender", 60)[2] == 1
    assert counters.get_sliding_window("site", 60)[2] == 0
