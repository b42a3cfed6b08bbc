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
of busy connections, whether it watches the socket, and how many turns its event loop has
made sit in memory the master maps before forking (`ConnectionShares`). A busier worker woken
for a new connection does not accept it at once: it looks away until the less busy workers
(woken by the same connection) have each turned their loop twice, so had their chance to take
it, and then takes it itself if it is still waiting. A worker looks away for one that is
looking away itself only once it holds AWAY_MARGIN more busy connections, so with a new
connection per request (no keep-alive) the workers do not take turns at ignoring the socket,
and a worker that looked away does not come back to find the other took the whole burst. A
peer that has not turned within GRACE_SECONDS (stalled, stopped) is not waited for again until
it turns, so a new connection waits at most GRACE_SECONDS longer than before, once; nothing
else changes (one socket, gunicorn's forks, restarts and signals as before).

The first design looked away for a fixed 1 ms and never for a peer looking away. After a few
seconds idle, a worker can take milliseconds to run again (its core, a virtual machine's
vCPU, halted): the awake one then either took the connections itself once the millisecond was
over, or, having looked away, came back to find the other had taken all the rest. A burst of
16 connections went 15 to 1 in 2 of 8 bursts (PostgreSQL, wrk after 8 s idle: 1,844-2,029
requests/s against 2,574-3,777 for even splits); with this design, 10 of 10 split 7/9 or 8/8.
"""

from __future__ import annotations

import math
import mmap
import time
from collections.abc import Callable, Container, Iterable
from typing import Any

ABSENT = -1  # a slot no worker counts in (not serving yet, exited, or shutting down)
_WATCHING = 1  # a slot's value: its busy connections times 2, plus 1 while it watches
# The longest a busier worker leaves a new connection to less busy ones that have not turned
# their loop twice since: the longest a stalled or stopped peer can delay a connection (once:
# after it, that peer is not waited for until it turns again). A peer that is merely slow to
# wake turns well within it (a fixed grace of 5 ms sufficed in the 8 bursts measured).
GRACE_SECONDS = 0.02
# How often a worker looking away looks whether its peers have had their turn.
LOOK_SECONDS = 0.001
# How many more busy connections than a peer that looks away a worker takes before it looks
# away too: a peer looking away for this one must not come back to find it took the burst.
AWAY_MARGIN = 2
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
    when the worker exits (`release`, child_exit); the worker counts each turn of its event
    loop and publishes its count then, and asks `less_busy` and `looking_away` before it
    accepts a new connection. The counts are advice, read without a lock: a count a moment old
    only makes the split one connection less even.
    """

    def __init__(self, slots: int) -> None:
        """Room for `slots` workers at once (a reload runs old and new workers side by side)."""
        # Each slot's value, then each slot's count of turns.
        self._memory = mmap.mmap(-1, 2 * slots * _SLOT_BYTES)  # MAP_SHARED | MAP_ANONYMOUS
        words = memoryview(self._memory).cast("q")
        self._counts, self._turns = words[:slots], words[slots:]
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

    def turned(self, slot: int) -> None:
        """The worker of `slot` begins a turn of its event loop (only it writes its turns)."""
        self._turns[slot] += 1

    def turns(self, slot: int) -> int:
        """How many turns the worker of `slot` has begun."""
        return int(self._turns[slot])

    def less_busy(self, slot: int, connections: int, ignoring: Container[int] = ()) -> list[int]:
        """The slots of the other workers that watch the socket and hold fewer busy
        connections than `connections`, leaving out those in `ignoring`."""
        return [
            other
            for other, value in enumerate(self._counts)
            if other != slot
            and value >= 0
            and value & _WATCHING
            and value >> 1 < connections
            and other not in ignoring
        ]

    def looking_away(self, slot: int, below: int, ignoring: Container[int] = ()) -> list[int]:
        """The slots of the other workers that look away from the socket (serving, not
        watching) holding fewer than `below` busy connections, leaving out those in
        `ignoring`."""
        return [
            other
            for other, value in enumerate(self._counts)
            if other != slot
            and value >= 0
            and not value & _WATCHING
            and value >> 1 < below
            and other not in ignoring
        ]

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
    on every turn of the worker's event loop: readable() counts the turn, publishes the
    worker's busy count (busy_connections) and, while the worker looks away, leaves the socket
    out of the poll; handle_accept() accepts at once when `shares` says this worker may, else
    looks away until no watching peer is less busy, or each less busy one has turned twice
    (had its chance at the connection), or GRACE_SECONDS have passed, and then accepts
    whatever still waits. The loop must wake to look: `poll_timeout` says how long it may
    sleep.
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
        # id(listener) -> (end of its grace, {peer slot: its turns when this one looked away})
        self._away: dict[int, tuple[float, dict[int, int]]] = {}
        # Peers that did not turn within a grace -> their turns then: not waited for until
        # they turn again.
        self._unresponsive: dict[int, int] = {}
        for listener in listeners:
            listener.readable = self._readable(listener, listener.readable)
            listener.handle_accept = self._accept(listener, listener.handle_accept)

    def poll_timeout(self, default: float) -> float:
        """How long the event loop may wait in poll (seconds): while looking away, at most
        LOOK_SECONDS and at most until the grace ends, rounded up to whole milliseconds
        (wasyncore polls in whole milliseconds, rounding down: less than one left would poll
        without waiting, again and again)."""
        if not self._away:
            return default
        left_ms = (min(until for until, _ in self._away.values()) - self.clock()) * 1000
        # Less a nanosecond: a grace of exactly 1 ms computed in floats is 1.0000000000047 ms.
        return min(default, LOOK_SECONDS, max(0.0, math.ceil(left_ms - 1e-6) / 1000))

    def _waits_for(self, busy: int) -> list[int]:
        """The peers this worker, holding `busy` busy connections, leaves a new connection
        to: those watching with fewer, else those looking away with AWAY_MARGIN fewer or
        more (they come back to it once they have turned twice); never the unresponsive."""
        return self.shares.less_busy(
            self.slot, busy, self._unresponsive
        ) or self.shares.looking_away(self.slot, busy - AWAY_MARGIN, self._unresponsive)

    def _had_their_turn(self, waited: dict[int, int]) -> bool:
        return all(self.shares.turns(peer) >= turns + 2 for peer, turns in waited.items())

    def _readable(self, listener: Any, readable: Callable[[], bool]) -> Callable[[], bool]:
        def balanced_readable() -> bool:
            self.shares.turned(self.slot)
            ready = bool(readable())  # waitress's own: idle clean-up, its connection_limit
            busy = busy_connections(self.listeners, time.time())
            for peer, turns in list(self._unresponsive.items()):
                if self.shares.turns(peer) != turns:  # it turns again: wait for it again
                    del self._unresponsive[peer]
            away = self._away.get(id(listener))
            # Back to the socket when the grace is over, when every peer it waited for has had
            # its turn, or as soon as it waits for none (they took their share).
            if away is not None:
                until, waited = away
                over = self.clock() >= until
                if over or self._had_their_turn(waited) or not self._waits_for(busy):
                    del self._away[id(listener)]
                    away = None
                    if over:
                        for peer, turns in waited.items():
                            if self.shares.turns(peer) < turns + 2:
                                self._unresponsive[peer] = self.shares.turns(peer)
                    if ready:  # take the connection that woke this worker, if nobody did
                        accept(listener)
            self.shares.publish(self.slot, busy, watching=ready and not self._away)
            return ready and away is None

        return balanced_readable

    def _accept(self, listener: Any, accept_now: Callable[[], None]) -> Callable[[], None]:
        def balanced_accept() -> None:
            busy = busy_connections(self.listeners, time.time())
            peers = self._waits_for(busy)
            if not peers:
                accept_now()
                return
            waited = {peer: self.shares.turns(peer) for peer in peers}
            self._away[id(listener)] = (self.clock() + GRACE_SECONDS, waited)
            # At once, not on the next turn: a peer deciding about the next connection must
            # not look away for this worker too.
            self.shares.publish(self.slot, busy, watching=False)

        return balanced_accept


def accept(listener: Any) -> None:
    """Accept one waiting connection on `listener` with waitress's own handler (nothing
    happens when none waits: its accept() answers None on EAGAIN)."""
    type(listener).handle_accept(listener)
