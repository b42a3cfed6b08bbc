"""Limits are atomic: concurrent posts against a live `commentd serve` store exactly the allowed
number, on the embedded default (memory://: one process per core counting in one shared file)
and on Redis (several processes), and the rest get 429."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from commentd.config import Settings
from commentd.ops.server import worker_plan
from tests.helpers import MODERATOR, LiveServer, comment_fields, start_server
from tests.private_servers import SHARED_REDIS, forget_prefix, redis_available, unique_prefix


def burst(server: LiveServer, posts: list[dict[str, Any]]) -> list[requests.Response]:
    """Every post sent at the same moment, each on its own connection (and so any worker).

    A post is {"address": ..., "slug": ..., **fields}; the address reaches the service as the
    trusted proxy's X-Forwarded-For.
    """
    start = threading.Barrier(len(posts))

    def send(post: dict[str, Any]) -> requests.Response:
        fields = dict(post)
        address, slug = fields.pop("address"), fields.pop("slug")
        with requests.Session() as session:
            start.wait()
            return session.post(
                f"{server.url}/api/posts/{slug}/comments",
                json=comment_fields(**fields),
                headers={"X-Forwarded-For": address},
                timeout=30,
            )

    with ThreadPoolExecutor(len(posts)) as pool:
        return list(pool.map(send, posts))


def assert_exactly(answers: list[requests.Response], allowed: int) -> None:
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * allowed + [429] * (len(answers) - allowed), [
        (a.status_code, a.text[:200]) for a in answers
    ]
    for answer in answers:
        if answer.status_code == 429:
            assert answer.json()["error"] == "rate_limited"
            assert answer.headers["Retry-After"].isdigit()
            assert int(answer.headers["Retry-After"]) >= 1


def stored(server: LiveServer) -> int:
    counts = requests.get(f"{server.url}/api/moderation/counts", headers=MODERATOR, timeout=10)
    return sum(counts.json().values())


@pytest.fixture(params=["embedded", "redis"])
def storage_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    if request.param == "embedded":
        yield {}
        return
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {SHARED_REDIS}")
    prefix = unique_prefix()
    yield {"COMMENTD_RATELIMIT_STORAGE_URI": SHARED_REDIS, "COMMENTD_RATELIMIT_KEY_PREFIX": prefix}
    forget_prefix(SHARED_REDIS, prefix)


def limited_server(
    serve_env: dict[str, str], storage_env: dict[str, str], tmp_path: Path, **limits: str
) -> Iterator[LiveServer]:
    env = serve_env | storage_env | {"COMMENTD_TRUSTED_PROXIES": "1"}
    for name in (
        "COMMENTD_MIN_POST_INTERVAL",
        "COMMENTD_EMAIL_RATE_LIMIT",
        "COMMENTD_SLUG_RATE_LIMIT",
    ):
        env.pop(name)  # the documented defaults, unless the test sets them
    server = start_server(env | limits, tmp_path)
    processes = worker_plan(Settings.from_env(env | limits))[0]
    if (os.cpu_count() or 1) >= 2:
        # What makes the test a proof: every post may land on any of several processes.
        assert processes >= 2
    yield server
    server.stop()


@pytest.fixture
def default_limits(
    serve_env: dict[str, str], storage_env: dict[str, str], tmp_path: Path
) -> Iterator[LiveServer]:
    yield from limited_server(serve_env, storage_env, tmp_path)


@pytest.fixture
def counting_limits(
    serve_env: dict[str, str], storage_env: dict[str, str], tmp_path: Path
) -> Iterator[LiveServer]:
    yield from limited_server(
        serve_env,
        storage_env,
        tmp_path,
        COMMENTD_MIN_POST_INTERVAL="0",
        COMMENTD_POST_RATE_LIMIT="3 per minute",
        COMMENTD_EMAIL_RATE_LIMIT="2 per minute",
        COMMENTD_SLUG_RATE_LIMIT="4 per minute",
        COMMENTD_SITE_RATE_LIMIT="10 per minute",
    )


def test_six_simultaneous_posts_from_one_sender_store_one(default_limits: LiveServer) -> None:
    # The case: one address, one email, default limits (one comment per 15 s).
    posts = [{"address": "198.51.100.1", "slug": "p", "body": f"Comment {n}"} for n in range(6)]

    answers = burst(default_limits, posts)

    assert_exactly(answers, 1)
    assert stored(default_limits) == 1


def test_the_interval_of_one_email_holds_across_addresses(default_limits: LiveServer) -> None:
    posts = [
        {"address": f"198.51.100.{n}", "slug": f"p{n}", "email": "dana@example.com"}
        for n in range(1, 7)
    ]

    assert_exactly(burst(default_limits, posts), 1)


def test_every_counted_limit_stores_exactly_its_allowance_under_concurrency(
    counting_limits: LiveServer,
) -> None:
    server = counting_limits

    # Per address (3 a minute): one address, six emails, six posts.
    by_address = [
        {"address": "203.0.113.1", "slug": f"a{n}", "email": f"a{n}@example.com"} for n in range(6)
    ]
    assert_exactly(burst(server, by_address), 3)
    # Per email (2 a minute): six addresses, one email.
    by_email = [
        {"address": f"203.0.113.{10 + n}", "slug": f"e{n}", "email": "erin@example.com"}
        for n in range(6)
    ]
    assert_exactly(burst(server, by_email), 2)
    # Per post (4 a minute): eight readers on one post.
    by_post = [
        {"address": f"203.0.113.{20 + n}", "slug": "busy", "email": f"s{n}@example.com"}
        for n in range(8)
    ]
    assert_exactly(burst(server, by_post), 4)
    # The whole site (10 a minute): 9 are stored; of six strangers only one more fits.
    strangers = [
        {"address": f"203.0.113.{40 + n}", "slug": f"x{n}", "email": f"x{n}@example.com"}
        for n in range(6)
    ]
    assert_exactly(burst(server, strangers), 1)

    assert stored(server) == 10
