"""The rate-limit counters (counters.py): limits' semantics (its counters and moving window),
expiry without a sweep, and the file the processes of `commentd serve` share, exact across
processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from limits import parse
from limits.strategies import MovingWindowRateLimiter

from commentd.web.counters import FILE_SCHEME, FileCounters, InProcessCounters


def test_the_moving_window_allows_the_limit_and_no_more() -> None:
    window = MovingWindowRateLimiter(InProcessCounters())
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


def test_expired_moving_windows_are_dropped_as_new_hits_arrive() -> None:
    counters = InProcessCounters()
    for sender in range(200):
        assert counters.acquire_entry(f"sender-{sender}", limit=5, expiry=0)
    counters.acquire_entry("early", limit=5, expiry=60)
    counters.acquire_entry("sender-7", limit=5, expiry=60)  # hit again: lives on

    time.sleep(0.05)
    counters.acquire_entry("a new sender", limit=5, expiry=60)

    assert set(counters._moments) == {"early", "sender-7", "a new sender"}
    assert counters.get_moving_window("sender-7", 5, 60)[1] == 1  # its old hit has left


def test_a_moving_window_keeps_no_more_moments_than_its_limit() -> None:
    counters = InProcessCounters()
    kept = []
    for _ in range(5):  # 2 per 50 ms, 30 ms apart: never full, never empty
        assert counters.acquire_entry("sender", limit=2, expiry=0.05)  # type: ignore[arg-type]
        kept.append(len(counters._moments["sender"]))
        time.sleep(0.03)

    assert kept == [1, 2, 2, 2, 2]


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


def test_a_counters_file_that_cannot_be_made_yet_fails_each_hit_then_is_made_by_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk at start (tests/live/test_faults.py) stopped the server; here the kernel
    refuses the file another way: its directory is missing."""
    folder = tmp_path / "not-yet"
    counters = file_counters(folder / "c.sqlite3")  # starts: no exception

    assert "cannot be made" in caplog.text
    with pytest.raises(sqlite3.Error):  # what limits.py turns into per-process counting
        counters.acquire_entry("w", 3, 60)
    assert not counters.check()
    folder.mkdir()
    assert counters.check()  # made now
    assert [counters.acquire_entry("w", 1, 60) for _ in range(2)] == [True, False]


def test_file_counters_moving_window_refuses_past_the_limit(tmp_path: Path) -> None:
    counters = file_counters(tmp_path / "c.sqlite3")
    before = time.time()
    assert [counters.acquire_entry("w", 3, 60) for _ in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    oldest, inside = counters.get_moving_window("w", 3, 60)
    assert inside == 3 and before <= oldest <= time.time()
    assert counters.acquire_entry("other", 3, 60)  # windows are per key
    counters.clear("w")
    assert counters.get_moving_window("w", 3, 60)[1] == 0
    assert counters.reset() == 1  # "other"


def test_a_refusal_inside_a_batch_keeps_the_hits_before_it(tmp_path: Path) -> None:
    counters = file_counters(tmp_path / "c.sqlite3")
    with pytest.raises(LookupError), counters.batch():
        assert counters.acquire_entry("first", 1, 60)
        raise LookupError("a limit refused")  # as flask-limiter raises RateLimitExceeded
    assert not counters.acquire_entry("first", 1, 60)


def _hammer(path: str, start: Any, results: Any) -> None:
    counters = FileCounters(f"{FILE_SCHEME}://{path}")
    start.wait()
    results.put(sum(counters.acquire_entry("shared", 30, 60) for _ in range(25)))


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
    assert file_counters(tmp_path / "c.sqlite3").get_moving_window("shared", 30, 60)[1] == 30


@pytest.mark.parametrize("kind", ["in-process", "file"])
def test_clearing_a_moving_window_leaves_nothing_of_its_key(kind: str, tmp_path: Path) -> None:
    """An erasure clears the windows keyed by an address (RateLimits.forget_address)."""
    counters = InProcessCounters() if kind == "in-process" else file_counters(tmp_path / "c")
    for _ in range(3):
        assert counters.acquire_entry("sender-key", 5, 60)
    assert counters.acquire_entry("someone else", 5, 60)

    counters.clear("sender-key")

    if isinstance(counters, InProcessCounters):
        left = set(counters._moments) | set(counters._moments_expire)
    else:
        left = {key for (key,) in counters._connect().execute("SELECT key FROM moments")}
    assert left == {"someone else"}


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
        counters.acquire_entries([("sender", 5, 60), ("site", 5, 60)])

    assert counters.acquire_entries([("sender", 5, 60)]) is None
    assert counters.get_moving_window("sender", 5, 60)[1] == 1
    assert counters.get_moving_window("site", 5, 60)[1] == 0


def steps_of(counters: FileCounters, call: Any) -> int:
    """How many SQLite virtual-machine steps `call` makes on the counters' connection."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    connection = counters._connect()
    connection.set_progress_handler(count, 1)
    try:
        call()
    finally:
        connection.set_progress_handler(None, 1)
    return steps


def test_a_hit_on_the_file_costs_the_same_however_many_moments_its_window_holds(
    tmp_path: Path,
) -> None:
    """A huge limit ("100000 per day", the benches' lifted limits) must not make each post
    walk every moment its window holds: a hit and a 429's wait read a few rows of the index."""
    counters = file_counters(tmp_path / "c.sqlite3")
    costs = []
    for held in (10, 20_000):
        with counters.batch():
            for _ in range(held - counters.get_moving_window("site", 100_000, 86_400)[1]):
                assert counters.acquire_entry("site", 100_000, 86_400)
        costs.append(
            (
                steps_of(counters, lambda: counters.acquire_entries([("site", 100_000, 86_400)])),
                steps_of(counters, lambda: counters.get_moving_window("site", 100_000, 86_400)),
            )
        )

    (hit_few, window_few), (hit_many, window_many) = costs
    assert hit_many < 2 * hit_few + 100, costs
    assert window_many < 2 * window_few + 100, costs


def test_a_hit_that_waited_for_the_lock_counts_when_it_is_taken_and_forgets_nothing() -> None:
    """A hit that reads the clock and then waits for the lock (another thread's batch) must
    count at the moment it is taken: counted at its earlier reading, it set its key's window
    to end before the newer hit's, and the expiry then dropped the whole key early, newer hit
    and all: "2 per second" let a third and a fourth in within the same second."""
    counters = InProcessCounters()
    with counters.batch():  # another request's batch holds the lock
        waiting = threading.Thread(target=counters.acquire_entry, args=("sender", 2, 1))
        waiting.start()
        time.sleep(0.3)  # the waiting hit has read the clock and waits for the lock
        assert counters.acquire_entry("sender", 2, 1)
        held_at = time.time()
    waiting.join()
    assert counters.get_moving_window("sender", 2, 1)[1] == 2

    time.sleep(max(0.0, held_at + 0.75 - time.time()))  # both hits are < 1 s old
    assert [counters.acquire_entry("sender", 2, 1) for _ in range(2)] == [False, False]


class CountingList(list[float]):
    """A window's moments that count how many of them are read."""

    reads = 0

    def __getitem__(self, index: Any) -> Any:
        CountingList.reads += 1
        return super().__getitem__(index)

    def __iter__(self) -> Any:
        CountingList.reads += len(self)
        return super().__iter__()


def test_a_429s_wait_in_process_reads_a_few_moments_however_many_the_window_holds() -> None:
    """Every post refused at a full "100000 per day" asks how long to wait, under the storage's
    lock: 6.6 ms when it read every moment of the window."""
    counters = InProcessCounters()
    for _ in range(3):
        assert counters.acquire_entry("site", 100_000, 86_400)
    counters._moments["site"] = CountingList(counters._moments["site"] * 30_000)

    oldest, inside = counters.get_moving_window("site", 100_000, 86_400)

    assert inside == 90_000 and oldest <= time.time()
    assert CountingList.reads < 100


def holds(value: object, text: str) -> bool:
    """Whether `text` is anywhere in `value`, its containers looked into."""
    if isinstance(value, str):
        return text in value
    if isinstance(value, dict):
        return any(holds(k, text) or holds(v, text) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(holds(item, text) for item in value)
    return False


ERASED = "LIMITER/5d1a0e7c-keyed-hash-of-an-erased-email/sender/30/1/day"


def test_an_erased_key_is_nowhere_in_process_once_cleared() -> None:
    """RateLimits.forget_address: after an erasure no key made of the address is left in
    the counters, not even in their expiry queues (which kept it until its window's end)."""
    counters = InProcessCounters()
    for _ in range(3):
        assert counters.acquire_entry(ERASED, 30, 86_400)
    counters.incr(f"{ERASED}/fixed", expiry=86_400)
    assert counters.acquire_entry("someone else", 30, 86_400)

    counters.clear(ERASED)
    counters.clear(f"{ERASED}/fixed")

    assert not holds(vars(counters), "erased-email"), vars(counters)
    assert counters.acquire_entry("someone else", 30, 86_400)  # the others' windows stay
    assert counters.get_moving_window("someone else", 30, 86_400)[1] == 2


def test_an_erased_key_is_nowhere_in_the_counters_files_once_cleared(tmp_path: Path) -> None:
    """The file's deleted rows must not stay readable in its free space or its journal."""
    counters = file_counters(tmp_path / "c.sqlite3")
    for _ in range(40):  # past its limit of 30: its oldest moments are trimmed as it goes
        counters.acquire_entry(ERASED, 30, 86_400)
    counters.incr(f"{ERASED}/fixed", expiry=86_400)
    assert counters.acquire_entry("someone else", 30, 86_400)

    counters.clear(ERASED)
    counters.clear(f"{ERASED}/fixed")

    found = [path.name for path in tmp_path.iterdir() if b"erased-email" in path.read_bytes()]
    assert found == []
    assert counters.get_moving_window("someone else", 30, 86_400)[1] == 1
