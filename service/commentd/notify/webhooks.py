"""Webhooks: a JSON POST signed with HMAC-SHA256 (API.md, README "Notifications and webhooks").

Two signatures, both keyed by COMMENTD_WEBHOOK_SECRET:

- `X-Commentd-Signature: sha256=<hex HMAC of the raw body>`, as from the start (older
  receivers keep working). It never expires: a captured request replays for ever.
- `X-Commentd-Signature-V2: sha256=<hex HMAC of "<timestamp>.<delivery id>.<raw body>">`, with
  `X-Commentd-Timestamp` (Unix seconds at sending) and `X-Commentd-Delivery` (the event's id,
  the same on every retry). A receiver checks it, refuses a timestamp more than a few minutes
  away from its clock, and may drop a delivery id it has already seen: see `verify`.

A hook URL is often its own secret (a build hook's path): it is never written to a log or an
error; `target` gives the form that may be shown.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from commentd.notify.outbox import PermanentFailure, scrub

SIGNATURE_HEADER = "X-Commentd-Signature"
SIGNATURE_V2_HEADER = "X-Commentd-Signature-V2"
TIMESTAMP_HEADER = "X-Commentd-Timestamp"
DELIVERY_HEADER = "X-Commentd-Delivery"
EVENT_HEADER = "X-Commentd-Event"
# How far a receiver should let a timestamp be from its own clock (the README's example).
DEFAULT_TOLERANCE_SECONDS = 300
# Answers that say "this request will never be taken", so retrying it is pointless; other 4xx
# (408 timeout, 425 too early, 429 too many) and every 5xx may pass.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 425, 429})


class WebhookFailed(Exception):
    """The receiver could not be reached or did not answer 2xx; the outbox retries."""


class WebhookRefused(WebhookFailed, PermanentFailure):
    """The receiver answered a 4xx that retrying cannot change (401, 404, 410, 422...)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be replayed as a GET elsewhere: treat a 3xx as a failure."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def body(event: str, comment: dict[str, Any], slug: str) -> str:
    """The payload, as text: it is stored once and sent byte for byte on every retry.

    Format (API.md, "Emails and webhooks"): compact UTF-8 JSON `{"event": "comment.created" |
    "comment.approved" | "comment.deleted", "comment": <the public comment of
    comments.public.public_comment>, "slug": <the post's slug>}`.
    """
    return json.dumps(
        {"event": event, "comment": comment, "slug": slug},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def target(url: str, secret: str) -> str:
    """What may be shown of a hook URL: scheme and host (port too), and a label that tells two
    hooks on one host apart without revealing either (a keyed hash of the whole URL).

    `https://api.netlify.com/build_hooks/5f1e…` -> `https://api.netlify.com/… #1a2b3c4d`.
    """
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    label = hmac.new(secret.encode(), url.encode(), hashlib.sha256).hexdigest()[:8]
    return f"{parts.scheme}://{host}{port}/… #{label}"


def signature(secret: str, raw_body: bytes) -> str:
    """The original `X-Commentd-Signature` value: `sha256=` + hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


def signed_content(timestamp: int, delivery_id: str, raw_body: bytes) -> bytes:
    """What `X-Commentd-Signature-V2` signs: `<timestamp>.<delivery id>.<raw body>`."""
    return f"{timestamp}.{delivery_id}.".encode() + raw_body


def signature_v2(secret: str, timestamp: int, delivery_id: str, raw_body: bytes) -> str:
    """The `X-Commentd-Signature-V2` value: `sha256=` + hex HMAC-SHA256 of `signed_content`."""
    content = signed_content(timestamp, delivery_id, raw_body)
    return "sha256=" + hmac.new(secret.encode(), content, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    headers: Mapping[str, str],
    raw_body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """A receiver's check (also the README's): the V2 signature matches, in constant time, and
    the timestamp is within `tolerance` seconds of `now` (Unix seconds; the clock by default).

    `headers` must look names up as sent (a case-insensitive mapping, as web frameworks give).
    Remembering the delivery ids seen in the last `tolerance` seconds also refuses a replay
    inside the window; that is the receiver's part.
    """
    raw_timestamp = headers.get(TIMESTAMP_HEADER, "")
    delivery_id = headers.get(DELIVERY_HEADER, "")
    given = headers.get(SIGNATURE_V2_HEADER, "")
    if not (raw_timestamp.isascii() and raw_timestamp.isdigit()) or not delivery_id:
        return False
    timestamp = int(raw_timestamp)
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature_v2(secret, timestamp, delivery_id, raw_body)
    return hmac.compare_digest(expected.encode(), given.encode())


def post(
    url: str,
    raw_body: bytes,
    *,
    secret: str,
    event: str,
    delivery_id: int,
    timeout: float,
    now: float | None = None,
) -> None:
    """POST one webhook, signed at `now` (Unix seconds; the clock by default).

    Raises WebhookRefused for a 4xx that retrying cannot change, WebhookFailed for any other
    failure (no answer, 3xx, 5xx, 408, 429...). Neither names more of `url` than `target`.
    """
    shown = target(url, secret)
    timestamp = int(time.time() if now is None else now)
    delivery = str(delivery_id)
    request = urllib.request.Request(
        url,
        data=raw_body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "commentd-webhook",
            SIGNATURE_HEADER: signature(secret, raw_body),
            SIGNATURE_V2_HEADER: signature_v2(secret, timestamp, delivery, raw_body),
            TIMESTAMP_HEADER: str(timestamp),
            EVENT_HEADER: event,
            # The same on every retry of one event: a receiver can ignore a repeat.
            DELIVERY_HEADER: delivery,
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        error.close()
        status = error.code
    except (OSError, ValueError, http.client.HTTPException) as error:
        # The exception's text may quote the URL: only its reason, scrubbed, goes on.
        reason = str(getattr(error, "reason", error)).replace(url, shown)
        raise WebhookFailed(f"{shown} could not be reached: {scrub(reason)}") from None
    if 200 <= status < 300:
        return
    if 400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS:
        raise WebhookRefused(f"{shown} answered {status}")
    raise WebhookFailed(f"{shown} answered {status}")
