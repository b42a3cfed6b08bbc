"""ConnectionShares: which worker takes the next connection (ops/balancing.py)."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

from commentd.ops.balancing import (
    ABSENT,
    AWAY_MARGIN,
    GRACE_SECONDS,
    LOOK_SECONDS,
    BalancedListeners,
    ConnectionShares,
    assign_slot,
    release_slot,
)


def test_a_new_worker_gets_the_lowest_free_slot_and_counts_once_it_serves() -> None:
    shares = ConnectionShares(slots=3)
    assert shares.counts() == [ABSENT, ABSENT, ABSENT]
    assert shares.assign([]) == 0
    shares.publish(0, 2)
    assert shares.assign([0]) == 1
    shares.publish(1, 5)
    # Slot 0's worker exited: taken again, from 0, and waited for only once its loop runs
    # (a fork that failed or a slow boot must not hold the others back).
    assert shares.assign([1]) == 0
    assert shares.counts() == [ABSENT, 5, ABSENT]
    assert shares.assign([0, 1, 2]) is None  # full: that worker serves unbalanced


def test_the_least_busy_worker_waits_for_nobody_and_a_busier_one_for_the_less_busy() -> None:
    shares = ConnectionShares(slots=4)
    for slot in (0, 1, 2):
        shares.assign(range(slot))
    assert not shares.less_busy(0, 9)  # nobody else serves yet
    shares.publish(0, 9)
    shares.publish(1, 8)
    shares.publish(2, 8)
    assert shares.less_busy(0, 9) == [1, 2]
    assert not shares.less_busy(1, 8)  # as few as any other: both of the fewest may
    assert not shares.less_busy(2, 8)
    shares.publish(2, 10)
    assert not shares.less_busy(1, 8)
    assert shares.less_busy(2, 10) == [0, 1]


def test_a_released_or_never_started_slot_is_not_waited_for() -> None:
    shares = ConnectionShares(slots=3)
    shares.assign([])
    shares.assign([0])
    shares.publish(0, 4)
    shares.publish(1, 0)
    assert shares.less_busy(0, 4) == [1]  # slot 1 counts 0
    shares.release(1)
    assert not shares.less_busy(0, 4)  # alone now (slot 2 never started)
    shares.release(None)  # an unbalanced worker exiting: nothing to free
    assert shares.counts() == [4, ABSENT, ABSENT]


def test_a_forked_worker_publishes_where_its_master_and_siblings_read() -> None:
    shares = ConnectionShares(slots=2)
    slot = shares.assign([])
    pid = os.fork()
    if pid == 0:  # the worker
        shares.publish(slot, 7)
        os._exit(0)
    os.waitpid(pid, 0)
    assert shares.counts()[slot] == 7


def test_gunicorns_hooks_give_each_live_worker_its_own_slot_and_free_it_on_exit() -> None:
    shares = ConnectionShares(slots=4)
    first, second = SimpleNamespace(), SimpleNamespace()
    arbiter = SimpleNamespace(WORKERS={})
    assign_slot(shares, arbiter, first)
    arbiter.WORKERS[101] = first
    assign_slot(shares, arbiter, second)
    arbiter.WORKERS[102] = second
    assert (first.share_slot, second.share_slot) == (0, 1)
    assert first.connection_shares is shares
    shares.publish(0, 3)
    shares.publish(1, 3)
    release_slot(first)  # gunicorn's child_exit
    del arbiter.WORKERS[101]
    assert shares.counts()[0] == ABSENT
    replacement = SimpleNamespace()
    assign_slot(shares, arbiter, replacement)
    assert replacement.share_slot == 0
    release_slot(SimpleNamespace())  # a worker of another server's: nothing to free


class FakeListener:
    """What BalancedListeners uses of a waitress listener: its connections, readable(), and
    handle_accept() (which takes the next waiting connection, if any)."""

    def __init__(self, waiting: list[str]) -> None:
        self.waiting = waiting  # the socket's backlog, shared by every worker's listener
        self.active_channels: dict[int, SimpleNamespace] = {}

    def readable(self) -> bool:
        return True

    def handle_accept(self) -> None:
        if self.waiting:
            self.waiting.pop(0)
            fd = len(self.active_channels)
            self.active_channels[fd] = SimpleNamespace(
                requests=[], total_outbufs_len=0, last_activity=time.time()
            )


def two_workers(
    backlog: list[str], now: list[float]
) -> tuple[ConnectionShares, FakeListener, FakeListener, BalancedListeners, BalancedListeners]:
    """Two workers' listeners on one socket's `backlog`, balanced by one ConnectionShares,
    their clocks reading now[0]: (shares, first's listener, second's, first's balancing,
    second's)."""
    shares = ConnectionShares(slots=2)
    first, second = FakeListener(backlog), FakeListener(backlog)
    return (
        shares,
        first,
        second,
        BalancedListeners([first], shares, shares.assign([]), clock=lambda: now[0]),
        BalancedListeners([second], shares, shares.assign([0]), clock=lambda: now[0]),
    )


def busier_looks_away(
    backlog: list[str], busy: FakeListener, other: FakeListener, *arriving: str
) -> None:
    """`other` publishes its count (none), `busy` takes a first connection and publishes it,
    then `arriving` connections come and `busy`, busier now, looks away from them."""
    other.readable()
    backlog.append("a")
    busy.handle_accept()
    busy.readable()
    backlog.extend(arriving)
    busy.handle_accept()


def test_a_busier_worker_leaves_a_new_connection_to_the_least_busy_for_the_grace_only() -> None:
    now = [100.0]
    backlog: list[str] = []
    _shares, busy, idle, first, second = two_workers(backlog, now)
    for listener in (busy, idle):
        assert listener.readable()  # each publishes its count: 0 and 0
    backlog.append("a")
    busy.handle_accept()  # as few as the other: takes it at once
    assert len(busy.active_channels) == 1 and first.poll_timeout(0.25) == 0.25
    assert busy.readable()  # publishes 1
    backlog.append("b")
    busy.handle_accept()  # busier now: looks away, the socket left out of its poll
    assert backlog == ["b"] and not busy.readable()
    assert 0 < first.poll_timeout(0.25) <= GRACE_SECONDS
    idle.handle_accept()  # the least busy, woken by the same connection, takes it
    assert backlog == [] and len(idle.active_channels) == 1
    assert second.poll_timeout(0.25) == 0.25
    now[0] += GRACE_SECONDS
    assert busy.readable() and len(busy.active_channels) == 1  # nothing left to take


def test_a_connection_the_least_busy_worker_does_not_take_is_taken_after_the_grace() -> None:
    now = [100.0]
    backlog: list[str] = []
    _shares, busy, stalled, _, _ = two_workers(backlog, now)
    busier_looks_away(backlog, busy, stalled, "b")  # it publishes 0, then stops (SIGSTOP)
    assert backlog == ["b"] and not busy.readable()
    now[0] += GRACE_SECONDS
    assert busy.readable()  # the grace is over: it takes the connection itself
    assert backlog == [] and len(busy.active_channels) == 2


def test_a_busier_worker_waits_past_a_millisecond_for_a_peer_slow_to_wake() -> None:
    # After a few seconds idle a worker's core may take milliseconds to wake (a virtual
    # machine's halted vCPU): with a fixed 1 ms grace the awake worker took 15 of a burst of
    # 16. It now waits until the less busy peer has turned its loop twice.
    now = [100.0]
    backlog: list[str] = []
    _shares, busy, slow, _, _ = two_workers(backlog, now)
    busier_looks_away(backlog, busy, slow, "b", "c")
    now[0] += 0.005
    assert not busy.readable() and backlog == ["b", "c"]  # still waiting for it
    slow.readable()  # awake: the turn that began before it took anything
    slow.handle_accept()
    assert not busy.readable()  # 1 and 1 now, but it has not had its second turn
    slow.readable()  # publishes 1: no longer less busy, its second turn
    assert busy.readable()  # back, and takes "c" (nobody took it)
    assert backlog == [] and len(busy.active_channels) == 2


def test_a_less_busy_peer_that_had_its_turn_and_left_the_connection_is_not_waited_for() -> None:
    now = [100.0]
    backlog: list[str] = []
    _shares, busy, other, _, _ = two_workers(backlog, now)
    busier_looks_away(backlog, busy, other, "b")
    other.readable()
    other.readable()  # two turns, and it did not take "b"
    assert busy.readable() and backlog == []  # taken long before the grace's end


def test_a_peer_that_did_not_turn_within_the_grace_is_not_waited_for_until_it_turns() -> None:
    now = [100.0]
    backlog: list[str] = []
    _shares, busy, stopped, _, _ = two_workers(backlog, now)
    busier_looks_away(backlog, busy, stopped, "b")  # it publishes 0, then stops (SIGSTOP)
    now[0] += GRACE_SECONDS
    assert busy.readable() and backlog == []  # the grace is over: taken
    backlog.append("c")
    busy.handle_accept()  # not waited for again: taken at once
    assert backlog == [] and len(busy.active_channels) == 3
    stopped.readable()  # it runs again (SIGCONT): waited for again
    busy.readable()
    backlog.append("d")
    busy.handle_accept()
    assert backlog == ["d"] and not busy.readable()


def test_idle_connections_are_no_load() -> None:
    backlog: list[str] = ["a", "b"]
    shares, holder, other, _, _ = two_workers(backlog, [time.monotonic()])
    holder.handle_accept()
    holder.handle_accept()
    for channel in holder.active_channels.values():
        channel.last_activity -= 60  # a proxy's spare keep-alive connections
    holder.readable()
    other.readable()
    assert shares.counts()[:2] == [0, 0]
    backlog.append("c")
    holder.handle_accept()  # as idle as the other: it may take an active one
    assert backlog == []


def test_a_worker_looks_away_for_one_that_looks_away_itself_only_beyond_a_margin() -> None:
    # A new connection per request (no keep-alive): both workers are woken for each one, and
    # the busier looks away. Had the other then looked away for it in turn, both would have
    # ignored the socket for a grace at a time: a third of the requests/s (the red team). But
    # had it taken every connection meanwhile, the first would have come back, after a slow
    # wake, to find a burst of 16 split 1 to 15.
    now = [100.0]
    backlog: list[str] = []
    shares, first, second, _, _ = two_workers(backlog, now)
    backlog.append("a")
    first.handle_accept()
    first.readable()
    second.readable()
    assert shares.counts()[:2] == [1, 0] and shares.watching()[:2] == [True, True]
    backlog.extend(["b", "c", "d", "e", "f"])
    first.handle_accept()  # busier than a watching peer: looks away, and says so at once
    assert shares.watching()[:2] == [False, True]
    for _ in range(4):  # up to AWAY_MARGIN more than the peer looking away, and one
        second.handle_accept()
        second.readable()
    assert len(second.active_channels) == 1 + AWAY_MARGIN + 1 and backlog == ["f"]
    second.handle_accept()  # 4 against 1: it looks away too
    assert backlog == ["f"] and shares.watching()[:2] == [False, False]
    assert first.readable()  # its peer had its turns: back, and it takes "f"
    assert backlog == [] and len(first.active_channels) == 2
    now[0] += GRACE_SECONDS
    second.readable()
    assert shares.watching()[:2] == [True, True]


def test_the_loop_sleeps_out_the_grace_in_whole_milliseconds_never_polling_in_a_spin() -> None:
    now = [100.0]
    backlog: list[str] = ["a"]
    _shares, busy, other, balanced, _ = two_workers(backlog, now)
    busy.handle_accept()
    busy.readable()
    other.readable()
    backlog.append("b")
    busy.handle_accept()
    assert balanced.poll_timeout(0.25) == LOOK_SECONDS  # it looks at its peers' turns
    now[0] += GRACE_SECONDS - 0.0004  # 0.4 ms left: wasyncore would poll(0) with it
    assert balanced.poll_timeout(0.25) == 0.001
    now[0] += 0.0004
    assert balanced.poll_timeout(0.25) == 0.0  # over: the loop turns and readable() ends it
