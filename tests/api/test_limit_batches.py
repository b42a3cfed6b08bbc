"""A comment's limits taken in one step of the storage (counters.MovingWindows): the same
answers and the same counts as limits' own hits one at a time, in the keys limits reads, on
each storage commentd serves with (in-process, the shared file, Redis); and no limit lets more
than its amount through within its window, across what were window boundaries."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from commentd.web.counters import FILE_SCHEME, Entry, FileCounters, InProcessCounters
from commentd.web.limits import RedisMovingWindows, moving_windows
from tests.private_servers import SHARED_REDIS, forget_prefix, redis_available, unique_prefix

KINDS = ["in-process", "file", "redis"]
WINDOW = 3600

Storage = InProcessCounters | FileCounters | RedisStorage


@contextmanager
def storages(kind: str, tmp_path: Path) -> Iterator[tuple[Storage, Storage]]:
    """Two empty storages of one kind: one to batch in, one to hit one by one."""
    if kind == "in-process":
        yield InProcessCounters(), InProcessCounters()
    elif kind == "file":
        yield (
            FileCounters(f"{FILE_SCHEME}://{tmp_path.resolve()}/batched.sqlite3"),
            FileCounters(f"{FILE_SCHEME}://{tmp_path.resolve()}/one-by-one.sqlite3"),
        )
    else:
        if not redis_available():
            pytest.skip(f"Redis is not reachable at {SHARED_REDIS}")
        prefixes = unique_prefix(), unique_prefix()
        try:
            yield (
                RedisStorage(SHARED_REDIS, key_prefix=prefixes[0]),
                RedisStorage(SHARED_REDIS, key_prefix=prefixes[1]),
            )
        finally:
            for prefix in prefixes:
                forget_prefix(SHARED_REDIS, prefix)


def one_by_one(storage: Storage, entries: Sequence[Entry]) -> int | None:
    """The reference: limits' own hit for each entry, stopping at the first refused."""
    for index, (key, limit, expiry) in enumerate(entries):
        if not storage.acquire_entry(key, limit, expiry):
            return index
    return None


@pytest.mark.parametrize("kind", KINDS)
def test_a_batch_answers_and_counts_as_limits_hits_one_by_one(kind: str, tmp_path: Path) -> None:
    keys = ["sender", "address", "post", "site"]
    chooser = random.Random(19)
    batches = [
        [
            (chooser.choice(keys), chooser.choice([1, 2, 3, 5]), WINDOW)
            for _ in range(chooser.randint(1, 5))
        ]
        for _ in range(60)
    ]
    with storages(kind, tmp_path) as (batched, reference):
        windows = moving_windows(batched)
        assert windows is not None
        answers = [windows.acquire_entries(batch) for batch in batches]
        expected = [one_by_one(reference, batch) for batch in batches]
        counts = {key: batched.get_moving_window(key, 5, WINDOW)[1] for key in keys}
        expected_counts = {key: reference.get_moving_window(key, 5, WINDOW)[1] for key in keys}
    assert answers == expected
    assert counts == expected_counts
    assert None in answers and 0 in answers and any(a not in (None, 0) for a in answers)


@pytest.mark.parametrize("kind", KINDS)
def test_a_refused_batch_counted_the_hits_before_the_full_limit_and_none_after(
    kind: str, tmp_path: Path
) -> None:
    with storages(kind, tmp_path) as (storage, _):
        windows = moving_windows(storage)
        assert windows is not None
        assert windows.acquire_entries([("post", 1, 60)]) is None

        assert windows.acquire_entries([("sender", 5, 60), ("post", 1, 60), ("site", 5, 60)]) == 1

        assert storage.get_moving_window("sender", 5, 60)[1] == 1
        assert storage.get_moving_window("post", 1, 60)[1] == 1
        assert storage.get_moving_window("site", 5, 60)[1] == 0


@pytest.mark.parametrize("kind", KINDS)
def test_limits_own_calls_read_and_clear_the_windows_a_batch_counted(
    kind: str, tmp_path: Path
) -> None:
    """What a 429's Retry-After (window stats) and an erasure (clear) rely on."""
    with storages(kind, tmp_path) as (storage, _):
        windows = moving_windows(storage)
        assert windows is not None
        limiter = MovingWindowRateLimiter(storage)
        two_a_minute = parse("2/minute")
        key = two_a_minute.key_for("prefix", "sender-key", "sender")
        entry = (key, two_a_minute.amount, two_a_minute.get_expiry())

        assert windows.acquire_entries([entry, entry, entry]) == 2

        assert (
            limiter.get_window_stats(two_a_minute, "prefix", "sender-key", "sender").remaining == 0
        )
        assert not limiter.hit(two_a_minute, "prefix", "sender-key", "sender")
        limiter.clear(two_a_minute, "prefix", "sender-key", "sender")
        assert windows.acquire_entries([entry]) is None


def test_redis_takes_a_comments_limits_in_one_round_trip() -> None:
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {SHARED_REDIS}")
    prefix = unique_prefix()
    storage = RedisStorage(SHARED_REDIS, key_prefix=prefix)
    windows = RedisMovingWindows(storage)
    calls: list[str] = []
    connection = storage.get_connection()
    real = connection.execute_command

    def counted(*args: object, **options: object) -> object:
        calls.append(str(args[0]))
        return real(*args, **options)

    connection.execute_command = counted  # type: ignore[method-assign]
    try:
        entries = [(f"limit-{n}", 10, 60) for n in range(6)]
        windows.acquire_entries(entries)  # loads the script once
        calls.clear()
        assert windows.acquire_entries(entries) is None
    finally:
        forget_prefix(SHARED_REDIS, prefix)
    assert calls == ["EVALSHA"]


def test_posting_on_redis_refuses_at_the_senders_limit_with_a_wait(
    make_app: Callable[..., Flask],
) -> None:
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {SHARED_REDIS}")
    prefix = unique_prefix()
    app = make_app(
        ratelimit_storage_uri=SHARED_REDIS,
        ratelimit_key_prefix=prefix,
        email_rate_limit="2 per minute",
        min_post_interval=0,
    )
    try:
        client = app.test_client()
        statuses = []
        for n in range(3):
            answer = client.post(
                "/api/posts/limits/comments",
                json={"name": "Ann", "email": "ann@example.com", "body": f"Comment {n}"},
                environ_base={"REMOTE_ADDR": f"10.0.0.{n + 1}"},
            )
            statuses.append(answer.status_code)
        assert statuses == [201, 201, 429]
        assert answer.get_json()["error"] == "rate_limited"
        assert 1 <= int(answer.headers["Retry-After"]) <= 60
    finally:
        forget_prefix(SHARED_REDIS, prefix)


class Clock:
    """time.time for the storages (and limits' own Redis hit), moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("limit", "window"),
    [(1, 15), (3, 60), (5, 60), (2, 86400)],
    ids=["interval", "email-rate", "address-rate", "daily"],
)
@pytest.mark.parametrize("path", ["batch", "one-by-one"])
@pytest.mark.parametrize("kind", KINDS)
def test_no_limit_lets_more_than_its_amount_through_within_its_window(
    kind: str, path: str, limit: int, window: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The full allowance taken just before what was a window boundary, and one more hit just
    after it: limits' sliding-window counter let that one through (its weighted count of the
    window before rounded down: "1 per 15 s" passed a second comment 0.2 s after the first).
    The moving window refuses it until the first hits are a whole window old."""
    start = 1_000_000 * window + window - 0.1  # 0.1 s before a multiple of the window
    clock = Clock(start)
    monkeypatch.setattr(time, "time", clock)
    with storages(kind, tmp_path) as (storage, _):
        windows = moving_windows(storage)
        assert windows is not None
        key = f"limit-{limit}-{window}"

        def hit() -> bool:
            if path == "batch":
                return windows.acquire_entries([(key, limit, window)]) is None
            return storage.acquire_entry(key, limit, window)

        assert [hit() for _ in range(limit)] == [True] * limit
        answers = []
        for later in (0.2, 1.0, window / 2, window - 0.01, window + 0.01):
            clock.now = start + later
            answers.append(hit())
    assert answers == [False, False, False, False, True]
