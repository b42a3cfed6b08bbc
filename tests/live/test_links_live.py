"""Email links under a real `commentd serve`, from real mails (aiosmtpd): what mail scanners do
(HEAD, GET, OPTIONS) changes nothing stored, and no link's secret reaches the server's log."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from commentd.db import make_engine
from tests.helpers import (
    ADMIN_TOKEN,
    MODERATOR,
    LiveServer,
    created,
    database_snapshot,
    link_url,
    moderate_live,
    post_live,
    start_server,
    text_of,
    wait_until,
)
from tests.receivers import Mailbox

AUTHOR = "author@blog.example"
DANA = {"name": "Dana", "email": "dana@example.com"}
ERIN = "erin@example.com"
FAY = "fay@example.com"


class Site:
    """A live server seen as the widget and the author use it."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.url = server.url

    def submit(self, **fields: Any) -> dict[str, Any]:
        return created(post_live(self.server, widget=True, anonymous=True, **fields))

    def approve(self, comment_id: int) -> None:
        moderate_live(self.server, comment_id, "approve")

    def shown(self, comment_id: int) -> dict[str, Any]:
        response = requests.get(
            f"{self.url}/api/moderation/comments/{comment_id}", headers=MODERATOR, timeout=30
        )
        return dict(response.json())

    def outbox_pending(self) -> int:
        response = requests.get(f"{self.url}/api/moderation/outbox", headers=MODERATOR, timeout=30)
        return int(response.json()["counts"]["pending"])


def live_env(serve_env: dict[str, str], mailbox: Mailbox) -> dict[str, str]:
    return serve_env | {
        "COMMENTD_SMTP_URL": mailbox.url,
        "COMMENTD_NOTIFY_EMAIL": AUTHOR,
        "COMMENTD_MODERATION": "known",
        "COMMENTD_OUTBOX_POLL_SECONDS": "1",
        "COMMENTD_RETRY_SECONDS": "1",
    }


@dataclass
class Mailed:
    """Every kind of email link, from real mails, and the comments they are about."""

    links: dict[str, str]
    phone_id: int  # waits; the notice's and the confirmation's links are about it
    subscribed_id: int  # asked for reply notices; the unsubscribe link is about it


def mail_every_link_kind(site: Site, mailbox: Mailbox) -> Mailed:
    def to(address: str, subject: str) -> list[EmailMessage]:
        return [m for m in mailbox.to(address) if subject in m["Subject"]]

    first = site.submit(**DANA)
    site.approve(first["id"])
    # Erin asks for reply notices and confirms her address; Bob's reply then reaches her.
    subscribed = site.submit(name="Erin", email=ERIN, body="Tell me", notify=True)
    wait_until(lambda: bool(to(ERIN, "Confirm reply")), "Erin's double opt-in")
    erin_optin = link_url(to(ERIN, "Confirm reply")[0], "Confirm")
    assert requests.post(erin_optin, timeout=30).status_code == 200
    site.approve(subscribed["id"])
    reply = site.submit(name="Bob", email="bob@example.com", parent_id=subscribed["id"])
    site.approve(reply["id"])
    site.submit(name="Fay", email=FAY, body="Me too", notify=True)  # asks, never confirms
    phone = site.submit(body="From my phone", **DANA)

    def mails() -> dict[str, list[EmailMessage]]:
        return {
            "notice": [m for m in mailbox.to(AUTHOR) if "From my phone" in text_of(m)],
            "confirm": to(DANA["email"], "Confirm your"),
            "reply": to(ERIN, "replied"),
            "optin": to(FAY, "Confirm reply"),
        }

    wait_until(lambda: all(mails().values()), "every kind of link in a mail")
    wait_until(lambda: site.outbox_pending() == 0, "the outbox to be idle")
    got = mails()
    links = {
        "approve": link_url(got["notice"][0], "Approve"),
        "reject": link_url(got["notice"][0], "Reject"),
        "spam": link_url(got["notice"][0], "Spam"),
        "confirm": link_url(got["confirm"][0], "Confirm"),
        "unsubscribe": link_url(got["reply"][0], "Unsubscribe"),
        "notices": link_url(got["optin"][0], "Confirm"),
    }
    return Mailed(links, int(phone["id"]), int(subscribed["id"]))


def test_head_get_and_options_of_every_mailed_link_change_nothing_stored(
    serve_env: dict[str, str], database_url: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    server = start_server(live_env(serve_env, mailbox), tmp_path)
    engine = make_engine(database_url)
    try:
        site = Site(server)
        mailed = mail_every_link_kind(site, mailbox)
        before = database_snapshot(engine)

        for url in mailed.links.values():
            for _ in range(2):  # scanners may probe more than once
                assert requests.head(url, timeout=30).status_code == 200
            assert requests.get(url, timeout=30).status_code == 200
            assert requests.options(url, timeout=30).status_code == 200

        assert database_snapshot(engine) == before
        assert site.shown(mailed.phone_id)["status"] == "pending"
        assert site.shown(mailed.subscribed_id)["notify"] is True
        # The links were live all along: their buttons act.
        assert requests.post(mailed.links["confirm"], timeout=30).status_code == 200
        assert requests.post(mailed.links["unsubscribe"], timeout=30).status_code == 200
        assert requests.post(mailed.links["notices"], timeout=30).status_code == 200
        assert site.shown(mailed.phone_id)["status"] == "approved"
        assert site.shown(mailed.subscribed_id)["notify"] is False
    finally:
        server.stop()
        engine.dispose()


# Hang-ups per link. waitress logs one ("Client disconnected while serving <path>") only when
# it notices it while still writing the answer: about one in five on a quiet machine (measured
# on 360), none in 560 on a loaded CI machine. Whether it is logged is timing, so this test
# does not require the line; tests/unit/test_logged_paths.py feeds waitress's exact message
# through the formatter, and this test checks that every line the server writes went through
# that formatter.
EARLY_HANGUPS = 10


def hang_up_early(url: str) -> None:
    """An HTTP/1.0 GET of `url` that reads the first bytes of the answer and hangs up, as a
    hurried link scanner does: waitress then often logs that the client disconnected, naming
    the request's path."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        connection.sendall(f"GET {parts.path} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode())
        connection.recv(100)


def test_no_email_link_token_or_bearer_token_reaches_the_server_log(
    serve_env: dict[str, str], mailbox: Mailbox, tmp_path: Path
) -> None:
    server = start_server(live_env(serve_env, mailbox), tmp_path)
    try:
        mailed = mail_every_link_kind(Site(server), mailbox)
        for url in mailed.links.values():
            token = url.rsplit("/", 1)[1]
            requests.get(url, timeout=30)
            requests.head(url, timeout=30)
            requests.put(url, timeout=30)  # not a method the route has: 405
            requests.get(url.replace("/email/", "/e-mail/"), timeout=30)  # no such route: 404
            requests.get(f"{server.url}/healthz?t={token}", timeout=30)  # in a query string
            requests.get(
                f"{server.url}/api/moderation/comments/{token}", headers=MODERATOR, timeout=30
            )
            for _ in range(EARLY_HANGUPS):
                hang_up_early(url)  # waitress logs "Client disconnected while serving <path>"
        for url in mailed.links.values():
            requests.post(url, timeout=30)
    finally:
        server.stop()

    log = server.log()
    # Every line is the JSON formatter's, which drops token-shaped words from lines that
    # others (waitress, gunicorn) write.
    lines = [json.loads(line) for line in log.splitlines() if line]
    paths = {line["path"] for line in lines if line.get("msg") == "request"}
    for name, url in mailed.links.items():
        token = url.rsplit("/", 1)[1]
        payload, *_, signature = token.split(".")
        for secret in (token, payload, signature):
            assert secret not in log, f"the {name} link's token is in the log"
    assert ADMIN_TOKEN not in log
    assert {
        "/email/moderate/<token>",
        "/email/confirm/<token>",
        "/email/unsubscribe/<token>",
        "/email/notices/<token>",
        "/e-mail/moderate/<elided>",
        "/api/moderation/comments/<elided>",
    } <= paths
