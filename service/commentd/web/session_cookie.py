"""The hosted /moderate page's session cookie: signed (itsdangerous, with the site secret),
never stored on the server, naming the token it was opened with.

The cookie holds `{"t": token id or null for COMMENTD_ADMIN_TOKEN, "b": binding, "n": nonce}`
and its signing time. The binding is a keyed hash of the stored token's hash (or of the admin
token): the session is valid only while that very token exists (or the admin token is still
the same), so revoking the token, or changing COMMENTD_ADMIN_TOKEN, ends it on the next request
of every process. (An id alone would not do: SQLite may give a revoked token's id to the next
token made.) The nonce makes each sign-in's CSRF value its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from commentd.keys import keyed_hash

COOKIE = "commentd_session"
CSRF_HEADER = "X-Commentd-CSRF"
SALT = "commentd.moderation-session"
CLOCK_SKEW_SECONDS = 60
MAX_COOKIE_CHARS = 512  # what this module signs is about 150; anything longer is not ours


@dataclass(frozen=True)
class Claim:
    """What a valid cookie says: the token (`token_id` None: the admin token), its binding,
    the sign-in's nonce and when it was signed (Unix seconds)."""

    token_id: int | None
    binding: str
    nonce: str
    signed_at: int


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        secret, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )


def token_binding(secret: str, token_hash: str) -> str:
    """The binding of a stored token (from its stored SHA-256): 32 hex characters."""
    return keyed_hash(secret, "moderation-session-token", token_hash)


def admin_binding(secret: str, admin_token: str) -> str:
    """The binding of COMMENTD_ADMIN_TOKEN: a keyed hash, so the cookie never holds it."""
    return keyed_hash(secret, "moderation-session-admin", admin_token)


def csrf_value(secret: str, nonce: str) -> str:
    """The `X-Commentd-CSRF` value of the session with this nonce: 32 hex characters."""
    return keyed_hash(secret, "moderation-session-csrf", nonce)


def sign(secret: str, token_id: int | None, binding: str) -> str:
    """A new session's cookie value: the claim with a fresh nonce, signed now."""
    return _serializer(secret).dumps({"t": token_id, "b": binding, "n": secrets.token_urlsafe(16)})


def read(
    secret: str, value: str, max_age_seconds: int, *, now: float | None = None
) -> Claim | None:
    """The claim of a cookie value this service signed less than `max_age_seconds` ago (at
    `now`, default the clock); None for anything else (forged, altered, expired, malformed)."""
    if not value or len(value) > MAX_COOKIE_CHARS:
        return None
    try:
        payload, signed = _serializer(secret).loads(value, return_timestamp=True)
    except (BadSignature, ValueError, TypeError):
        return None
    signed_at = int(signed.timestamp())
    age = (time.time() if now is None else now) - signed_at
    # Whole seconds, and another instance's clock may be a little ahead: CLOCK_SKEW_SECONDS.
    if not -CLOCK_SKEW_SECONDS <= age <= max_age_seconds + 1 or not isinstance(payload, dict):
        return None
    token_id, binding, nonce = payload.get("t"), payload.get("b"), payload.get("n")
    if not (token_id is None or (isinstance(token_id, int) and not isinstance(token_id, bool))):
        return None
    if not isinstance(binding, str) or not isinstance(nonce, str):
        return None
    return Claim(token_id, binding, nonce, signed_at)


def same_value(sent: str, expected: str) -> bool:
    """Constant-time comparison of a header value with the expected one."""
    return hmac.compare_digest(
        sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
