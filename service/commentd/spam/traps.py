"""Signed form tokens: when the comment form was shown, so a too-quick or forged post stands out."""

from __future__ import annotations

import functools
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

FORM_TOKEN_LIFETIME = 86400  # seconds; API.md's `expires_in`
_SALT = "commentd.form-token"


class FormTokenState(StrEnum):
    """What a submission's form token turned out to be."""

    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"  # forged, or signed with another key
    EXPIRED = "expired"


@dataclass(frozen=True)
class FormTokenCheck:
    """A form token checked: its state, and when valid how long the form was open."""

    state: FormTokenState
    age_seconds: float | None = None  # how long after issue the form came back


@functools.lru_cache(maxsize=8)
def _serializer(secret: str) -> URLSafeTimedSerializer:
    """One per secret, kept: building it on every check cost ~3.5 µs of the ~17."""
    return URLSafeTimedSerializer(secret, salt=_SALT)


def issue(secret: str) -> str:
    """A new signed form token (GET /api/form-token); valid FORM_TOKEN_LIFETIME seconds."""
    return _serializer(secret).dumps(secrets.token_hex(4))


def check(secret: str, token: str | None, *, now: float | None = None) -> FormTokenCheck:
    """What a submitted form token says (`now`: Unix seconds, for tests); never raises."""
    if not token:
        return FormTokenCheck(FormTokenState.MISSING)
    try:
        _, issued_at = _serializer(secret).loads(
            token, max_age=FORM_TOKEN_LIFETIME, return_timestamp=True
        )
    except SignatureExpired:
        return FormTokenCheck(FormTokenState.EXPIRED)
    except BadSignature:
        return FormTokenCheck(FormTokenState.INVALID)
    age = (now if now is not None else time.time()) - issued_at.timestamp()
    return FormTokenCheck(FormTokenState.VALID, age_seconds=age)
