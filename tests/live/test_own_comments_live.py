"""Issue 15 through `commentd serve` with a real SMTP server (aiosmtpd) and, for the erasure,
a real Redis: a reader edits and deletes their comments with their token, and asks for their
data by a mailed link whose GET and HEAD change nothing and whose POST acts once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from sqlalchemy import Engine, update

from commentd.db import make_engine
from commentd.keys import keyed_hash
from commentd.models import Comment, utcnow
from commentd.web.limits import limit_key
from tests.helpers import (
    LIFTED_LIMITS,
    SLUG,
    LiveServer,
    created,
    database_snapshot,
    link_url,
    post_live,
    start_server,
    wait_until,
)
from tests.private_servers import SHARED_REDIS, forget_prefix, redis_available, unique_prefix
from tests.receivers import Mailbox

DANA = "dana@example.com"
SECRET = "live-secret-key-0123456789abcdefghij"


@pytest.fixture
def engine(serve_env: dict[str, str]) -> Iterator[Engine]:
    made = make_engine(serve_env["COMMENTD_DATABASE_URL"])
    yield made
    made.dispose()


@pytest.fixture
def site(
    serve_env: dict[str, str], mailbox: Mailbox, tmp_path: Path
) -> Iterator[tuple[LiveServer, str]]:
    """A site publishing at once, one minute to edit, mail on; Redis counters under a prefix
    of their own when Redis is there (the prefix is yielded, "" without Redis)."""
    prefix = unique_prefix() if redis_available() else ""
    env = (
        serve_env
        | LIFTED_LIMITS
        | {
            "COMMENTD_MODERATION": "none",
            "COMMENTD_MODERATION_KEYWORDS": "casino",
            "COMMENTD_EDIT_MINUTES": "1",
            "COMMENTD_SMTP_URL": mailbox.url,
            "COMMENTD_OUTBOX_POLL_SECONDS": "1",
            "COMMENTD_SECRET_KEY": SECRET,
        }
    )
    if prefix:
        env |= {
            "COMMENTD_RATELIMIT_STORAGE_URI": SHARED_REDIS,
            "COMMENTD_RATELIMIT_KEY_PREFIX": prefix,
        }
    server = start_server(env, tmp_path)
    yield server, prefix
    server.stop()
    if prefix:
        forget_prefix(SHARED_REDIS, prefix)


def send(server: LiveServer, slug: str = SLUG, **fields: Any) -> dict[str, Any]:
    return created(post_live(server, slug, widget=True, **fields))


def own(server: LiveServer, method: str, comment_id: int, token: str, **fields: Any) -> Any:
    form_token = requests.get(f"{server.url}/api/form-token", timeout=30).json()["form_token"]
    return requests.request(
        method,
        f"{server.url}/api/posts/{SLUG}/comments/{comment_id}",
        json={"form_token": form_token} | fields,
        headers={"Authorization": f"Commenter {token}", "Origin": "https://blog.example"},
        timeout=30,
    )


def public(server: LiveServer) -> list[tuple[int, int | None, str]]:
    answer = requests.get(f"{server.url}/api/posts/{SLUG}/comments", timeout=30).json()
    return [(c["id"], c["parent_id"], c["body_html"]) for c in answer["comments"]]


def test_edit_and_delete_own_comments_over_http(
    site: tuple[LiveServer, str], engine: Engine
) -> None:
    server, _ = site
    dana = send(server)
    ben = send(server, name="Ben", email="ben@example.com", body="Reply", parent_id=dana["id"])
    late = send(server, body="Posted long ago", commenter_token=dana["commenter_token"])

    edited = own(server, "PATCH", dana["id"], dana["commenter_token"], body="Edited *once*")
    others = own(server, "PATCH", dana["id"], ben["commenter_token"], body="Hijacked")
    unknown = own(server, "PATCH", 999999, dana["commenter_token"], body="Nothing")
    held = own(server, "PATCH", ben["id"], ben["commenter_token"], body="Try my casino")
    with engine.begin() as connection:  # the 1-minute window of `late` has passed
        connection.execute(
            update(Comment)
            .where(Comment.id == late["id"])
            .values(created_at=utcnow().replace(year=2025))
        )
    closed = own(server, "DELETE", late["id"], dana["commenter_token"])

    assert edited.status_code == 200 and edited.json()["body_html"] == "<p>Edited <em>once</em></p>"
    assert (others.status_code, others.json()) == (unknown.status_code, unknown.json())
    assert others.status_code == 403 and others.json()["error"] == "not_yours"
    assert held.status_code == 200 and held.json()["status"] == "pending"
    assert closed.status_code == 403 and closed.json()["error"] == "edit_window_closed"
    assert public(server) == [
        (dana["id"], None, "<p>Edited <em>once</em></p>"),
        (late["id"], None, "<p>Posted long ago</p>"),
    ]

    reply = send(server, name="Cy", email="cy@example.com", body="Kept", parent_id=dana["id"])
    deleted = own(server, "DELETE", dana["id"], dana["commenter_token"])

    assert deleted.status_code == 204
    assert public(server) == [
        (late["id"], None, "<p>Posted long ago</p>"),
        (reply["id"], None, "<p>Kept</p>"),
    ]


def ask(server: LiveServer, email: str, kind: str) -> requests.Response:
    return requests.post(
        f"{server.url}/api/privacy/requests", json={"email": email, "kind": kind}, timeout=30
    )


def mail_to(mailbox: Mailbox, address: str, subject: str) -> Any:
    wait_until(
        lambda: any(m["Subject"].startswith(subject) for m in mailbox.to(address)),
        f"the {subject} mail",
    )
    return next(m for m in mailbox.to(address) if m["Subject"].startswith(subject))


def test_a_data_link_shows_on_get_and_head_and_acts_once_on_post(
    site: tuple[LiveServer, str], mailbox: Mailbox, engine: Engine
) -> None:
    server, prefix = site
    first = send(server)
    send(server, "other-post", body="Second", commenter_token=first["commenter_token"])
    reply = send(server, name="Ben", email="ben@example.com", body="Reply", parent_id=first["id"])
    assert ask(server, DANA, "export").json() == ask(server, "nobody@example.com", "export").json()
    export_url = link_url(mail_to(mailbox, DANA, "Download"), "Download")
    assert ask(server, DANA, "erase").status_code == 202
    erase_url = link_url(mail_to(mailbox, DANA, "Erase"), "Erase")
    wait_until(lambda: not pending_mail(server), "the outbox to empty")
    before = database_snapshot(engine)

    for url in (export_url, erase_url):
        assert requests.head(url, timeout=30).status_code == 200
        assert "</button>" in requests.get(url, timeout=30).text
    assert database_snapshot(engine) == before

    download = requests.post(export_url, timeout=30)
    used = requests.post(export_url, timeout=30)
    assert download.status_code == 200
    assert [c["slug"] for c in download.json()["comments"]] == [SLUG, "other-post"]
    assert used.status_code == 409 and "already used" in used.text

    if prefix:  # her counters are in Redis before the erasure
        assert limit_key(SECRET, "sender", f"typed\0{DANA}") in redis_keys(prefix)
    erased = requests.post(erase_url, timeout=30)
    assert erased.status_code == 200 and requests.post(erase_url, timeout=30).status_code == 409
    assert public(server) == [(reply["id"], None, "<p>Reply</p>")]
    everything = repr(database_snapshot(engine)).lower()
    traces = [
        DANA,
        keyed_hash(SECRET, "confirm-address", DANA),
        limit_key(SECRET, "sender", f"typed\0{DANA}"),
        limit_key(SECRET, "sender", f"proven\0{DANA}"),
        limit_key(SECRET, "privacy", DANA),
    ]
    assert [t for t in traces if t in everything] == []
    if prefix:  # the limiter's storage too
        keys = redis_keys(prefix)
        assert prefix in keys  # the counters are there (Ben's, the site's)...
        assert [t for t in traces if t in keys] == []  # ...none of them made of her address
    assert not any("nobody" in m["To"] for m in mailbox.messages)


def pending_mail(server: LiveServer) -> int:
    from tests.helpers import MODERATOR

    answer = requests.get(f"{server.url}/api/moderation/outbox", headers=MODERATOR, timeout=30)
    return int(answer.json()["counts"]["pending"])


def redis_keys(prefix: str) -> str:
    return " ".join(k.decode() for k in redis.Redis.from_url(SHARED_REDIS).scan_iter(f"*{prefix}*"))
