"""A revoked moderation token, and every hosted-page session opened with it, fails on the very
next request of every process of every instance: two `commentd serve` instances (two worker
processes each, with Redis) on one PostgreSQL database, nothing cached."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import ADMIN_TOKEN, LiveServer, run_commentd, serve_environment, start_server
from tests.private_servers import SHARED_REDIS, forget_prefix, redis_available, unique_prefix

# Each instance runs max(2, cores) processes; this many requests reach every one of them.
ROUNDS = 24
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def database(postgres_schema_url: Callable[[], str]) -> str:
    return postgres_schema_url()


@pytest.fixture
def two_instances(database: str, tmp_path: Path) -> Iterator[list[LiveServer]]:
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {SHARED_REDIS}")
    prefix = unique_prefix()
    env = serve_environment(database) | {
        "COMMENTD_RATELIMIT_STORAGE_URI": SHARED_REDIS,  # so several processes per instance
        "COMMENTD_RATELIMIT_KEY_PREFIX": prefix,
        # Plain HTTP in this test, so no Secure flag: the client sends the cookie back.
        "COMMENTD_PUBLIC_URL": "http://127.0.0.1",
        "COMMENTD_AUTH_FAILURE_LIMIT": "1000 per minute",
    }
    first = start_server(env, tmp_path)
    second = start_server(env, tmp_path)
    yield [first, second]
    for server in (first, second):
        server.stop()
    forget_prefix(SHARED_REDIS, prefix)


def statuses(server: LiveServer, client: requests.Session, headers: dict[str, str]) -> set[int]:
    """The statuses of ROUNDS reads of the queue (fresh connections: every process answers)."""
    seen = set()
    for _ in range(ROUNDS):
        answer = client.get(
            f"{server.url}/api/moderation/comments",
            headers=headers | {"Connection": "close"},
            timeout=30,
        )
        seen.add(answer.status_code)
    return seen


@pytest.mark.postgres
def test_a_revoked_token_and_its_sessions_fail_at_once_on_every_process(
    database: str, two_instances: list[LiveServer]
) -> None:
    first, second = two_instances
    laptop = run_commentd(database, "token", "--label", "laptop").stdout.strip()
    made = requests.post(
        f"{second.url}/api/moderation/tokens", json={"label": "phone"}, headers=ADMIN, timeout=30
    ).json()
    phone = made["token"]
    browsers = {name: requests.Session() for name in ("laptop", "phone")}
    for name, token in (("laptop", laptop), ("phone", phone)):
        signed_in = browsers[name].post(
            f"{first.url}/api/moderation/session", json={"token": token}, timeout=30
        )
        assert signed_in.status_code == 200, signed_in.text
        assert "HttpOnly" in signed_in.headers["Set-Cookie"]
    # Every process of both instances knows both tokens and both sessions (and would have
    # cached them, if anything cached).
    for server in (first, second):
        for name, token in (("laptop", laptop), ("phone", phone)):
            bearer = {"Authorization": f"Bearer {token}"}
            assert statuses(server, requests.Session(), bearer) == {200}
            assert statuses(server, browsers[name], {}) == {200}

    # The phone is revoked through the first instance's API, the laptop with the command.
    revoked = requests.delete(
        f"{first.url}/api/moderation/tokens/{made['id']}", headers=ADMIN, timeout=30
    )
    assert revoked.status_code == 204
    run_commentd(database, "token", "revoke", "laptop")

    for server in (second, first):
        for name, token in (("laptop", laptop), ("phone", phone)):
            bearer = {"Authorization": f"Bearer {token}"}
            assert statuses(server, requests.Session(), bearer) == {401}, (server.url, name)
            assert statuses(server, browsers[name], {}) == {401}, (server.url, name)
            session = browsers[name].get(f"{server.url}/api/moderation/session", timeout=30)
            assert session.status_code == 401
    assert statuses(second, requests.Session(), ADMIN) == {200}
    listed = requests.get(f"{second.url}/api/moderation/tokens", headers=ADMIN, timeout=30)
    assert listed.json()["tokens"] == []
