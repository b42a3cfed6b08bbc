"""`commentd serve` as the image runs it: `python -OO` (Dockerfile's CMD), which drops every
docstring and assert for a smaller worker (docs/architecture.md, "What a worker carries").

Nothing of commentd or of what it imports may depend on a docstring or an assert while it
serves: a reader posts (JSON and a plain form), the author moderates and replies, a reader
edits their comment, and every public output (JSON, HTML fragment, Atom, widgets, the hosted
console) answers as without -OO, on the image's default (SQLite) and on the compose stack's
PostgreSQL with Redis, refusals included.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests

from tests.helpers import (
    MODERATOR,
    SERVE_COMMAND,
    SLUG,
    LiveServer,
    comment_fields,
    moderate_live,
    post_live,
    start_server,
)
from tests.private_servers import SHARED_REDIS as REDIS
from tests.private_servers import forget_prefix, redis_available, unique_prefix

OPTIMIZED = (sys.executable, "-OO", *SERVE_COMMAND[1:])


@pytest.fixture
def optimized_server(
    serve_env: dict[str, str], database_url: str, tmp_path: Path
) -> Iterator[LiveServer]:
    env = serve_env | {"COMMENTD_EMAIL_RATE_LIMIT": "2 per minute", "COMMENTD_EDIT_MINUTES": "15"}
    prefix = None
    if database_url.startswith("postgresql"):  # the compose stack: Redis counts the limits
        if not redis_available(REDIS):
            pytest.skip("Redis is not running on 127.0.0.1:6379")
        prefix = unique_prefix()
        env |= {
            "COMMENTD_RATELIMIT_STORAGE_URI": REDIS,
            "COMMENTD_RATELIMIT_KEY_PREFIX": prefix,
        }
    server = start_server(env, tmp_path, command=OPTIMIZED)
    yield server
    server.stop()
    if prefix is not None:
        forget_prefix(REDIS, prefix)


def test_the_server_runs_optimized(optimized_server: LiveServer) -> None:
    command = Path(f"/proc/{optimized_server.process.pid}/cmdline").read_bytes().split(b"\0")

    assert command[1] == b"-OO"


def test_everything_a_reader_and_the_author_do_works_without_docstrings_and_asserts(
    optimized_server: LiveServer,
) -> None:
    base = optimized_server.url
    first = post_live(optimized_server, widget=True, body="Pigeon pose **helped**.")
    second = post_live(
        optimized_server, widget=True, name="Lee", email="lee@example.com", body="Same here."
    )
    form_token = requests.get(f"{base}/api/form-token", timeout=30).json()["form_token"]
    form = requests.post(  # a plain HTML form's post, with the token its page was given
        f"{base}/api/posts/{SLUG}/comments",
        data={
            "name": "Kim",
            "email": "kim@example.com",
            "body": "From a plain form.",
            "form_token": form_token,
        },
        headers={"Accept": "text/html", "Referer": "https://blog.example/post/"},
        allow_redirects=False,
        timeout=30,
    )
    first_id, token = first.json()["id"], first.json()["commenter_token"]
    edited = requests.patch(
        f"{base}/api/posts/{SLUG}/comments/{first_id}",
        json={"body": "Pigeon pose **helped**, twice.", "commenter_token": token},
        timeout=30,
    )
    moderate_live(optimized_server, first_id, "approve")
    answered = requests.post(
        f"{base}/api/moderation/comments/{first_id}/reply",
        json={"body": "Glad it did!"},
        headers=MODERATOR,
        timeout=30,
    )
    queue = requests.get(f"{base}/api/moderation/comments", headers=MODERATOR, timeout=30)
    listing = requests.get(f"{base}/api/posts/{SLUG}/comments", timeout=30)
    fragment = requests.get(f"{base}/api/posts/{SLUG}/comments.html", timeout=30)
    feed = requests.get(f"{base}/api/posts/{SLUG}/feed.atom", timeout=30)
    pages = {path: requests.get(f"{base}{path}", timeout=30) for path in PAGES}

    assert [first.status_code, second.status_code, form.status_code] == [201, 201, 303]
    assert form.headers["Location"] == "https://blog.example/post/#commentd-pending"
    assert edited.status_code == 200, edited.text
    assert answered.status_code == 201, answered.text
    waiting = {c["author"]["name"] for c in queue.json()["comments"]}
    assert waiting == {"Lee", "Kim"}
    public = listing.json()["comments"]
    assert [c["body_html"] for c in public] == [
        "<p>Pigeon pose <strong>helped</strong>, twice.</p>",
        "<p>Glad it did!</p>",
    ]
    assert public[1]["author"]["is_owner"] is True
    assert "Glad it did!" in fragment.text and fragment.status_code == 200
    entries = ElementTree.fromstring(feed.content).findall("{http://www.w3.org/2005/Atom}entry")
    assert len(entries) == 2
    assert {path: page.status_code for path, page in pages.items()} == dict.fromkeys(PAGES, 200)
    assert "dana@example.com" not in listing.text + fragment.text + feed.text
    assert "Traceback" not in optimized_server.log()


PAGES = ("/healthz", "/embed.js", "/moderation.js", "/moderate", "/api/form-token")


def test_refusals_answer_as_without_optimization(optimized_server: LiveServer) -> None:
    base = optimized_server.url
    invalid = post_live(optimized_server, email="not an address")
    accepted = [
        post_live(optimized_server, name="Rae", email="rae@example.com", body=body)
        for body in ("Once.", "Twice.")
    ]
    too_many = post_live(optimized_server, name="Rae", email="rae@example.com", body="Thrice.")
    unknown_parent = post_live(optimized_server, parent_id=999_999)
    unauthorised = requests.get(f"{base}/api/moderation/comments", timeout=30)
    not_json = requests.post(
        f"{base}/api/posts/{SLUG}/comments",
        data=b"{",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    assert (invalid.status_code, invalid.json()["error"]) == (422, "validation")
    assert "email" in invalid.json()["fields"]
    assert [answer.status_code for answer in accepted] == [201, 201]
    assert (too_many.status_code, too_many.json()["error"]) == (429, "rate_limited")
    assert 1 <= int(too_many.headers["Retry-After"]) <= 60
    assert unknown_parent.status_code == 422 and "parent_id" in unknown_parent.json()["fields"]
    assert unauthorised.status_code == 401 and unauthorised.json()["error"]
    assert not_json.status_code == 400 and not_json.json()["error"] == "bad_request"
    assert "Traceback" not in optimized_server.log()


def test_a_comment_refused_by_the_spam_layers_is_kept_with_its_reasons(
    optimized_server: LiveServer,
) -> None:
    honeypot = requests.post(
        f"{optimized_server.url}/api/posts/{SLUG}/comments",
        json=comment_fields(name="Bot", email="bot@example.com") | {"url2": "x"},
        timeout=30,
    )
    queue = requests.get(
        f"{optimized_server.url}/api/moderation/comments?status=spam",
        headers=MODERATOR,
        timeout=30,
    ).json()["comments"]

    assert honeypot.status_code == 201 and honeypot.json()["status"] == "spam"
    [caught] = queue
    assert "honeypot filled" in caught["reasons"]
