"""Webhooks that cannot be replayed, and delivery secrets kept out of logs and the outbox view
(issue 12), with a real HTTP receiver and a real SMTP port on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask

from commentd.config import Settings
from commentd.notify import smtp, webhooks
from commentd.web.services import of as services_of
from tests.helpers import deliver, outbox_view, post_comment
from tests.receivers import WebhookReceiver

SECRET = "whsec-0123456789abcdef"
HOOK_SECRET_PATH = "/build_hooks/5f1e0c7a9b2d4e6f"
HOOK_SECRET_QUERY = "?token=hook-query-secret"


def hook_url(receiver: WebhookReceiver) -> str:
    """A hook whose URL is its own secret, as build hooks are."""
    return f"http://127.0.0.1:{receiver.port}{HOOK_SECRET_PATH}{HOOK_SECRET_QUERY}"


@pytest.fixture
def hook_app(make_app: Callable[..., Flask], receiver: WebhookReceiver) -> Flask:
    return make_app(webhook_urls=(hook_url(receiver),), webhook_secret=SECRET, delivery_timeout=5)


def receivers_check(headers: dict[str, str], body: bytes, now: float) -> bool:
    """What the README tells a receiver to do, written out independently of the service."""
    timestamp = headers["X-Commentd-Timestamp"]
    signed = f"{timestamp}.{headers['X-Commentd-Delivery']}.".encode() + body
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    return (
        hmac.compare_digest(expected, headers["X-Commentd-Signature-V2"])
        and abs(now - int(timestamp)) <= 300
    )


def test_a_webhook_carries_a_signed_timestamp_and_delivery_id_and_the_old_signature(
    hook_app: Flask, receiver: WebhookReceiver
) -> None:
    posted = post_comment(hook_app.test_client())
    before = time.time()

    deliver(hook_app)

    [(path, headers, body)] = receiver.requests
    assert path == HOOK_SECRET_PATH + HOOK_SECRET_QUERY
    assert json.loads(body)["comment"]["id"] == posted["id"]
    # The old header, unchanged: receivers written for it keep working.
    old = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Commentd-Signature"] == f"sha256={old}"
    # The new one covers the timestamp and the delivery id as well as the body.
    assert abs(int(headers["X-Commentd-Timestamp"]) - before) <= 5
    assert headers["X-Commentd-Delivery"].isdigit()
    assert receivers_check(headers, body, now=time.time())
    assert webhooks.verify(SECRET, headers, body)


def test_a_captured_webhook_cannot_be_replayed_later_or_reused_for_another_delivery(
    hook_app: Flask, receiver: WebhookReceiver
) -> None:
    post_comment(hook_app.test_client())
    deliver(hook_app)
    [(_, headers, body)] = receiver.requests
    sent_at = int(headers["X-Commentd-Timestamp"])

    assert receivers_check(headers, body, now=sent_at + 299)
    assert not receivers_check(headers, body, now=sent_at + 301)  # replayed 5 minutes later
    assert not webhooks.verify(SECRET, headers, body, now=sent_at + 3600)
    # A fresh timestamp, another delivery id or another body breaks the signature.
    for changed in (
        headers | {"X-Commentd-Timestamp": str(sent_at + 600)},
        headers | {"X-Commentd-Delivery": str(int(headers["X-Commentd-Delivery"]) + 1)},
    ):
        assert not webhooks.verify(SECRET, changed, body, now=sent_at + 600)
        assert not webhooks.verify(SECRET, changed, body, now=sent_at)
    assert not webhooks.verify(SECRET, headers, body.replace(b"created", b"deleted"), now=sent_at)
    assert not webhooks.verify("another secret", headers, body, now=sent_at)
    assert not webhooks.verify(SECRET, {}, body, now=sent_at)


def test_each_retry_is_signed_afresh_with_the_same_body_and_delivery_id(
    hook_app: Flask, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.statuses = [503]
    post_comment(hook_app.test_client())
    deliver(hook_app)
    later = time.time() + 3600  # the retry goes an hour later
    monkeypatch.setattr(webhooks.time, "time", lambda: later)
    deliver(hook_app, later=timedelta(hours=1))

    first, second = receiver.requests
    assert first[2] == second[2]
    assert first[1]["X-Commentd-Delivery"] == second[1]["X-Commentd-Delivery"]
    assert int(second[1]["X-Commentd-Timestamp"]) - int(first[1]["X-Commentd-Timestamp"]) >= 3599
    assert receivers_check(second[1], second[2], now=later)


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(400, True), (401, True), (404, True), (410, True), (408, False), (429, False), (500, False)],
)
def test_a_receiver_that_refuses_for_good_is_given_up_at_once_and_a_busy_one_retried(
    hook_app: Flask, receiver: WebhookReceiver, status: int, permanent: bool
) -> None:
    receiver.statuses = [status]
    post_comment(hook_app.test_client())

    deliver(hook_app)
    [event] = outbox_view(hook_app.test_client())["failing"]

    assert event["permanent"] is permanent
    assert event["state"] == ("failed" if permanent else "pending")
    assert event["last_error"].endswith(f"answered {status}")
    deliver(hook_app, later=timedelta(minutes=1))
    assert len(receiver.requests) == (1 if permanent else 2)


def test_hook_urls_stay_out_of_the_log_and_the_outbox_view(
    make_app: Callable[..., Flask],
    receiver: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
    refused_port: int,
) -> None:
    refusing = f"http://127.0.0.1:{refused_port}/hooks/closed-port-secret?key=k3y"
    app = make_app(
        webhook_urls=(hook_url(receiver), refusing), webhook_secret=SECRET, delivery_timeout=5
    )
    receiver.statuses = [502]
    post_comment(app.test_client())

    with caplog.at_level(logging.INFO):
        deliver(app)
        deliver(app, later=timedelta(minutes=1))  # one more try each: more lines to check
    view = outbox_view(app.test_client())

    shown = json.dumps(view)
    logged = caplog.text
    assert len(view["failing"]) == 1  # the one refusing the connection; 502 then accepted
    [event] = view["failing"]
    assert event["target"].startswith("http://127.0.0.1:")
    assert "could not be reached" in event["last_error"]
    for secret in ("closed-port-secret", "k3y", "5f1e0c7a9b2d4e6f", "hook-query-secret"):
        assert secret not in shown
        assert secret not in logged
    assert "could not be reached" in logged and "answered 502" in logged


def test_the_smtp_password_stays_out_of_the_log_the_outbox_view_and_reprs(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture, refused_port: int
) -> None:
    smtp_url = f"smtp://me%40blog.example:sm7p-pa55word@127.0.0.1:{refused_port}"
    app = make_app(smtp_url=smtp_url, notify_email="author@blog.example", delivery_timeout=5)
    post_comment(app.test_client())

    with caplog.at_level(logging.INFO):
        deliver(app)
    view = json.dumps(outbox_view(app.test_client()))

    assert view.count("ConnectionRefusedError") == 1
    settings: Settings = services_of(app).settings
    for text in (view, caplog.text, repr(settings), repr(smtp.parse_smtp_url(smtp_url))):
        assert "sm7p-pa55word" not in text
