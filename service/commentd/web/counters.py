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
import threading
import time
from typing import Any

from limits.storage import MemoryStorage

SCHEME = "commentd-memory"


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
