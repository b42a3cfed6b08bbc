"""Webhooks: a JSON POST signed with HMAC-SHA256 of its raw body (API.md, X-Commentd-Signature)."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from typing import Any

SIGNATURE_HEADER = "X-Commentd-Signature"


class WebhookFailed(Exception):
    """The receiver did not answer 2xx; the outbox retries."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be replayed as a GET elsewhere: treat a 3xx as a failure."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def body(event: str, comment: dict[str, Any], slug: str) -> str:
    """The payload, as text: it is stored once and sent byte for byte on every retry."""
    return json.dumps(
        {"event": event, "comment": comment, "slug": slug},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def signature(secret: str, raw_body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


def post(
    url: str, raw_body: bytes, *, secret: str, event: str, delivery_id: int, timeout: float
) -> None:
    """POST one webhook; raises WebhookFailed (or an OSError) unless the receiver says 2xx."""
    request = urllib.request.Request(
        url,
        data=raw_body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "commentd-webhook",
            SIGNATURE_HEADER: signature(secret, raw_body),
            "X-Commentd-Event": event,
            # The same on every retry of one event: a receiver can ignore a repeat.
            "X-Commentd-Delivery": str(delivery_id),
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        error.close()
        raise WebhookFailed(f"{url} answered {error.code}") from None
    if not 200 <= status < 300:
        raise WebhookFailed(f"{url} answered {status}")
