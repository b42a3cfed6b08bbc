"""In-process rate-limit counters whose cost does not grow with the number of senders.

limits' MemoryStorage, which flask-limiter uses for `memory://`, drops expired counters by
sweeping *every* key from a timer thread, 10 ms after each increment. Every sender has
counters of its own, so under a flood of new addresses the sweep held the GIL for a growing
share of the process: measured on posting with `commentd serve`, 25-30% fewer posts per
second once a few thousand counters were alive. Here each counter is queued once, by its
expiry, when it is created, and every increment drops what has expired from the front of the
queue: O(log n) per new counter, nothing per idle one.

Every operation holds one lock of the storage: MemoryStorage's per-key locks were dropped and
made anew by its expiry while another thread held them, and `incr` read its answer after
letting go, so two threads could both see the other's count. A sliding-window hit (test and
count) runs under that lock, as one step: what makes each limit atomic in-process.
"""

from __future__ import annotations

import heapq
import math
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from limits.storage import MemoryStorage, Storage
from limits.storage.base import SlidingWindowCounterSupport, TimestampedSlidingWindow

from commentd.db import FileTurn

if TYPE_CHECKING:
    import sqlite3  # imported by FileCounters when used: 0.9 MB a process that never is

SCHEME = "commentd-memory"

# One sliding-window hit of a batch: (limits' key for the limit and its identifiers, as
# RateLimitItem.key_for makes it; the limit's amount; its window in seconds). Each costs 1.
Entry = tuple[str, int, int]


def live_window_keys(key: str, expiry: int, now: float) -> tuple[str, ...]:
    """Every window counter of `key` that may still be alive at `now`: a window's counter lives
    two windows (limits' sliding window), so the one before the previous is too. Clearing only
    the two that limits reads left that one behind, a keyed hash of an erased address."""
    before_previous = TimestampedSlidingWindow.sliding_window_keys(key, expiry, now - expiry)[0]
    return (before_previous, *TimestampedSlidingWindow.sliding_window_keys(key, expiry, now))


class SlidingWindows(Protocol):
    """A storage that takes several sliding-window hits in one step (one lock, one
    transaction or one Redis round trip): a comment's limits.

    `acquire_sliding_window_entries(entries)` hits each entry in order, exactly as limits'
    `acquire_sliding_window_entry(key, limit, expiry)` would one by one, and stops at the
    first that is full: it answers that entry's index (it and those after it counted
    nothing; those before it did), or None when every entry counted. Nothing else counts in
    the same keys in between, in this process or another.
    """

    def acquire_sliding_window_entries(self, entries: Sequence[Entry]) -> int | None:
        """The index of the first full entry (it and the rest uncounted), else None."""


class InProcessCounters(MemoryStorage):
    """MemoryStorage's counters and sliding windows, with expiry by queue instead of sweep.

    Only the counters (fixed and sliding windows) are served; the moving window's event lists,
    which still rely on the sweep, are not used by commentd (extensions.RateLimits).
    """

    # Registered with limits by this class statement. A list, as limits declares it.
    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any):
        self._expiry_queue: list[tuple[float, str]] = []
        self._lock = threading.RLock()
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()  # the sweep MemoryStorage starts; never rescheduled here

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Add `amount` to `key`'s counter (a new one lives `expiry` seconds); its new value."""
        now = time.time()
        with self._lock:
            self._drop_expired(now)
            self.get(key)  # a counter past its expiry starts again from zero
            self.storage[key] += amount
            if self.storage[key] == amount:
                expires_at = now + expiry
                self.expirations[key] = expires_at
                heapq.heappush(self._expiry_queue, (expires_at, key))
            return self.storage[key]

    def decr(self, key: str, amount: int = 1) -> int:
        """Take `amount` from `key`'s counter, not below 0; its new value."""
        with self._lock:
            self.get(key)
            self.storage[key] = max(self.storage[key] - amount, 0)
            return self.storage[key]

    def get(self, key: str) -> int:
        """`key`'s counter (0 once expired)."""
        with self._lock:
            return super().get(key)

    def clear(self, key: str) -> None:
        """Forget `key`'s counter."""
        with self._lock:
            super().clear(key)

    def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        """One sliding-window hit, test and count in one step: False (nothing counted) when
        `limit` per `expiry` seconds is reached."""
        with self._lock:
            return super().acquire_sliding_window_entry(key, limit, expiry, amount)

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        """limits' (previous count, its time to live, current count, its time to live)."""
        with self._lock:
            return super().get_sliding_window(key, expiry)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the storage's lock for several hits: a comment's limits take it once."""
        with self._lock:
            yield

    def acquire_sliding_window_entries(self, entries: Sequence[Entry]) -> int | None:
        """Several sliding-window hits in order, as one step (the storage's lock held
        throughout); see `SlidingWindows`."""
        with self._lock:
            for index, (key, limit, expiry) in enumerate(entries):
                if not self.acquire_sliding_window_entry(key, limit, expiry):
                    return index
        return None

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        """Forget every window counter of `key` still alive (live_window_keys)."""
        with self._lock:
            for window_key in live_window_keys(key, expiry, time.time()):
                self.clear(window_key)

    def reset(self) -> int | None:
        """Forget every counter."""
        with self._lock:
            self._expiry_queue.clear()
            return super().reset()

    def _drop_expired(self, now: float) -> None:
        with self._lock:
            queue = self._expiry_queue
            while queue and queue[0][0] <= now:
                expires_at, key = heapq.heappop(queue)
                # A counter read after its expiry was dropped by get(), and may have started
                # again with a later expiry (queued anew): only the entry that is due goes.
                if self.expirations.get(key) == expires_at:
                    self.storage.pop(key, None)
                    self.expirations.pop(key, None)
                    self.locks.pop(key, None)


FILE_SCHEME = "commentd-file"
# Add ?2 to counter ?1, or start it at ?2 when it is new or expired (it then lives ?4 seconds
# from ?3, now).
_UPSERT = (
    "INSERT INTO counters (key, value, expires) VALUES (?1, ?2, ?3 + ?4) "
    "ON CONFLICT (key) DO UPDATE SET "
    "value = CASE WHEN expires <= ?3 THEN ?2 ELSE value + ?2 END, "
    "expires = CASE WHEN expires <= ?3 THEN ?3 + ?4 ELSE expires END"
)
# Counters past their expiry are deleted at most this often by each process (seconds).
PURGE_SECONDS = 10.0


class FileCounters(Storage, SlidingWindowCounterSupport, TimestampedSlidingWindow):
    """limits' counters and sliding windows in an SQLite file that every process of one host
    shares (`commentd-file:///absolute/path`): no server to run, and exact across processes.

    Every hit is a test and a count in one write transaction (BEGIN IMMEDIATE takes SQLite's
    file lock, so no other process or thread counts in between; a FileTurn before it makes a
    waiting process wake when the lock is free instead of polling), and `batch()` holds that one
    transaction for several hits: a comment's limits cost one lock, one commit. The file
    holds only counters under keyed-hash keys, is written with synchronous=OFF (losing it in a
    power cut forgets counts younger than a window, nothing else) and is WAL-journaled.
    """

    STORAGE_SCHEME = [FILE_SCHEME]  # noqa: RUF012

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        path = uri.partition("://")[2]
        if not path.startswith("/"):
            raise ValueError(f"{FILE_SCHEME}:// needs an absolute path: {uri}")
        self.path = path
        self._turn = FileTurn(Path(path + ".turn"))
        self._lock = threading.RLock()
        self._depth = 0
        self._pid = -1
        self._connection: sqlite3.Connection | None = None
        self._next_purge = 0.0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        # The file, its journal mode and its table are made here, once, before the server
        # forks: the first posts of two processes at once must not race to make them (a
        # change of journal mode does not wait for a busy file, it fails).
        import sqlite3

        setup = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            setup.execute("PRAGMA journal_mode=WAL")
            setup.execute(
                "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, "
                "value INTEGER NOT NULL, expires REAL NOT NULL) WITHOUT ROWID"
            )
        finally:
            setup.close()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """What the file's failures raise (limits wraps them when asked to)."""
        import sqlite3

        return sqlite3.Error

    def _connect(self) -> sqlite3.Connection:
        # One connection per process, opened after gunicorn's fork (none crosses it).
        if self._connection is None or self._pid != os.getpid():
            import sqlite3

            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10
            )
            connection.execute("PRAGMA synchronous=OFF")  # the connection's own setting
            self._connection, self._pid, self._depth = connection, os.getpid(), 0
        return self._connection

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One write transaction for every counter call inside: test-and-counts that nothing
        else interleaves with, committed once (also when a limit refuses part way)."""
        with self._lock:
            connection = self._connect()
            outermost = self._depth == 0
            if outermost:
                # In within a millisecond of the holder's commit, where SQLite would sleep.
                turned = self._turn.acquire()
                try:
                    connection.execute("BEGIN IMMEDIATE")
                except BaseException:
                    if turned:
                        self._turn.release()
                    raise
            self._depth += 1
            try:
                try:
                    yield
                    if outermost:
                        self._purge(connection)
                except self.base_exceptions:
                    raise
                except BaseException:
                    # A limit refused part way (RateLimitExceeded): what counted before stays.
                    if outermost and connection.in_transaction:
                        connection.execute("COMMIT")
                    raise
                else:
                    if outermost:
                        connection.execute("COMMIT")
                finally:
                    self._depth -= 1
            except self.base_exceptions:
                # The storage failed, in a hit, the purge or the commit: nothing counts (the
                # caller takes the hits again one by one, which would count them twice).
                if outermost and connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            finally:
                if outermost and turned:
                    self._turn.release()

    def _purge(self, connection: sqlite3.Connection) -> None:
        now = time.time()
        if now >= self._next_purge:
            connection.execute("DELETE FROM counters WHERE expires <= ?", (now,))
            self._next_purge = now + PURGE_SECONDS

    def _get(self, key: str, now: float) -> int:
        row = (
            self._connect()
            .execute("SELECT value FROM counters WHERE key = ? AND expires > ?", (key, now))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Add `amount` to `key`'s counter (a new one lives `expiry` seconds); its new value."""
        now = time.time()
        with self.batch():
            row = (
                self._connect()
                .execute(f"{_UPSERT} RETURNING value", (key, amount, now, expiry))
                .fetchone()
            )
        return int(row[0])

    def decr(self, key: str, amount: int = 1) -> int:
        """Take `amount` from `key`'s counter, not below 0; its new value."""
        with self.batch():
            self._connect().execute(
                "UPDATE counters SET value = MAX(value - ?, 0) WHERE key = ? AND expires > ?",
                (amount, key, time.time()),
            )
            return self.get(key)

    def get(self, key: str) -> int:
        """`key`'s counter (0 once expired)."""
        with self._lock:
            return self._get(key, time.time())

    def get_expiry(self, key: str) -> float:
        """When `key`'s counter expires (epoch seconds; now when there is none)."""
        now = time.time()
        with self._lock:
            row = (
                self._connect()
                .execute("SELECT expires FROM counters WHERE key = ? AND expires > ?", (key, now))
                .fetchone()
            )
        return float(row[0]) if row else now

    def clear(self, key: str) -> None:
        """Forget `key`'s counter."""
        with self.batch():
            self._connect().execute("DELETE FROM counters WHERE key = ?", (key,))

    def reset(self) -> int | None:
        """Forget every counter; how many there were."""
        with self.batch():
            return int(self._connect().execute("DELETE FROM counters").rowcount)

    def check(self) -> bool:
        """Whether the file answers."""
        try:
            with self._lock:
                self._connect().execute("SELECT 1").fetchone()
        except self.base_exceptions:
            return False
        return True

    def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        """One sliding-window hit, test and count in one transaction: False (nothing counted)
        when `limit` per `expiry` seconds is reached (limits' MemoryStorage arithmetic)."""
        if amount > limit:
            return False
        with self.batch():
            now = time.time()
            previous_key, current_key = self.sliding_window_keys(key, expiry, now)
            previous, previous_ttl, current, _ = self._window(
                previous_key, current_key, expiry, now
            )
            if math.floor(previous * previous_ttl / expiry + current) + amount > limit:
                return False
            self.incr(current_key, 2 * expiry, amount)
            return True

    def acquire_sliding_window_entries(self, entries: Sequence[Entry]) -> int | None:
        """Several sliding-window hits in order in one transaction (see `SlidingWindows`):
        one SELECT of every window they read and one write of the counts they add, where
        hitting them one by one took three statements each."""
        if not entries:
            return None
        with self.batch():
            now = time.time()
            windows = [
                (*self.sliding_window_keys(key, expiry, now), expiry) for key, _, expiry in entries
            ]
            keys = sorted({key for previous, current, _ in windows for key in (previous, current)})
            counts = dict(
                self._connect().execute(
                    f"SELECT key, value FROM counters WHERE key IN ({', '.join('?' * len(keys))}) "
                    "AND expires > ?",
                    (*keys, now),
                )
            )
            refused: int | None = None
            counted: list[tuple[str, int, float, int]] = []
            for index, ((previous_key, current_key, expiry), (_, limit, _)) in enumerate(
                zip(windows, entries, strict=True)
            ):
                previous, current = counts.get(previous_key, 0), counts.get(current_key, 0)
                previous_ttl = (
                    0.0 if previous == 0 else (1 - (((now - expiry) / expiry) % 1)) * expiry
                )
                if limit < 1 or math.floor(previous * previous_ttl / expiry + current) + 1 > limit:
                    refused = index
                    break
                counts[current_key] = current + 1
                counted.append((current_key, 1, now, 2 * expiry))
            if counted:
                self._connect().executemany(_UPSERT, counted)
        return refused

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        """limits' (previous count, its time to live, current count, its time to live)."""
        with self._lock:
            now = time.time()
            previous_key, current_key = self.sliding_window_keys(key, expiry, now)
            return self._window(previous_key, current_key, expiry, now)

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        """Forget every window counter of `key` still alive (live_window_keys)."""
        with self.batch():
            for window_key in live_window_keys(key, expiry, time.time()):
                self.clear(window_key)

    def _window(
        self, previous_key: str, current_key: str, expiry: int, now: float
    ) -> tuple[int, float, int, float]:
        previous = self._get(previous_key, now)
        current = self._get(current_key, now)
        previous_ttl = 0.0 if previous == 0 else (1 - (((now - expiry) / expiry) % 1)) * expiry
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        return previous, previous_ttl, current, current_ttl
