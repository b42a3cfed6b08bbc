"""Spreading connections evenly over the worker processes that share one listening socket.

gunicorn's workers all wait on the socket the master opened, and whichever wakes first
accepts. A client that opens its connections in a burst (a reverse proxy filling its pool of
keep-alive connections, a browser opening six, a load test) can find one worker taking all of
them, and the other cores then sit idle for as long as those connections live. Measured on
this 2-core machine (wrk, 16 keep-alive connections, cached 20-comment reads): 4,200-4,900
requests/s whenever both workers held connections, 2,071 when one took all 16, which it did in
about a third of the runs (bench/read_ab.py rounds).

The fix is nginx's idea (its accept mutex, and `ngx_accept_disabled`): a worker holding more
connections than the least busy one leaves new ones to it. Each worker's count sits in memory
the master maps before forking (`ConnectionShares`); a worker stops watching the socket while
it holds more than the fewest any other worker holds, so the kernel wakes only the others.
Nothing else changes: one socket, gunicorn's forks, restarts and signals as before.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterable
from typing import Any

ABSENT = -1  # a slot no worker holds (never started, exited, or shutting down)
_SLOT_BYTES = 8  # one signed 64-bit count per slot: written and read whole on 64-bit machines


class ConnectionShares:
    """How many connections each worker process holds, in an anonymous shared mapping made by
    the master before it forks (so every worker it forks sees the same memory).

    The master gives each new worker a free slot (`assign`, gunicorn's pre_fork) and frees it
    when the worker exits (`release`, child_exit); the worker publishes its count on each turn
    of its event loop and asks `may_accept` before it watches the listening socket. The counts
    are advice, read without a lock: a count a moment old only makes the split one connection
    less even.
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
        now counting 0 connections; None when all are taken (that worker is not balanced)."""
        used = set(taken)
        for slot in range(self.slots):
            if slot not in used:
                self._counts[slot] = 0
                return slot
        return None

    def release(self, slot: int | None) -> None:
        """The worker of `slot` exits or stops accepting: the others no longer wait for it."""
        if slot is not None:
            self._counts[slot] = ABSENT

    def publish(self, slot: int, connections: int) -> None:
        """The worker of `slot` holds `connections` open connections now."""
        self._counts[slot] = connections

    def may_accept(self, slot: int, connections: int) -> bool:
        """Whether the worker of `slot`, holding `connections`, should take the next one: yes
        unless another worker holds fewer (so the least busy always may, and some worker
        always watches the socket)."""
        fewest = min(
            (count for other, count in enumerate(self._counts) if other != slot and count >= 0),
            default=None,
        )
        return fewest is None or connections <= fewest

    def counts(self) -> list[int]:
        """Every slot's count (ABSENT for a free one), for tests and diagnostics."""
        return list(self._counts)


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


def watch_shares(listeners: list[Any], shares: ConnectionShares, slot: int) -> None:
    """Make one worker's waitress `listeners` (its public listening sockets) watch for new
    connections only while `shares` says this worker may take one, publishing the worker's
    count (the listeners' open connections together) on each turn of its event loop.

    wasyncore asks each dispatcher's readable() on every turn before it polls; a listener not
    readable is left out of that poll, so the kernel wakes the other workers for the next
    connection instead (no spinning while declining)."""
    for listener in listeners:
        listener.readable = _balanced(listener.readable, listeners, shares, slot)


def _balanced(readable: Any, listeners: list[Any], shares: ConnectionShares, slot: int) -> Any:
    def balanced_readable() -> bool:
        ready = bool(readable())  # waitress's own: idle clean-up, its connection_limit
        connections = sum(len(listener.active_channels) for listener in listeners)
        shares.publish(slot, connections)
        return ready and shares.may_accept(slot, connections)

    return balanced_readable
