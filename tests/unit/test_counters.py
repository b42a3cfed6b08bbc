"""The in-process rate-limit counters (counters.py): limits' semantics, expiry without a sweep."""

from __future__ import annotations

import time

from limits import parse
from limits.strategies import SlidingWindowCounterRateLimiter

from commentd.web.counters import InProcessCounters


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
