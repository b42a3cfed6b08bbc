"""Moderation bearer tokens: the admin token from the environment, or one `commentd token` made."""

from __future__ import annotations

import hmac

from flask import Response, request
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from commentd.errors import RateLimited, Unauthorized
from commentd.keys import new_token, token_hash
from commentd.models import ModerationToken
from commentd.web.services import current


def bearer_token() -> str | None:
    """The token of the request's `Authorization: Bearer <token>`, else None."""
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
    """before_request of every route that takes the moderation bearer token (preflights pass).

    The token is checked first: a valid one is always let in, and never counted. Each failure
    counts against the client address (COMMENTD_AUTH_FAILURE_LIMIT, one count for all these
    routes): 401 within the allowance, 429 with Retry-After beyond it.
    """
    if request.method == "OPTIONS":
        return
    services = current()
    token = bearer_token()
    if token is not None and _is_moderator(token):
        return
    rate_limits = services.rate_limits
    try:
        rate_limits.take((rate_limits.auth_failure,))
    except RateLimited as limited:
        raise RateLimited(
            f"Too many wrong moderation tokens from this address: wait {limited.retry_after} "
            "seconds before trying another.",
            retry_after=limited.retry_after,
        ) from None
    raise Unauthorized("A valid moderation token is required (Authorization: Bearer …).")


def keep_private(response: Response) -> Response:
    """after_request of every route behind the moderation token: its answers hold emails,
    queues and whole exports, so no shared cache (a CDN, a proxy) may keep them and a browser
    keeps none on disk (`Cache-Control: private, no-store`)."""
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _is_moderator(token: str) -> bool:
    """Checked in a Session of its own, closed at once: the view then opens the request's
    Session, reading or writing as it needs."""
    services = current()
    with services.read_sessions() as session:
        return is_valid_token(session, token, services.settings.admin_token)


def create_token(session: Session, label: str = "") -> str:
    """A new moderation token; only its hash is stored, so it is shown this once."""
    token = new_token()
    session.add(ModerationToken(token_hash=token_hash(token), label=label[:100]))
    return token


def has_any_token(session: Session) -> bool:
    """Whether `commentd token` ever made a moderation token."""
    return bool(session.scalar(select(exists().where(ModerationToken.id.is_not(None)))))
