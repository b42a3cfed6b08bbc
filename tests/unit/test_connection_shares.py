"""ConnectionShares: which worker takes the next connection (ops/balancing.py)."""

from __future__ import annotations

import os
from types import SimpleNamespace

from commentd.ops.balancing import ABSENT, ConnectionShares, assign_slot, release_slot


def test_a_new_worker_gets_the_lowest_free_slot_counting_nothing() -> None:
    shares = ConnectionShares(slots=3)
    assert shares.counts() == [ABSENT, ABSENT, ABSENT]
    assert shares.assign([]) == 0
    assert shares.assign([0]) == 1
    shares.publish(1, 5)
    assert shares.assign([1]) == 0  # slot 0's worker exited: taken again, from 0
    assert shares.counts() == [0, 5, ABSENT]
    assert shares.assign([0, 1, 2]) is None  # full: that worker serves unbalanced


def test_the_least_busy_worker_always_may_accept_and_a_busier_one_waits() -> None:
    shares = ConnectionShares(slots=4)
    for slot in (0, 1, 2):
        shares.assign(range(slot))
    shares.publish(0, 9)
    shares.publish(1, 8)
    shares.publish(2, 8)
    assert not shares.may_accept(0, 9)
    assert shares.may_accept(1, 8)  # as few as any other: both of the fewest may
    assert shares.may_accept(2, 8)
    shares.publish(2, 10)
    assert shares.may_accept(1, 8)
    assert not shares.may_accept(2, 10)


def test_a_released_or_never_started_slot_is_not_waited_for() -> None:
    shares = ConnectionShares(slots=3)
    shares.assign([])
    shares.assign([0])
    shares.publish(0, 4)
    assert not shares.may_accept(0, 4)  # slot 1 counts 0
    shares.release(1)
    assert shares.may_accept(0, 4)  # alone now (slot 2 never started)
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
    release_slot(first)  # gunicorn's child_exit
    del arbiter.WORKERS[101]
    assert shares.counts()[0] == ABSENT
    replacement = SimpleNamespace()
    assign_slot(shares, arbiter, replacement)
    assert replacement.share_slot == 0
    release_slot(SimpleNamespace())  # a worker of another server's: nothing to free
