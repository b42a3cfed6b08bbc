"""Spreading connections evenly over the worker processes that share one listening socket.

gunicorn's workers all wait on the socket the master opened, and whichever wakes first
accepts. A client that opens its connections in a burst (a reverse proxy filling its pool of
keep-alive connections, a browser opening six, a load test) can find one worker taking all of
them, and the other cores then sit idle for as long as those connections live. Measured on
this 2-core machine (wrk, 16 keep-alive connections, cached 20-comment reads): 4,200-4,900
requests/s whenever both workers held connections, 2,071 when one took all 16, which it did in
about a third of the runs (bench/read_ab.py rounds).

The fix is nginx's idea (its accept mutex, and `ngx_accept_disabled`): a worker busier than
a less busy one that is watching the socket leaves new connections to it. Each worker's count
of busy connections, and whether it watches the socket, sits in memory the master maps before
forking (`ConnectionShares`). A busier worker woken for a new connection does not accept it
at once: it looks away for GRACE_SECONDS, long enough for the less busy worker (woken by the
same connection) to take it, and then takes it itself if it is still waiting. A worker never
looks away for one that is looking away itself, so with a new connection per request (no
keep-alive) the workers do not take turns at ignoring the socket. A new connection waits at
most GRACE_SECONDS longer than before, even when the less busy worker is stalled, stopped or
gone; nothing else changes (one socket, gunicorn's forks, restarts and signals as before).
"""

from __future__ import annotations

import math
import mmap
import time
from collections.abc import Callable, Iterable
from typing import Any

ABSENT = -1  # a slot no worker counts in (not serving yet, exited, or shutting down)
_WATCHING = 1  # a slot's value: its busy connections times 2, plus 1 while it watches
# How long a busier worker leaves a new connection to the least busy one before taking it
# itself: the least busy worker is woken by the same connection and needs the GIL of its
# process once (CPython hands it over within the 0.5 ms switch interval, server.py). Also the
# longest a stalled or stopped peer can delay a connection.
GRACE_SECONDS = 0.001
# A connection counts as busy while a request is in it or it was used this recently: idle
# keep-alive connections (a proxy's spare pool) are no load, and a worker holding many of them
# must not push every active one onto the other workers.
ACTIVE_SECONDS = 1.0
# Room for every worker at once: gunicorn's workers after TTIN signals, twice over while a
# reload (HUP) runs the new ones beside the old. 8 bytes each.
SLOTS = 64
_SLOT_BYTES = 8  # one signed 64-bit value per slot: written and read whole on 64-bit machines


class ConnectionShares:
    """How many busy connections each worker process holds, and whether it watches the
    listening socket, in an anonymous shared mapping made by the master before it forks (so
    every worker it forks sees the same memory).

    The master gives each new worker a free slot (`assign`, gunicorn's pre_fork) and frees it
    when the worker exits (`release`, child_exit); the worker publishes its count on each turn
    of its event loop and asks `may_accept` before it accepts a new connection. The counts are
    advice, read without a lock: a count a moment old only makes the split one connection less
    even.
    """

    def __init__(self, slots: int) -> None:
        """Room for `slots` workers at once (a reload runs old and new workers side by side)."""
        self._memory = mmap.mmap(-1, slots * _SLOT_BYTES)  # MAP_SHARED | MAP_ANONYMOUS
        self._counts = memoryview(self._memory).cast("q")
        for slot in range(slots):
            self._counts[slot] = ABSENT

    @property
    def slots(self) -> int:
        """How many workers the shares have room for."""
        return len(self._counts)

    def assign(self, taken: Iterable[int | None]) -> int | None:
        """In the master, before a fork: the lowest slot not in `taken` (the live workers'),
        ABSENT until the worker serves and publishes; None when all are taken (that worker
        serves unbalanced)."""
        used = set(taken)
        for slot in range(self.slots):
            if slot not in used:
                self._counts[slot] = ABSENT
                return slot
        return None

    def release(self, slot: int | None) -> None:
        """The worker of `slot` exits or stops accepting: the others no longer wait for it."""
        if slot is not None:
            self._counts[slot] = ABSENT

    def publish(self, slot: int, connections: int, *, watching: bool = True) -> None:
        """The worker of `slot` holds `connections` busy connections now, and watches the
        listening socket (or looks away)."""
        self._counts[slot] = connections * 2 + (_WATCHING if watching else 0)

    def may_accept(self, slot: int, connections: int) -> bool:
        """Whether the worker of `slot`, holding `connections` busy ones, should take the
        next one at once: yes unless another worker that watches the socket holds fewer (so
        the least busy always may, and so does a worker whose less busy peers look away)."""
        for other, value in enumerate(self._counts):
            if other != slot and value >= 0 and value & _WATCHING and value >> 1 < connections:
                return False
        return True

    def counts(self) -> list[int]:
        """Every slot's count of busy connections (ABSENT for a free one), for tests and
        diagnostics."""
        return [value if value < 0 else value >> 1 for value in self._counts]

    def watching(self) -> list[bool]:
        """Whether each slot's worker watches the socket now, for tests and diagnostics."""
        return [value >= 0 and bool(value & _WATCHING) for value in self._counts]


def assign_slot(shares: ConnectionShares, arbiter: Any, worker: Any) -> None:
    """gunicorn's pre_fork hook (in the master): give `worker` a slot of `shares` no live
    worker of `arbiter` holds; the forked worker finds it as `worker.share_slot`."""
    taken = [getattr(live, "share_slot", None) for live in arbiter.WORKERS.values()]
    worker.share_slot = shares.assign(taken)
    worker.connection_shares = shares


def release_slot(worker: Any) -> None:
    """gunicorn's child_exit (in the master): the exited worker's slot is free again."""
    shares = getattr(worker, "connection_shares", None)
    if shares is not None:
        shares.release(getattr(worker, "share_slot", None))


def busy_connections(listeners: Iterable[Any], now: float) -> int:
    """How many of the connections of waitress `listeners` have a request in them, an answer
    still being sent, or were used in the last ACTIVE_SECONDS (`now`: time.time())."""
    busy = 0
    for listener in listeners:
        for channel in listener.active_channels.values():
            if (
                channel.requests
                or channel.total_outbufs_len
                or now - channel.last_activity < ACTIVE_SECONDS
            ):
                busy += 1
    return busy


class BalancedListeners:
    """One worker's public waitress listeners, taking new connections by `shares`.

    Installs itself in each listener's readable() and handle_accept(), which wasyncore calls
    on every turn of the worker's event loop: readable() publishes the worker's busy count
    (busy_connections) and, while the worker looks away, leaves the socket out of the poll;
    handle_accept() accepts at once when `shares` says this worker may, else looks away until
    no watching peer is less busy or for GRACE_SECONDS at most, and then accepts whatever
    still waits. The loop must wake by then: `poll_timeout` says how long it may sleep.
    """

    def __init__(
        self,
        listeners: list[Any],
        shares: ConnectionShares,
        slot: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.listeners = listeners
        self.shares = shares
        self.slot = slot
        self.clock = clock
        self._away_until: dict[int, float] = {}  # id(listener) -> end of its grace
        for listener in listeners:
            listener.readable = self._readable(listener, listener.readable)
            listener.handle_accept = self._accept(listener, listener.handle_accept)

    def poll_timeout(self, default: float) -> float:
        """How long the event loop may wait in poll (seconds): at most until a grace ends,
        rounded up to whole milliseconds (wasyncore polls in whole milliseconds, rounding
        down: less than one left would poll without waiting, again and again)."""
        if not self._away_until:
            return default
        left_ms = (min(self._away_until.values()) - self.clock()) * 1000
        # Less a nanosecond: a grace of exactly 1 ms computed in floats is 1.0000000000047 ms.
        return min(default, max(0.0, math.ceil(left_ms - 1e-6) / 1000))

    def _readable(self, listener: Any, readable: Callable[[], bool]) -> Callable[[], bool]:
        def balanced_readable() -> bool:
            ready = bool(readable())  # waitress's own: idle clean-up, its connection_limit
            busy = busy_connections(self.listeners, time.time())
            away_until = self._away_until.get(id(listener))
            # Back to the socket when the grace is over, or as soon as no watching peer is
            # less busy (it took its share meanwhile): on any turn of the loop, which under
            # load turns for every request of this worker's own connections.
            if away_until is not None and (
                self.clock() >= away_until or self.shares.may_accept(self.slot, busy)
            ):
                del self._away_until[id(listener)]
                away_until = None
                if ready:  # take the connection that woke this worker, if nobody did
                    accept(listener)
            self.shares.publish(self.slot, busy, watching=ready and not self._away_until)
            return ready and away_until is None

        return balanced_readable

    def _accept(self, listener: Any, accept_now: Callable[[], None]) -> Callable[[], None]:
        def balanced_accept() -> None:
            busy = busy_connections(self.listeners, time.time())
            if self.shares.may_accept(self.slot, busy):
                accept_now()
                return
            self._away_until[id(listener)] = self.clock() + GRACE_SECONDS
            # At once, not on the next turn: a peer deciding about the next connection must
            # not look away for this worker too.
            self.shares.publish(self.slot, busy, watching=False)

        return balanced_accept


def accept(listener: Any) -> None:
    """Accept one waiting connection on `listener` with waitress's own handler (nothing
    happens when none waits: its accept() answers None on EAGAIN)."""
    type(listener).handle_accept(listener)
