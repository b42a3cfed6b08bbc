"""Who may moderate: a bearer token (the admin token from the environment, or one made by
`commentd token` or the console), or the hosted /moderate page's session cookie
(session_cookie.py), which names such a token. Also the stored tokens' list, creation and
revocation, shared by the CLI and the API.

Nothing here caches whether a token is valid: every request looks its token up in the
database, so a revoked token (and every session opened with it) fails on the next request of
every process and instance.
"""

from __future__ import annotations

import hmac
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Response, g, request
from sqlalchemy import delete, exists, func, select, text
from sqlalchemy.orm import Session

from commentd.errors import (
    CsrfFailed,
    LabelTaken,
    RateLimited,
    TooManyTokens,
    Unauthorized,
    ValidationFailed,
)
from commentd.keys import new_token, token_hash
from commentd.models import ModerationToken
from commentd.web import session_cookie
from commentd.web.cors import own_origin
from commentd.web.services import current
from commentd.web.sessions import WRITE_METHODS

MAX_LABEL_CHARS = 100  # the column's size
MAX_TOKENS = 1000  # the console lists them all on one page
ADMIN_LABEL = "admin token"
# PostgreSQL's advisory lock while a token is added ("commentd" + 1): labels stay unique
# between concurrent `commentd token` runs and console requests. SQLite's writers take the
# database's write lock when they begin, which serialises them already.
TOKENS_LOCK = 0x636F6D6D656E7465


@dataclass(frozen=True)
class Moderator:
    """What let a request in.

    Attributes:
        token_id: the stored token's id; None for COMMENTD_ADMIN_TOKEN.
        label: as moderator_label() gives it ("token: laptop", "token #3", "admin token").
        csrf: the session's X-Commentd-CSRF value when the session cookie let it in, else None.
    """

    token_id: int | None
    label: str
    csrf: str | None = None


def label_of(token: ModerationToken | None) -> str:
    """How a token is named in the console and the history: "token: <label>", "token #<id>"
    for a token without a label, "admin token" for None (COMMENTD_ADMIN_TOKEN)."""
    if token is None:
        return ADMIN_LABEL
    return f"token: {token.label}" if token.label else f"token #{token.id}"


def bearer_token() -> str | None:
    """The token of the request's `Authorization: Bearer <token>`, else None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def identify(session: Session, token: str, admin_token: str | None) -> Moderator | None:
    """The moderator a bearer `token` stands for, or None: constant time against the admin
    token; stored tokens are looked up by their hash."""
    if admin_token and hmac.compare_digest(
        token.encode("utf-8", "surrogatepass"), admin_token.encode("utf-8", "surrogatepass")
    ):
        return Moderator(None, ADMIN_LABEL)
    stored = session.scalar(
        select(ModerationToken).where(ModerationToken.token_hash == token_hash(token))
    )
    return Moderator(stored.id, label_of(stored)) if stored is not None else None


def is_valid_token(session: Session, token: str, admin_token: str | None) -> bool:
    """Whether `token` is the admin token or a stored one (identify())."""
    return identify(session, token, admin_token) is not None


def same_origin_request() -> bool:
    """Whether a browser sent this request from the service's own origin (or the user typed
    its address): `Sec-Fetch-Site` and `Origin`, when sent, say so. Only such requests may be
    let in by the session cookie; a page of another origin (the blog, even on the same site)
    never is, whatever cookie its browser attaches."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site.lower() not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    public = urlsplit(current().settings.public_url)
    own = {own_origin(), f"{public.scheme}://{public.netloc}".lower()}
    return origin.rstrip("/").lower() in own


def session_moderator() -> Moderator | None:
    """The moderator whose session cookie this request carries, or None: no cookie, one this
    service did not sign, an expired one (COMMENTD_MODERATION_SESSION_SECONDS since sign-in),
    one whose token was revoked (or whose admin token changed), or a request from another
    origin. Looked up in the database every time."""
    value = request.cookies.get(session_cookie.COOKIE)
    if not value or not same_origin_request():
        return None
    services = current()
    secret = services.secret_key
    claim = session_cookie.read(secret, value, services.settings.moderation_session_seconds)
    if claim is None:
        return None
    csrf = session_cookie.csrf_value(secret, claim.nonce)
    if claim.token_id is None:
        admin = services.settings.admin_token
        if admin and session_cookie.same_value(
            claim.binding, session_cookie.admin_binding(secret, admin)
        ):
            return Moderator(None, ADMIN_LABEL, csrf)
        return None
    with services.read_sessions() as session:
        stored = session.get(ModerationToken, claim.token_id)
        if stored is None or not session_cookie.same_value(
            claim.binding, session_cookie.token_binding(secret, stored.token_hash)
        ):
            return None
        return Moderator(stored.id, label_of(stored), csrf)


def count_failure(message: str) -> Unauthorized:
    """Count one failed authentication against the client address
    (COMMENTD_AUTH_FAILURE_LIMIT, one count for every route that takes a token) and return
    the 401 to raise. Raises RateLimited (429 with Retry-After) beyond the allowance."""
    rate_limits = current().rate_limits
    try:
        rate_limits.take((rate_limits.auth_failure,))
    except RateLimited as limited:
        raise RateLimited(
            f"Too many wrong moderation tokens from this address: wait {limited.retry_after} "
            "seconds before trying another.",
            retry_after=limited.retry_after,
        ) from None
    return Unauthorized(message)


def require_moderator() -> None:
    """before_request of every route behind the moderation token (preflights pass).

    A bearer token is checked first; without an Authorization header, the hosted page's
    session cookie (same origin only), which with an unsafe method also needs its
    `X-Commentd-CSRF` header (403 csrf_failed). What let the request in is kept for
    moderator_label(). A valid credential is always let in and never counted; each failure
    counts against the client address: 401 within the allowance, 429 with Retry-After beyond.
    """
    if request.method == "OPTIONS":
        return
    services = current()
    token = bearer_token()
    if token is not None:
        with services.read_sessions() as session:
            moderator = identify(session, token, services.settings.admin_token)
    elif "Authorization" in request.headers:
        moderator = None  # another scheme, or an empty one: a failure, not a cookie's turn
    else:
        moderator = session_moderator()
        if moderator is not None and request.method in WRITE_METHODS:
            require_csrf(moderator)
    if moderator is not None:
        g.moderator = moderator
        return
    raise count_failure("A valid moderation token is required (Authorization: Bearer …).")


def require_csrf(moderator: Moderator) -> None:
    """For a request let in by the session cookie: its X-Commentd-CSRF header must be the
    session's value. Raises CsrfFailed (403 csrf_failed)."""
    assert moderator.csrf is not None
    sent = request.headers.get(session_cookie.CSRF_HEADER, "")
    if not session_cookie.same_value(sent, moderator.csrf):
        raise CsrfFailed(
            f"Send the session's {session_cookie.CSRF_HEADER} header (the `csrf` value that "
            "signing in, or GET /api/moderation/session, answered)."
        )


def current_moderator() -> Moderator:
    """What let this request in (require_moderator). Raises LookupError outside a request
    that passed it."""
    moderator = g.get("moderator")
    if not isinstance(moderator, Moderator):
        raise LookupError("this request was not let in by require_moderator")
    return moderator


def moderator_label() -> str:
    """The label of what let this request in: "token: <label>", "token #<id>" (a token
    without a label), or "admin token"; for a session cookie, its token's. Raises LookupError
    outside a request that passed require_moderator."""
    return current_moderator().label


def keep_private(response: Response) -> Response:
    """after_request of every route behind the moderation token: its answers hold emails,
    queues and whole exports, so no shared cache (a CDN, a proxy) may keep them and a browser
    keeps none on disk (`Cache-Control: private, no-store`)."""
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- the stored tokens: list, create, revoke (the CLI and the console) ------------------------


def check_label(label: str, *, required: bool) -> str:
    """The label as stored: stripped, at most MAX_LABEL_CHARS, no control or format
    characters, not a number (nor "#" and a number, which name ids). Empty only when not
    `required`. Raises ValidationFailed (fields: label)."""
    label = unicodedata.normalize("NFC", label.strip())
    problem = None
    if not label and required:
        problem = "Give the token a label: who or what it is for (say, “laptop”)."
    elif len(label) > MAX_LABEL_CHARS:
        problem = f"A label is at most {MAX_LABEL_CHARS} characters."
    elif any(unicodedata.category(ch)[0] == "C" for ch in label):
        problem = "A label may not hold control characters."
    elif label.removeprefix("#").isdecimal():
        problem = "A label may not be a number: numbers name tokens by their id."
    if problem is not None:
        raise ValidationFailed(problem, fields={"label": problem})
    return label


def create_token(session: Session, label: str = "") -> str:
    """A new moderation token with `label` (may be empty); only its hash is stored, so the
    token is shown this once. See add_token for the checks and errors."""
    return add_token(session, label)[1]


def add_token(
    session: Session, label: str, *, label_required: bool = False
) -> tuple[ModerationToken, str]:
    """Store a new token (flushed, not committed): (its row, the token itself).

    Raises ValidationFailed for a bad label (check_label), LabelTaken when another token has
    this label (an empty one excepted), TooManyTokens beyond MAX_TOKENS.
    """
    label = check_label(label, required=label_required)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": TOKENS_LOCK})
    if label:
        taken = session.scalar(
            select(ModerationToken.id).where(ModerationToken.label == label).limit(1)
        )
        if taken is not None:
            raise LabelTaken(
                f"A token labelled “{label}” exists already (#{taken}): choose another label, "
                "or revoke that token first.",
                fields={"label": "taken"},
            )
    if (session.scalar(select(func.count()).select_from(ModerationToken)) or 0) >= MAX_TOKENS:
        raise TooManyTokens(f"There are {MAX_TOKENS} tokens already: revoke some first.")
    token = new_token()
    row = ModerationToken(token_hash=token_hash(token), label=label)
    session.add(row)
    session.flush()
    return row, token


def list_tokens(session: Session) -> list[ModerationToken]:
    """Every stored token, oldest first."""
    return list(session.scalars(select(ModerationToken).order_by(ModerationToken.id)))


def tokens_named(session: Session, name: str) -> list[ModerationToken]:
    """The tokens `name` means: "#<id>" an id; a number the token with that id, or, when
    none has it, the tokens labelled so (old labels may be numbers); anything else the tokens
    with that exact label (old tokens may share one). Raises ValueError for a number that is
    both an id and another token's label."""
    name = name.strip()
    if name.startswith("#") and name[1:].isdecimal():
        found = session.get(ModerationToken, int(name[1:]))
        return [found] if found is not None else []
    labelled = list(
        session.scalars(
            select(ModerationToken)
            .where(ModerationToken.label == name)
            .order_by(ModerationToken.id)
        )
    )
    if name.isdecimal() and len(name) <= 10:
        found = session.get(ModerationToken, int(name))
        if found is not None:
            if any(token.id != found.id for token in labelled):
                raise ValueError(
                    f"{name} is the id of token #{found.id} and the label of another: "
                    f"say #{name} for the id, or revoke the others by their ids "
                    "(`commentd token list`)."
                )
            return [found]
    return labelled


def revoke(session: Session, token_ids: list[int]) -> int:
    """Delete these tokens (not committed): they, and every session opened with them, stop
    working on the next request. How many there were."""
    if not token_ids:
        return 0
    done = session.execute(delete(ModerationToken).where(ModerationToken.id.in_(token_ids)))
    return int(getattr(done, "rowcount", 0) or 0)


def has_any_token(session: Session) -> bool:
    """Whether `commentd token` ever made a moderation token."""
    return bool(session.scalar(select(exists().where(ModerationToken.id.is_not(None)))))
