"""Webhook signatures and how hooks are named in logs, without a receiver."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from commentd.config import ConfigError, Settings
from commentd.notify import webhooks

SECRET = "whsec-0123456789abcdef"


def test_two_hooks_on_one_host_are_told_apart_without_their_paths() -> None:
    first = webhooks.target("https://api.netlify.com/build_hooks/aaaa", SECRET)
    second = webhooks.target("https://api.netlify.com/build_hooks/bbbb", SECRET)

    assert first.startswith("https://api.netlify.com/… #")
    assert second.startswith("https://api.netlify.com/… #")
    assert first != second
    assert first == webhooks.target("https://api.netlify.com/build_hooks/aaaa", SECRET)


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("COMMENTD_SMTP_URL", "smtp:/me:sm7p-pa55word@smtp.example", "sm7p-pa55word"),
        ("COMMENTD_WEBHOOK_URLS", "ftp://x.example/build_hooks/5f1e0c7a", "5f1e0c7a"),
    ],
)
def test_a_refused_delivery_setting_is_named_without_echoing_its_secret(
    name: str, value: str, secret: str
) -> None:
    env = {name: value, "COMMENTD_WEBHOOK_SECRET": "s"}
    with pytest.raises(ConfigError, match=name) as refused:
        Settings.from_env(env)
    assert secret not in str(refused.value)


def headers_for(body: bytes, timestamp: int, delivery: str = "d-1") -> dict[str, str]:
    return {
        webhooks.TIMESTAMP_HEADER: str(timestamp),
        webhooks.DELIVERY_HEADER: delivery,
        webhooks.SIGNATURE_V2_HEADER: webhooks.signature_v2(SECRET, timestamp, delivery, body),
    }


def test_verify_accepts_what_the_service_signs_within_the_tolerance() -> None:
    body = b'{"event": "comment.created"}'

    assert webhooks.verify(SECRET, headers_for(body, 1_000), body, now=1_000)
    assert webhooks.verify(SECRET, headers_for(body, 1_000), body, tolerance=300, now=1_300)


@pytest.mark.parametrize(
    "change",
    ["body", "secret", "delivery", "too old", "from the future", "no timestamp", "bad timestamp"],
)
def test_verify_refuses_anything_changed_or_out_of_time(change: str) -> None:
    body = b'{"event": "comment.created"}'
    headers = headers_for(body, 1_000)
    secret, now, sent = SECRET, 1_000, body
    if change == "body":
        sent = body + b" "
    elif change == "secret":
        secret = "another secret"
    elif change == "delivery":
        headers[webhooks.DELIVERY_HEADER] = "d-2"
    elif change == "too old":
        now = 1_301
    elif change == "from the future":
        now = 699
    elif change == "no timestamp":
        del headers[webhooks.TIMESTAMP_HEADER]
    elif change == "bad timestamp":
        # full-width digits: isdigit() says yes, but they are not ASCII
        headers[webhooks.TIMESTAMP_HEADER] = "\uff11\uff10\uff10\uff10"

    assert not webhooks.verify(secret, headers, sent, tolerance=300, now=now)


def test_the_first_signature_is_the_hmac_of_the_body_alone() -> None:
    body = b"{}"
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()

    assert webhooks.signature(SECRET, body) == expected
    assert webhooks.signed_content(5, "d", body) == b"5.d.{}"
