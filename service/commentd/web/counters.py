"""In-process rate-limit counters whose cost does not grow with the number of senders, and
the counters file the processes of one host share.

Both serve limits' moving window, the strategy of every commentd limit (limits.py): each hit's
moment is kept for its limit's window, and a hit is refused when `limit` moments already lie
inside the window that ends now. Exact, unlike limits' sliding-window counter, which weighs the
previous window's count by how much of it is still inside and rounds down: "1 per 15 second"
then let a second comment through 0.2 s after a first one that came just before a window
boundary. A limit holds at most `limit` moments per key, and they go with the window.

limits' MemoryStorage, which flask-limiter uses for `memory://`, drops expired entries by
sweeping *every* key from a timer thread, 10 ms after each hit. Every sender has windows of
its own, so under a flood of new addresses the sweep held the GIL for a growing share of the
process: measured on posting with `commentd serve`, 25-30% fewer posts per second once a few
thousand counters were alive. Here each key is queued by its expiry when it is hit, and every
hit drops what has expired from the front of the queue: O(log n) per hit, nothing per idle key.

Every operation holds one lock of the storage: MemoryStorage's per-key locks were dropped and
made anew by its expiry while another thread held them, and `incr` read its answer after
letting go, so two threads could both see the other's count. A hit (test and count) runs under
that lock, as one step: what makes each limit atomic in-process.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from limits.storage import MemoryStorage, Storage
from limits.storage.base import MovingWindowSupport

from commentd.db import FileTurn

if TYPE_CHECKING:
    import sqlite3  # imported by FileCounters when used: 0.9 MB a process that never is

log = logging.getLogger("commentd")

SCHEME = "commentd-memory"

# One hit of a batch: (limits' key for the limit and its identifiers, as RateLimitItem.key_for
# makes it; the limit's amount; its window in seconds). Each costs 1.
Entry = tuple[str, int, int]


class MovingWindows(Protocol):
    """A storage that takes several moving-window hits in one step (one lock, one transaction
    or one Redis round trip): a comment's limits.

    `acquire_entries(entries)` hits each entry in order, exactly as limits'
    `acquire_entry(key, limit, expiry)` would one by one, and stops at the first that is full:
    it answers that entry's index (it and those after it counted nothing; those before it
    did), or None when every entry counted. Nothing else counts in the same keys in between,
    in this process or another.
    """

    def acquire_entries(self, entries: Sequence[Entry]) -> int | None:
        """The index of the first full entry (it and the rest uncounted), else None."""


class InProcessCounters(MemoryStorage):
    """MemoryStorage's counters and limits' moving window, with expiry by queue instead of
    sweep.

    Only the counters (fixed windows) and the moving window are served; MemoryStorage's
    sliding-window counter, which relies on the sweep, is not used by commentd.
    """

    # Registered with limits by this class statement. A list, as limits declares it.
    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any):
        self._expiry_queue: list[tuple[float, str]] = []
        # Each moving window's moments (epoch seconds, oldest first, at most its limit), and
        # when the window is empty again (its newest moment plus the window).
        self._moments: dict[str, list[float]] = {}
        self._moments_expire: dict[str, float] = {}
        self._moments_queue: list[tuple[float, str]] = []
        self._lock = threading.RLock()
        # MemoryStorage's own state, without its __init__: that starts the sweep's timer
        # thread, and a thread started before gunicorn forks (counters built in the master,
        # flask-limiter's fallback on Redis) gives every worker a second malloc arena, 64 MiB
        # reserved (tests/live/test_worker_arenas.py). The timer is never started here.
        self.storage: Counter[str] = Counter()
        self.locks: defaultdict[str, threading.RLock] = defaultdict(threading.RLock)
        self.expirations: dict[str, float] = {}
        self.events: dict[str, list[Any]] = {}
        self.timer = threading.Timer(0.01, lambda: None)
        super(MemoryStorage, self).__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Add `amount` to `key`'s counter (a new one lives `expiry` seconds); its new value."""
        with self._lock:
            now = time.time()  # under the lock, as for acquire_entry
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
        """Forget `key`'s counter and its moving window, its entries in the expiry queues
        too: an erasure (RateLimits.forget_address) leaves no key made of the address, where
        the queues kept it until its window's end (a day). Linear in the queues: a clear is
        rare."""
        with self._lock:
            super().clear(key)
            self._moments.pop(key, None)
            self._moments_expire.pop(key, None)
            for queue in (self._expiry_queue, self._moments_queue):
                if any(queued == key for _, queued in queue):
                    queue[:] = [entry for entry in queue if entry[1] != key]
                    heapq.heapify(queue)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """One moving-window hit, test and count in one step: False (nothing counted) when
        `limit` hits already lie in the last `expiry` seconds (limits' MemoryStorage rule)."""
        if amount > limit:
            return False
        with self._lock:
            # The clock is read under the lock: a moment read before waiting for it (another
            # thread's batch) came before the moments counted meanwhile, so the window it set
            # ended before theirs, and the expiry dropped the key with their hits inside.
            now = time.time()
            self._drop_expired(now)
            moments = self._moments.setdefault(key, [])
            if moments:
                now = max(now, moments[-1])  # never before the newest (a clock set back)
            # The newest moment that would be left out of `limit` with `amount` more.
            left_out = len(moments) - 1 - (limit - amount)
            if left_out >= 0 and moments[left_out] >= now - expiry:
                return False
            moments.extend([now] * amount)
            del moments[: max(0, len(moments) - limit)]  # older ones can never matter again
            self._moments_expire[key] = now + expiry
            heapq.heappush(self._moments_queue, (now + expiry, key))
            return True

    def acquire_entries(self, entries: Sequence[Entry]) -> int | None:
        """Several moving-window hits in order, as one step (the storage's lock held
        throughout); see `MovingWindows`."""
        with self._lock:
            for index, (key, limit, expiry) in enumerate(entries):
                if not self.acquire_entry(key, limit, expiry):
                    return index
        return None

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """limits' (the oldest moment inside the window, epoch seconds; how many are inside):
        (now, 0) when none is."""
        now = time.time()
        with self._lock:
            moments = self._moments.get(key, [])
            # Oldest first (each taken under the lock, never before the newest): the first
            # inside is found by bisection, not by reading the window (6.6 ms at 100,000).
            first = max(bisect.bisect_left(moments, now - expiry), len(moments) - limit)
            if first >= len(moments):
                return now, 0
            return moments[first], len(moments) - first

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the storage's lock for several hits: a comment's limits take it once."""
        with self._lock:
            yield

    def reset(self) -> int | None:
        """Forget every counter and moving window."""
        with self._lock:
            windows = len(self._moments)
            self._expiry_queue.clear()
            self._moments.clear()
            self._moments_expire.clear()
            self._moments_queue.clear()
            return (super().reset() or 0) + windows

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
            queue = self._moments_queue
            while queue and queue[0][0] <= now:
                expires_at, key = heapq.heappop(queue)
                # Each hit queues its window anew: only the entry of its newest hit empties it.
                if self._moments_expire.get(key) == expires_at:
                    del self._moments[key], self._moments_expire[key]


FILE_SCHEME = "commentd-file"
# Add ?2 to counter ?1, or start it at ?2 when it is new or expired (it then lives ?4 seconds
# from ?3, now).
_UPSERT = (
    "INSERT INTO counters (key, value, expires) VALUES (?1, ?2, ?3 + ?4) "
    "ON CONFLICT (key) DO UPDATE SET "
    "value = CASE WHEN expires <= ?3 THEN ?2 ELSE value + ?2 END, "
    "expires = CASE WHEN expires <= ?3 THEN ?3 + ?4 ELSE expires END"
)
# A moving window's moments are numbered per key, 1, 2, 3... in the order they were counted
# (`n`), so the one a hit tests, the limit-th newest, is found by its number: one lookup of the
# primary key however many moments the window holds. Walking the window's index to it (ORDER
# BY at DESC OFFSET limit) read every moment inside: with "100000 per minute" (the benches'
# lifted limits) each post read a row per post of the last minute, in every limit, under the
# file's lock. Each key keeps its newest `limit` moments and no more (older ones can never
# refuse a hit again), and their moments never go back in time, so the oldest inside the
# window is found by one lookup of the (key, at) index.
_NEWEST = "SELECT n, at FROM moments WHERE key = ? ORDER BY n DESC LIMIT 1"
_MOMENT = "SELECT at FROM moments WHERE key = ? AND n = ?"
_ADD_MOMENT = "INSERT INTO moments (key, n, at, expires) VALUES (?, ?, ?, ?)"
_TRIM = "DELETE FROM moments WHERE key = ? AND n <= ?"
_OLDEST_INSIDE = "SELECT n, at FROM moments WHERE key = ? AND at >= ? ORDER BY at, n LIMIT 1"
# Counters and moments past their expiry are deleted at most this often by each process
# (seconds).
PURGE_SECONDS = 10.0


class FileCounters(Storage, MovingWindowSupport):
    """limits' counters and moving window in an SQLite file that every process of one host
    shares (`commentd-file:///absolute/path`): no server to run, and exact across processes.

    Every hit is a test and a count in one write transaction (BEGIN IMMEDIATE takes SQLite's
    file lock, so no other process or thread counts in between; a FileTurn before it makes a
    waiting process wake when the lock is free instead of polling), and `batch()` holds that one
    transaction for several hits: a comment's limits cost one lock, one commit. The file
    holds only counters and moments under keyed-hash keys, is written with synchronous=OFF
    (losing it in a power cut forgets hits younger than a window, nothing else) and is
    WAL-journaled.
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
        # The file, its journal mode and its tables are made here, once, before the server
        # forks: the first posts of two processes at once must not race to make them (a
        # change of journal mode does not wait for a busy file, it fails). Where the file
        # cannot be made (a full disk), the service starts all the same: each hit fails, so
        # each process counts in memory (limits.py), and check() makes the file once it can.
        try:
            self._set_up()
        except self.base_exceptions as error:
            log.warning(
                "rate limits: the counters file %s cannot be made (%s); each process counts"
                " on its own until it can",
                path,
                error,
            )

    def _set_up(self) -> None:
        """Make the file, its journal mode and its tables where they are not yet; raises
        sqlite3.Error (a full disk, say)."""
        import sqlite3

        setup = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        try:
            setup.execute("PRAGMA journal_mode=WAL")
            setup.execute(
                "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, "
                "value INTEGER NOT NULL, expires REAL NOT NULL) WITHOUT ROWID"
            )
            # One row per hit of a moving window: its number in its key, its moment, and when
            # it leaves the window. (A file kept from an earlier run goes on counting.)
            setup.execute(
                "CREATE TABLE IF NOT EXISTS moments (key TEXT NOT NULL, n INTEGER NOT NULL, "
                "at REAL NOT NULL, expires REAL NOT NULL, PRIMARY KEY (key, n)) WITHOUT ROWID"
            )
            setup.execute("CREATE INDEX IF NOT EXISTS moments_by_key ON moments (key, at)")
            setup.execute("CREATE INDEX IF NOT EXISTS moments_by_expiry ON moments (expires)")
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
            # Deleted rows are overwritten with zeros, not left in the pages' free space: a key
            # cleared by an erasure (RateLimits.forget_address) must not stay readable.
            connection.execute("PRAGMA secure_delete=ON")
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
            # Strictly past: a moment exactly a window old is still inside it.
            connection.execute("DELETE FROM moments WHERE expires < ?", (now,))
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
        """Forget `key`'s counter and its moving window, leaving nothing of it in the file
        or its journal (an erasure, RateLimits.forget_address): its rows are overwritten
        (secure_delete), and the write-ahead log, which still held the pages as they were,
        is copied back and emptied."""
        with self.batch():
            self._connect().execute("DELETE FROM counters WHERE key = ?", (key,))
            self._connect().execute("DELETE FROM moments WHERE key = ?", (key,))
        with self._lock:
            # Waits (the connection's timeout) for a reader of another process to finish.
            self._connect().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def reset(self) -> int | None:
        """Forget every counter and moving window; how many keys there were."""
        with self.batch():
            connection = self._connect()
            windows = connection.execute("SELECT COUNT(DISTINCT key) FROM moments").fetchone()
            connection.execute("DELETE FROM moments")
            return int(connection.execute("DELETE FROM counters").rowcount) + int(windows[0])

    def check(self) -> bool:
        """Whether the file answers, with its tables (made now if they could not be before)."""
        try:
            with self._lock:
                self._connect().execute("SELECT 1 FROM moments LIMIT 1").fetchone()
        except self.base_exceptions:
            try:
                self._set_up()
            except self.base_exceptions:
                return False
        return True

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """One moving-window hit, test and count in one transaction: False (nothing counted)
        when `limit` hits already lie in the last `expiry` seconds (limits' MemoryStorage
        rule)."""
        if amount > limit:
            return False
        with self.batch():
            return self._acquire(self._connect(), time.time(), key, limit, expiry, amount)

    def _acquire(
        self,
        connection: sqlite3.Connection,
        now: float,
        key: str,
        limit: int,
        expiry: int,
        amount: int = 1,
    ) -> bool:
        # Inside a write transaction: a few lookups of the primary key, whatever the limit.
        if amount > limit or limit < 1:
            return False
        newest = connection.execute(_NEWEST, (key,)).fetchone()
        number, last = (int(newest[0]), float(newest[1])) if newest else (0, now)
        # The moment that `amount` more would leave out of the newest `limit`, if it is inside.
        left_out = number - (limit - amount)
        if left_out >= 1:
            moment = connection.execute(_MOMENT, (key, left_out)).fetchone()
            if moment is not None and moment[0] >= now - expiry:
                return False
        at = max(now, last)  # never before the key's newest (a clock set back)
        connection.executemany(
            _ADD_MOMENT, [(key, number + k, at, at + expiry) for k in range(1, amount + 1)]
        )
        if number + amount - limit >= 1:
            connection.execute(_TRIM, (key, number + amount - limit))
        return True

    def acquire_entries(self, entries: Sequence[Entry]) -> int | None:
        """Several moving-window hits in order in one transaction (see `MovingWindows`): a few
        lookups of the primary key and one insert for each."""
        if not entries:
            return None
        with self.batch():
            now = time.time()
            connection = self._connect()
            for index, (key, limit, expiry) in enumerate(entries):
                if not self._acquire(connection, now, key, limit, expiry):
                    return index
        return None

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """limits' (the oldest moment inside the window, epoch seconds; how many are inside):
        (now, 0) when none is."""
        now = time.time()
        with self._lock:
            connection = self._connect()
            oldest = connection.execute(_OLDEST_INSIDE, (key, now - expiry)).fetchone()
            newest = connection.execute(_NEWEST, (key,)).fetchone() if oldest else None
        if oldest is None or newest is None:
            return now, 0
        # Numbers run without a gap from the oldest kept to the newest; at most `limit` count.
        return float(oldest[1]), min(limit, int(newest[0]) - int(oldest[0]) + 1)
