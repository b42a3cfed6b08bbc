"""Posting limits per client address and for the whole site (flask-limiter)."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask, request
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from commentd.config import ConfigError
from commentd.keys import client_network
from commentd.web.counters import FILE_SCHEME, FileCounters, InProcessCounters
from commentd.web.limits import STORAGE_TIMEOUT
from commentd.web.services import of as services_of
from tests.helpers import comment_fields
from tests.private_servers import (
    SHARED_REDIS,
    forget_prefix,
    private_redis,
    redis_available,
    unique_prefix,
)

PATH = "/api/posts/gluteus-medius/comments"


def post_from(client: FlaskClient, address: str, **headers: str) -> TestResponse:
    return client.post(
        PATH, json=comment_fields(), headers=headers, environ_base={"REMOTE_ADDR": address}
    )


def test_over_the_limit_a_sender_gets_a_json_429_with_retry_after(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(post_rate_limit="2 per minute").test_client()

    responses = [post_from(client, "192.0.2.1") for _ in range(3)]

    assert [r.status_code for r in responses] == [201, 201, 429]
    limited = responses[-1]
    assert limited.mimetype == "application/json"
    assert limited.json is not None and limited.json["error"] == "rate_limited"
    assert limited.json["message"]
    assert limited.headers["Retry-After"].isdigit()
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert "Retry-After" not in responses[0].headers


def test_a_wait_of_one_second_is_said_in_the_singular(make_app: Callable[..., Flask]) -> None:
    client = make_app(min_post_interval=1).test_client()

    first, second = (post_from(client, "192.0.2.9") for _ in range(2))

    assert (first.status_code, second.status_code) == (201, 429)
    assert second.headers["Retry-After"] == "1"
    assert second.json is not None
    assert second.json["message"] == "Too many at once: please wait 1 second and try again."


def test_a_spoofed_forwarded_for_does_not_escape_the_limit(make_app: Callable[..., Flask]) -> None:
    client = make_app(post_rate_limit="2 per minute", trusted_proxies=0).test_client()

    statuses = [
        post_from(client, "192.0.2.1", **{"X-Forwarded-For": f"10.0.0.{n}"}).status_code
        for n in range(3)
    ]

    assert statuses == [201, 201, 429]


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(post_rate_limit="1 per minute", trusted_proxies=1).test_client()

    first = post_from(client, "127.0.0.1", **{"X-Forwarded-For": "198.51.100.1"})
    second = post_from(client, "127.0.0.1", **{"X-Forwarded-For": "198.51.100.2"})
    again = post_from(client, "127.0.0.1", **{"X-Forwarded-For": "198.51.100.1"})
    # Only the last hop is trusted: a value the client prepended itself changes nothing.
    spoofed = post_from(client, "127.0.0.1", **{"X-Forwarded-For": "6.6.6.6, 198.51.100.1"})

    assert [r.status_code for r in (first, second, again, spoofed)] == [201, 201, 429, 429]


def test_ipv6_clients_are_counted_by_their_64(make_app: Callable[..., Flask]) -> None:
    client = make_app(post_rate_limit="1 per minute").test_client()

    first = post_from(client, "2001:db8:1:2::1")
    same_64 = post_from(client, "2001:db8:1:2:ffff:ffff:ffff:ffff")
    other_64 = post_from(client, "2001:db8:1:3::1")

    assert [r.status_code for r in (first, same_64, other_64)] == [201, 429, 201]


def test_reads_are_not_throttled_by_the_posting_limit(make_app: Callable[..., Flask]) -> None:
    client = make_app(post_rate_limit="1 per minute").test_client()
    post_from(client, "192.0.2.1")
    assert post_from(client, "192.0.2.1").status_code == 429

    reads = [
        client.get(PATH, environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code for _ in range(20)
    ]

    assert set(reads) == {200}


def test_the_site_ceiling_counts_accepted_comments_from_everyone(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(site_rate_limit="2 per minute").test_client()
    refused = client.post(PATH, json={"name": ""}, environ_base={"REMOTE_ADDR": "192.0.2.9"})

    statuses = [post_from(client, f"192.0.2.{n}").status_code for n in range(1, 4)]

    assert refused.status_code == 422  # a refused comment uses none of the site's allowance
    assert statuses == [201, 201, 429]


# --- limiter keys hold keyed hashes only ------------------------------------------------------

ADDRESSES = ("203.0.113.77", "2001:db8:77:1::5")
EMAIL = "Dana.Private@Example.com"


def plain_and_unkeyed_forms(*values: str) -> list[str]:
    """Each value as typed, normalised, and as a plain MD5/SHA-1/SHA-256 (hex, any case)."""
    forms: list[str] = []
    for value in values:
        for variant in {value, value.lower(), value.upper()}:
            forms.append(variant)
            for algorithm in ("md5", "sha1", "sha256"):
                forms.append(hashlib.new(algorithm, variant.encode()).hexdigest())
    return [form.lower() for form in forms]


def traffic(client: FlaskClient) -> None:
    """Posts and failed logins from known addresses, with a known email."""
    for address in ADDRESSES:
        environ = {"REMOTE_ADDR": address}
        posted = client.post(PATH, json=comment_fields(email=EMAIL), environ_base=environ)
        assert posted.status_code in (201, 429)  # the second waits for the email's interval
        wrong = {"Authorization": "Bearer wrong-token"}
        assert (
            client.get("/api/moderation/comments", headers=wrong, environ_base=environ).status_code
            == 401
        )


def assert_nothing_personal(stored: str) -> None:
    networks = [client_network(address) for address in ADDRESSES]
    for form in plain_and_unkeyed_forms(*ADDRESSES, *networks, EMAIL, "dana.private"):
        assert form not in stored.lower(), form


def test_in_process_counters_hold_no_address_or_email(make_app: Callable[..., Flask]) -> None:
    app = make_app(min_post_interval=15, email_rate_limit="5 per minute")
    traffic(app.test_client())

    counters = services_of(app).rate_limits.limiter.storage
    stored = repr([vars(counters)[name] for name in sorted(vars(counters))])  # all it holds
    assert len(counters._moments) >= 8  # address, interval, email, post, site, failures...
    assert_nothing_personal(stored)


def test_redis_keys_hold_no_address_or_email(make_app: Callable[..., Flask]) -> None:
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {SHARED_REDIS}")
    prefix = unique_prefix()
    app = make_app(
        ratelimit_storage_uri=SHARED_REDIS,
        ratelimit_key_prefix=prefix,
        min_post_interval=15,
        email_rate_limit="5 per minute",
    )
    try:
        traffic(app.test_client())
        redis_client = redis.Redis.from_url(SHARED_REDIS)
        keys = [key.decode() for key in redis_client.scan_iter(match=f"*{prefix}*")]
        values = [str(redis_client.lrange(key, 0, -1)) for key in keys]  # moving windows
        redis_client.close()
    finally:
        forget_prefix(SHARED_REDIS, prefix)

    assert len(keys) >= 8
    assert_nothing_personal(" ".join(keys + values))


@pytest.mark.parametrize("uri", ["memcached://127.0.0.1:11211", "mongodb://127.0.0.1", "nope://x"])
def test_a_storage_that_cannot_take_every_limit_at_once_is_refused_at_start(
    make_app: Callable[..., Flask], uri: str
) -> None:
    with pytest.raises(ConfigError, match="COMMENTD_RATELIMIT_STORAGE_URI"):
        make_app(ratelimit_storage_uri=uri)


# --- one mechanism: flask-limiter, one hit per limit, in a documented order --------------------


def test_a_refusal_leaves_every_limit_after_it_untouched(make_app: Callable[..., Flask]) -> None:
    # The order (extensions.RateLimits.posting): email, address, post, site.
    limits = {"post_rate_limit": "1/minute", "slug_rate_limit": "2/minute"}
    client = make_app(site_rate_limit="3 per minute", **limits).test_client()

    def send(address: str, email: str, slug: str = "gluteus-medius") -> int:
        return client.post(
            f"/api/posts/{slug}/comments",
            json=comment_fields(email=email),
            environ_base={"REMOTE_ADDR": address},
        ).status_code

    first = send("192.0.2.1", "a@example.com")
    by_address = send("192.0.2.1", "b@example.com")  # the address's one is used up
    second_on_post = send("192.0.2.2", "c@example.com")  # so the post still has its second
    by_post = send("192.0.2.3", "d@example.com")  # the post's two are used up
    third_on_site = send("192.0.2.4", "e@example.com", slug="elsewhere")  # the site's third

    assert [first, by_address, second_on_post, by_post, third_on_site] == [
        201,
        429,
        201,
        429,
        201,
    ]


def test_public_reads_never_reach_the_limiter(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(min_post_interval=15)
    limiter = services_of(app).rate_limits.limiter
    checks: list[str | None] = []
    check = limiter._check_request_limit
    strategy = limiter.limiter
    hit = strategy.hit
    hits: list[tuple[str | None, str]] = []

    def counted(*args: object, **kwargs: object) -> None:
        checks.append(request.endpoint)
        check(*args, **kwargs)  # type: ignore[arg-type]

    def counted_hit(item: Any, *identifiers: str, cost: int = 1) -> bool:
        hits.append((request.endpoint, identifiers[-1]))
        return hit(item, *identifiers, cost=cost)

    monkeypatch.setattr(limiter, "_check_request_limit", counted)
    monkeypatch.setattr(strategy, "hit", counted_hit)
    # A comment's hits come in one batch of the storage (counters.MovingWindows): each
    # entry's key is limits' key_for(prefix..., key, scope) + "/amount/multiples/granularity".
    storage = services_of(app).rate_limits._moving_windows
    assert storage is not None
    acquire = storage.acquire_entries
    batches: list[tuple[str | None, list[str]]] = []

    def counted_batch(entries: Any) -> int | None:
        batches.append((request.endpoint, [key.split("/")[-4] for key, _, _ in entries]))
        return acquire(entries)

    monkeypatch.setattr(storage, "acquire_entries", counted_batch)
    hooks = [
        getattr(hook, "func", hook)  # a partial's function
        for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
        for hook in hooks.get(None, [])
    ]
    assert not [hook for hook in hooks if hook.__module__.startswith("flask_limiter")]
    client = app.test_client()
    reads = [
        client.get(PATH),
        client.get("/api/counts?slug=gluteus-medius"),
        client.get("/healthz"),
        client.get("/api/form-token"),
    ]
    assert all(read.status_code < 400 for read in reads), [r.status_code for r in reads]
    assert checks == [] and hits == [] and batches == []

    assert post_from(client, "192.0.2.1").status_code == 201
    # One hit per limit of a comment, in RateLimits.posting's order, in one batch, and none of
    # flask-limiter's per-function checks (the limits are resolved once, posting_hits).
    assert checks == [] and hits == []
    assert batches == [
        (
            "public.create_comment",
            ["sender-interval", "sender", "address-interval", "address", "post", "site"],
        )
    ]


def test_with_redis_unreachable_posting_goes_on_under_in_process_limits(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(ratelimit_storage_uri="redis://127.0.0.1:1", post_rate_limit="2 per minute")
    client = app.test_client()

    statuses = [post_from(client, "192.0.2.1").status_code for _ in range(3)]

    assert statuses == [201, 201, 429]
    assert "falling back to in-memory storage" in caplog.text
    # The fallback counts in commentd's counters (one lock, no sweep), keyed hashes only.
    fallback = services_of(app).rate_limits.limiter.limiter.storage
    assert isinstance(fallback, InProcessCounters)
    assert_nothing_personal(repr(dict(fallback.storage)))


def fail_read_only(connection: sqlite3.Connection) -> None:
    # As a filesystem remounted read-only after errors: every write is refused.
    connection.execute("PRAGMA query_only = ON")


@pytest.mark.parametrize("failure", [fail_read_only, sqlite3.Connection.close])
def test_a_failing_counters_file_goes_on_under_in_process_limits(
    make_app: Callable[..., Flask],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    failure: Callable[[sqlite3.Connection], None],
) -> None:
    """The file `commentd serve`'s processes share their counters in (memory:// on several
    cores) fails as Redis may: the limits hold per process meanwhile, never not at all."""
    path = tmp_path / "rate-limits.sqlite3"
    app = make_app(ratelimit_storage_uri=f"{FILE_SCHEME}://{path}", post_rate_limit="2 per minute")
    client = app.test_client()
    assert post_from(client, "192.0.2.1").status_code == 201  # counted in the file
    storage = services_of(app).rate_limits.limiter.storage
    assert isinstance(storage, FileCounters)
    failure(storage._connect())

    statuses = [post_from(client, "192.0.2.1").status_code for _ in range(3)]

    assert statuses == [201, 201, 429]
    assert "falling back to in-memory storage" in caplog.text


def test_once_redis_is_back_posting_counts_in_it_again(make_app: Callable[..., Flask]) -> None:
    """A comment's limits bypass flask-limiter's per-function path (RateLimits._hit_posting),
    which is where it looks whether Redis is back: posting must not stay on per-process
    counters for good after a Redis restart."""
    with private_redis() as server:
        app = make_app(ratelimit_storage_uri=server.url, post_rate_limit="2 per minute")
        client = app.test_client()
        assert post_from(client, "192.0.2.1").status_code == 201
        server.kill()
        assert post_from(client, "192.0.2.2").status_code == 201  # on the fallback
        server.start()  # empty, on the same port
        time.sleep(2.1)  # flask-limiter looks again after 1 s, then 2 s, 4 s...

        assert post_from(client, "192.0.2.3").status_code == 201

        connection = redis.Redis.from_url(server.url)
        try:
            assert connection.dbsize() > 0  # the comment counted in Redis
        finally:
            connection.close()
        assert services_of(app).rate_limits.limiter.limiter.storage.check()


def test_an_erasure_clears_redis_while_flask_limiter_counts_on_its_fallback(
    make_app: Callable[..., Flask],
) -> None:
    """A Redis that refused for a moment (here: out of memory) is counted around until
    flask-limiter looks again, but still holds the counters of the comments before: an
    erasure meanwhile must clear them there too."""
    with private_redis() as server:
        app = make_app(ratelimit_storage_uri=server.url, email_rate_limit="5 per minute")
        client = app.test_client()
        connection = redis.Redis.from_url(server.url)
        try:
            send = {"json": comment_fields(email="dana@example.com")}
            assert (
                client.post(PATH, **send, environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code
                == 201
            )
            connection.config_set("maxmemory", 1)  # every write refused
            assert post_from(client, "192.0.2.2").status_code == 201  # on the fallback
            connection.config_set("maxmemory", 0)
            limits = services_of(app).rate_limits
            traces = [
                limits.key("sender", f"{how}\0dana@example.com") for how in ("typed", "proven")
            ]
            assert any(traces[0] in key.decode() for key in connection.keys("*"))

            limits.forget_address("dana@example.com")

            keys = [key.decode() for key in connection.keys("*")]
        finally:
            connection.close()
        assert [key for key in keys if any(trace in key for trace in traces)] == []


def test_with_redis_frozen_posting_goes_on_under_in_process_limits(
    make_app: Callable[..., Flask],
) -> None:
    """A Redis that accepts connections and answers nothing (stopped, swapping, a paused VM)
    is down too: without a socket timeout a post waited for it until it woke."""
    with private_redis() as server:
        app = make_app(ratelimit_storage_uri=server.url)
        assert post_from(app.test_client(), "192.0.2.1").status_code == 201
        assert server.process is not None
        answers: list[int] = []

        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            posting = threading.Thread(
                target=lambda: answers.append(
                    post_from(app.test_client(), "192.0.2.2").status_code
                ),
                daemon=True,
            )
            posting.start()
            # The batch, flask-limiter's own hit and its look whether Redis is back: each
            # waits STORAGE_TIMEOUT once.
            posting.join(4 * STORAGE_TIMEOUT + 3)
            answered_while_frozen = list(answers)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        posting.join(10)

    assert answered_while_frozen == [201]


def test_the_embedded_defaults_count_with_commentd_counters(
    make_app: Callable[..., Flask],
) -> None:
    limiter = services_of(make_app(ratelimit_storage_uri="memory://")).rate_limits.limiter

    assert isinstance(limiter.storage, InProcessCounters)


@pytest.mark.parametrize("prefix", ["commentd", ""])
def test_an_erasure_clears_the_senders_windows_whatever_the_key_prefix(
    make_app: Callable[..., Flask], prefix: str
) -> None:
    """The hits leave an empty prefix out of their keys (flask-limiter does too): an erasure
    that put it in cleared `LIMITER//…` and left the erased address's windows behind."""
    app = make_app(
        ratelimit_key_prefix=prefix,
        min_post_interval=15,
        email_rate_limit="5 per minute",
        privacy_rate_limit="3 per hour",
    )
    client = app.test_client()
    erased = "dana@example.com"  # comment_fields()'s
    assert post_from(client, "192.0.2.1").status_code == 201
    assert (
        client.post("/api/privacy/requests", json={"email": erased, "kind": "export"}).status_code
        == 202
    )
    limits = services_of(app).rate_limits
    traces = [limits.key("sender", f"{how}\0{erased}") for how in ("typed", "proven")]
    traces.append(limits.key("privacy", erased))
    counters = limits.limiter.storage
    assert any(traces[0] in key for key in counters._moments)
    assert any(traces[2] in key for key in counters._moments)

    limits.forget_address(erased)

    assert [key for key in counters._moments if any(trace in key for trace in traces)] == []


@pytest.mark.parametrize("path", ["batch", "flask-limiter"])
def test_comments_refused_by_the_interval_never_use_up_the_senders_rate(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The interval is hit before the rate of the same email (RateLimits.posting), so a
    comment it refuses counts in no rate. limits orders limits by the unit of their window
    only, so a rate in seconds ("3 per 4 second") came first and every refused retry used
    up the rate: the comment sent once the interval was over was refused too."""
    app = make_app(min_post_interval=1, email_rate_limit="3 per 4 second")
    limits = services_of(app).rate_limits
    if path == "flask-limiter":  # the path of a failing batch, and of Redis's fallback

        def failing() -> None:
            raise RuntimeError("the storage failed")

        monkeypatch.setattr(limits, "_hit_posting", failing)
    client = app.test_client()

    def send(n: int) -> int:
        return post_from(client, f"192.0.2.{n}").status_code  # one email, many addresses

    first_at = time.time()
    answers = [send(1), send(2), send(3), send(4)]
    time.sleep(max(0.0, first_at + 1.1 - time.time()))
    answers.append(send(5))

    assert answers == [201, 429, 429, 429, 201]
