"""Moderation bearer tokens: the admin token from the environment, or one `commentd token` made."""

from __future__ import annotations

import hmac

from flask import Response, g, request
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
    return token_label(session, token, admin_token) is not None


ADMIN_TOKEN_LABEL = "admin token"


def token_label(session: Session, token: str, admin_token: str | None) -> str | None:
    """Who `token` is, as a comment's history names the moderator: "admin token" for
    COMMENTD_ADMIN_TOKEN (compared in constant time), "token: <label>" for a stored token
    ("token #<id>" when its label is empty), None for no valid token."""
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return ADMIN_TOKEN_LABEL
    row = session.execute(
        select(ModerationToken.id, ModerationToken.label).where(
            ModerationToken.token_hash == token_hash(token)
        )
    ).one_or_none()
    if row is None:
        return None
    return f"token: {row.label}" if row.label else f"token #{row.id}"


def moderator_label() -> str:
    """The label of whatever let this request past require_moderator (see token_label):
    what a comment's history records as the actor of the author's decisions. Only for views
    behind require_moderator."""
    return str(g.get("moderator_label", "moderator"))


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
    label = _moderator(token) if token is not None else None
    if label is not None:
        g.moderator_label = label
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


def _moderator(token: str) -> str | None:
    """The token's label (token_label), None if it is no valid token. Checked in a Session of
    its own, closed at once: the view then opens the request's Session, reading or writing as
    it needs."""
    services = current()
    with services.read_sessions() as session:
        return token_label(session, token, services.settings.admin_token)


def create_token(session: Session, label: str = "") -> str:
    """A new moderation token; only its hash is stored, so it is shown this once."""
    token = new_token()
    session.add(ModerationToken(token_hash=token_hash(token), label=label[:100]))
    return token


def has_any_token(session: Session) -> bool:
    """Whether `commentd token` ever made a moderation token."""
    return bool(session.scalar(select(exists().where(ModerationToken.id.is_not(None)))))
