"""The outbox worker under a real `commentd serve` (gunicorn): a hung mail server never holds up
posting, mail waits in the database across a restart, and nothing is sent twice."""

from __future__ import annotations

import hashlib
import hmac
import re
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.helpers import (
    MODERATOR,
    LiveServer,
    created,
    port_of,
    post_live,
    refusing_socket,
    start_server,
    text_of,
    wait_until,
)
from tests.receivers import Mailbox, SilentSmtpServer, WebhookReceiver

AUTHOR = "author@blog.example"


def outbox_counts(server: LiveServer) -> dict[str, int]:
    response = requests.get(f"{server.url}/api/moderation/outbox", headers=MODERATOR, timeout=30)
    return dict(response.json()["counts"])


def name_in(message: EmailMessage) -> str:
    found = re.search(r"^Name: +(.+)$", text_of(message), re.M)
    assert found is not None
    return found.group(1)


def delivery_env(serve_env: dict[str, str], smtp_port: int) -> dict[str, str]:
    return serve_env | {
        "COMMENTD_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "COMMENTD_NOTIFY_EMAIL": AUTHOR,
        "COMMENTD_DELIVERY_TIMEOUT": "30",
        "COMMENTD_RETRY_SECONDS": "1",
        "COMMENTD_OUTBOX_POLL_SECONDS": "1",
    }


def test_posting_answers_while_the_mail_server_hangs_and_the_mail_follows_once_it_is_back(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    smtp = refusing_socket()
    silent = SilentSmtpServer(smtp)
    mailbox = Mailbox(smtp)  # takes the port over once the silent server is gone
    server = start_server(delivery_env(serve_env, port_of(smtp)), tmp_path)
    try:
        first = created(post_live(server, name="Ann"))
        # The server's delivery thread is now inside an SMTP conversation that never ends...
        wait_until(lambda: len(silent.connections) > 0, "the worker to reach the mail server")
        # ...and posting still answers, because it never waits on mail.
        second = created(post_live(server, name="Ben"))
        assert outbox_counts(server)["pending"] == 2

        silent.close()  # the hung server goes away; a working one takes its port
        mailbox.start()
        wait_until(lambda: len(mailbox.to(AUTHOR)) == 2, "both notices to arrive")
        wait_until(lambda: outbox_counts(server)["sent"] == 2, "the outbox to record them")

        notices = {name_in(n): n for n in mailbox.to(AUTHOR)}
        assert sorted(notices) == ["Ann", "Ben"]
        assert len({n["Message-ID"] for n in notices.values()}) == 2
        # One click from the mail, on the real server: the confirm page, then its POST.
        approve = re.search(r"^Approve: (\S+)$", text_of(notices["Ann"]), re.M)
        assert approve is not None
        url = approve.group(1)
        assert urlsplit(url).netloc == urlsplit(server.url).netloc
        assert "Approve</button>" in requests.get(url, timeout=30).text
        assert requests.post(url, timeout=30).status_code == 200
        assert requests.post(url, timeout=30).status_code == 409
        public = requests.get(f"{server.url}/api/posts/gluteus-medius/comments", timeout=30).json()
        assert [c["id"] for c in public["comments"]] == [first["id"]]
        assert second["status"] == "pending"
    finally:
        server.stop()
        mailbox.stop()
    assert len(mailbox.to(AUTHOR)) == 2  # and nothing came late, twice


def test_mail_and_webhooks_wait_in_the_database_across_a_restart(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    smtp = refusing_socket()  # nothing listens yet: the mail server is down
    receiver = WebhookReceiver()
    receiver.statuses = [503] * 1000  # the site's build hook is down too
    env = delivery_env(serve_env, port_of(smtp)) | {
        # A build hook's URL is its own secret: it must not reach the log (issue 12).
        "COMMENTD_WEBHOOK_URLS": f"{receiver.url}/s3cr3t-build-hook",
        "COMMENTD_WEBHOOK_SECRET": "whsec-live-0123456789abcdef",
    }
    server = start_server(env, tmp_path)
    try:
        posted = created(post_live(server))
        wait_until(lambda: len(receiver.requests) > 0, "a first webhook attempt")
    finally:
        assert server.stop() == 0
    mailbox = Mailbox(smtp).start()
    receiver.statuses = []
    tried_before = len(receiver.requests)
    restarted = start_server(env, tmp_path)
    try:
        wait_until(lambda: len(mailbox.to(AUTHOR)) == 1, "the notice after the restart")
        wait_until(lambda: len(receiver.requests) > tried_before, "the webhook after the restart")
        wait_until(lambda: outbox_counts(restarted)["pending"] == 0, "the outbox to drain")
    finally:
        restarted.stop()
        mailbox.stop()
        receiver.close()

    assert len(mailbox.to(AUTHOR)) == 1
    assert "answered 503" in server.log()  # the failures were logged...
    for log in (server.log(), restarted.log()):
        assert "s3cr3t-build-hook" not in log  # ...without the hook's URL
    _, headers, body = receiver.requests[-1]
    signed = hmac.new(b"whsec-live-0123456789abcdef", body, hashlib.sha256).hexdigest()
    assert headers["X-Commentd-Signature"] == f"sha256={signed}"
    assert receiver.payloads()[-1]["comment"]["id"] == posted["id"]
    assert len({b for _, _, b in receiver.requests}) == 1  # every attempt sent the same bytes


def test_two_server_processes_deliver_every_notice_exactly_once(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    mailbox = Mailbox().start()
    env = delivery_env(serve_env, mailbox.port) | {
        # Shared rate-limit storage makes `commentd serve` run several worker processes, each
        # with its own delivery thread; db 9 keeps these counters apart from other tests'.
        "COMMENTD_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/9",
        "COMMENTD_POST_RATE_LIMIT": "100000 per minute",
        "COMMENTD_SITE_RATE_LIMIT": "100000 per minute",
    }
    server = start_server(env, tmp_path)
    try:
        names = [f"Reader{number}" for number in range(30)]
        for name in names:
            created(post_live(server, name=name))
        wait_until(lambda: outbox_counts(server)["sent"] == len(names), "every notice sent")
    finally:
        server.stop()
        mailbox.stop()

    assert server.log().count("Booting worker with pid") >= 2
    received = mailbox.to(AUTHOR)
    assert sorted(name_in(m) for m in received) == sorted(names)  # each once, none lost
