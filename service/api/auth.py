"""Moderation bearer tokens: the admin token from the environment, or one `commentd token` made."""

from __future__ import annotations

import hmac

from flask import request
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ..db import get_session
from ..errors import Unauthorized
from ..extensions import current_settings
from ..keys import new_token, token_hash
from ..models import ModerationToken


def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def is_valid_token(session: Session, token: str, admin_token: str | None) -> bool:
    """Constant-time against the admin token; stored tokens are looked up by their hash."""
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return True
    return bool(
        session.scalar(select(exists().where(ModerationToken.token_hash == token_hash(token))))
    )


def require_moderator() -> None:
    """before_request of the moderation API: 401 without a valid token (preflights pass)."""
    if request.method == "OPTIONS":
        return
    token = bearer_token()
    if token is None or not is_valid_token(get_session(), token, current_settings().admin_token):
        raise Unauthorized("A valid moderation token is required (Authorization: Bearer …).")


def create_token(session: Session, label: str = "") -> str:
    """A new moderation token; only its hash is stored, so it is shown this once."""
    token = new_token()
    session.add(ModerationToken(token_hash=token_hash(token), label=label[:100]))
    return token


def has_any_token(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(ModerationToken.id.is_not(None)))))
