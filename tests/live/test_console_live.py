"""The author's console through `commentd serve` (issue 16), with a real SMTP server (aiosmtpd):
the author approves a waiting comment and replies in one step; the reply is public at once,
marked as the owner's, and the reader who asked for reply notices gets one by mail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import (
    LIFTED_LIMITS,
    MODERATOR,
    SLUG,
    LiveServer,
    created,
    link_url,
    post_live,
    start_server,
    wait_until,
)
from tests.receivers import Mailbox

DANA = "dana@example.com"
AUTHOR = "author@blog.example"


@pytest.fixture
def site(serve_env: dict[str, str], mailbox: Mailbox, tmp_path: Path) -> Iterator[LiveServer]:
    """Every comment waits for the author (the default); mail on, the author's address set."""
    env = (
        serve_env
        | LIFTED_LIMITS
        | {
            "COMMENTD_SMTP_URL": mailbox.url,
            "COMMENTD_NOTIFY_EMAIL": AUTHOR,
            "COMMENTD_AUTHOR_NAME": "Sam",
            "COMMENTD_OUTBOX_POLL_SECONDS": "1",
        }
    )
    server = start_server(env, tmp_path)
    yield server
    server.stop()


def mail_to(mailbox: Mailbox, address: str, subject: str) -> Any:
    wait_until(
        lambda: any(subject in m["Subject"] for m in mailbox.to(address)),
        f"a mail to {address} about {subject!r}",
    )
    return next(m for m in mailbox.to(address) if subject in m["Subject"])


def test_approve_and_reply_as_the_author_publishes_both_and_mails_the_reader(
    site: LiveServer, mailbox: Mailbox
) -> None:
    # Dana asks for reply notices and confirms her address by the mailed link.
    posted = created(post_live(site, widget=True, email=DANA, notify=True, title="Glute med"))
    confirm = link_url(mail_to(mailbox, DANA, "Confirm reply notices"), "Confirm")
    assert requests.post(confirm, timeout=30).status_code == 200
    assert posted["status"] == "pending"

    response = requests.post(
        f"{site.url}/api/moderation/comments/{posted['id']}/reply",
        json={"body": "Thanks, *Dana*!"},
        headers=MODERATOR,
        timeout=30,
    )

    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["author"]["is_owner"] is True and answer["status"] == "approved"
    assert answer["post_title"] == "Glute med"
    assert answer["parent"] == {"id": posted["id"], "name": "Dana", "excerpt": "Pigeon pose!"}
    public = requests.get(f"{site.url}/api/posts/{SLUG}/comments", timeout=30).json()
    assert [(c["id"], c["parent_id"], c["author"]["is_owner"]) for c in public["comments"]] == [
        (posted["id"], None, False),
        (answer["id"], posted["id"], True),
    ]
    assert [c["author"]["name"] for c in public["comments"]] == ["Dana", "Sam"]
    notice = mail_to(mailbox, DANA, "replied to you")
    text = notice.get_body(("plain",)).get_content()
    assert "Thanks, *Dana*!" in text or "Thanks, Dana!" in text
    # The author is never told of their own reply, and never asked to confirm anything.
    assert not any("Sam" in m["Subject"] for m in mailbox.to(AUTHOR))
    history = requests.get(
        f"{site.url}/api/moderation/comments/{posted['id']}/history", headers=MODERATOR, timeout=30
    ).json()["events"]
    assert [(e["action"], e["actor"]) for e in history] == [
        ("submitted", "rules"),
        ("approved", "admin token"),
        ("replied", "admin token"),
    ]
