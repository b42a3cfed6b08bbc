"""A comment's limits taken in one step of the storage (counters.SlidingWindows): the same
answers and the same counts as limits' own hits one at a time, in the keys limits reads, on
each storage commentd serves with (in-process, the shared file, Redis)."""

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
from limits.strategies import SlidingWindowCounterRateLimiter

from commentd.web.counters import FILE_SCHEME, Entry, FileCounters, InProcessCounters
from commentd.web.limits import RedisSlidingWindows, sliding_windows
from tests.private_servers import SHARED_REDIS, forget_prefix, redis_available, unique_prefix

KINDS = ["in-process", "file", "redis"]
WINDOW = 3600  # long windows: the run does not cross into the next one (checked)

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
        if not storage.acquire_sliding_window_entry(key, limit, expiry):
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
    for _attempt in range(2):  # again, should the run straddle two windows
        window_at_start = int(time.time() / WINDOW)
        folder = tmp_path / str(_attempt)
        folder.mkdir()
        with storages(kind, folder) as (batched, reference):
            windows = sliding_windows(batched)
            assert windows is not None
            answers = [windows.acquire_sliding_window_entries(batch) for batch in batches]
            expected = [one_by_one(reference, batch) for batch in batches]
            counts = {key: batched.get_sliding_window(key, WINDOW)[2] for key in keys}
            expected_counts = {key: reference.get_sliding_window(key, WINDOW)[2] for key in keys}
        if int(time.time() / WINDOW) == window_at_start:
            break
    assert answers == expected
    assert counts == expected_counts
    assert None in answers and 0 in answers and any(a not in (None, 0) for a in answers)


@pytest.mark.parametrize("kind", KINDS)
def test_a_refused_batch_counted_the_hits_before_the_full_limit_and_none_after(
    kind: str, tmp_path: Path
) -> None:
    with storages(kind, tmp_path) as (storage, _):
        windows = sliding_windows(storage)
        assert windows is not None
        assert windows.acquire_sliding_window_entries([("post", 1, 60)]) is None

        assert (
            windows.acquire_sliding_window_entries(
                [("sender", 5, 60), ("post", 1, 60), ("site", 5, 60)]
            )
            == 1
        )

        assert storage.get_sliding_window("sender", 60)[2] == 1
        assert storage.get_sliding_window("post", 60)[2] == 1
        assert storage.get_sliding_window("site", 60)[2] == 0


@pytest.mark.parametrize("kind", KINDS)
def test_limits_own_calls_read_and_clear_the_windows_a_batch_counted(
    kind: str, tmp_path: Path
) -> None:
    """What a 429's Retry-After (window stats) and an erasure (clear) rely on."""
    with storages(kind, tmp_path) as (storage, _):
        windows = sliding_windows(storage)
        assert windows is not None
        limiter = SlidingWindowCounterRateLimiter(storage)
        two_a_minute = parse("2/minute")
        key = two_a_minute.key_for("prefix", "sender-key", "sender")
        entry = (key, two_a_minute.amount, two_a_minute.get_expiry())

        assert windows.acquire_sliding_window_entries([entry, entry, entry]) == 2

        assert (
            limiter.get_window_stats(two_a_minute, "prefix", "sender-key", "sender").remaining == 0
        )
        assert not limiter.hit(two_a_minute, "prefix", "sender-key", "sender")
        limiter.clear(two_a_minute, "prefix", "sender-key", "sender")
        assert windows.acquire_sliding_window_entries([entry]) is None


def test_redis_takes_a_comments_limits_in_one_round_trip() -> None:
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {SHARED_REDIS}")
    prefix = unique_prefix()
    storage = RedisStorage(SHARED_REDIS, key_prefix=prefix)
    windows = RedisSlidingWindows(storage)
    calls: list[str] = []
    connection = storage.get_connection()
    real = connection.execute_command

    def counted(*args: object, **options: object) -> object:
        calls.append(str(args[0]))
        return real(*args, **options)

    connection.execute_command = counted  # type: ignore[method-assign]
    try:
        entries = [(f"limit-{n}", 10, 60) for n in range(6)]
        windows.acquire_sliding_window_entries(entries)  # loads the script once
        calls.clear()
        assert windows.acquire_sliding_window_entries(entries) is None
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
