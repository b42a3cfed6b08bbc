"""The console's token management (/api/moderation/tokens) and the hosted /moderate page's
sign-in (/api/moderation/session): an HttpOnly, SameSite=Strict cookie for the service's own
origin only, with a CSRF header for every unsafe request it lets in (docs/console-sign-in.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, request

from commentd.errors import BadRequest, CrossOrigin, NotFound, Unauthorized
from commentd.models import ModerationToken
from commentd.web import session_cookie
from commentd.web.auth import (
    Moderator,
    add_token,
    count_failure,
    current_moderator,
    identify,
    keep_private,
    list_tokens,
    require_csrf,
    require_moderator,
    revoke,
    same_origin_request,
    session_moderator,
)
from commentd.web.services import current
from commentd.web.sessions import get_session

MAX_ID = 2147483647
MAX_TOKEN_CHARS = 1024  # tokens are 43 characters; COMMENTD_ADMIN_TOKEN is the operator's

bp = Blueprint("tokens", __name__, url_prefix="/api/moderation/tokens")
bp.before_request(require_moderator)
bp.after_request(keep_private)

session_bp = Blueprint("moderation_session", __name__, url_prefix="/api/moderation/session")
session_bp.after_request(keep_private)


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_object() -> dict[str, object]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("Send a JSON object (Content-Type: application/json).")
    return data


def _token_json(token: ModerationToken) -> dict[str, object]:
    return {"id": token.id, "label": token.label, "created_at": _time(token.created_at)}


@bp.get("")
def list_moderation_tokens() -> Response:
    """Every stored token (id, label, created_at, whether this request came in with it) and
    whether COMMENTD_ADMIN_TOKEN is set; the tokens themselves are never shown again."""
    moderator = current_moderator()
    tokens = list_tokens(get_session(write=False))
    return jsonify(
        tokens=[_token_json(t) | {"current": t.id == moderator.token_id} for t in tokens],
        admin_token=bool(current().settings.admin_token),
        current_admin=moderator.token_id is None,
    )


@bp.post("")
def create_moderation_token() -> tuple[Response, int]:
    """A new token with a unique label: 201 with the token, shown this once. 422 for a
    missing or bad label, 409 label_taken, 409 too_many_tokens."""
    label = _json_object().get("label")
    if not isinstance(label, str):
        label = ""  # check_label: "give the token a label"
    session = get_session(write=True)
    row, token = add_token(session, label, label_required=True)
    session.commit()
    return jsonify(_token_json(row) | {"token": token}), 201


@bp.delete(f"/<int(max={MAX_ID}):token_id>")
def revoke_moderation_token(token_id: int) -> Response:
    """Revoke a token: it, and every session opened with it, stop working on the next request
    of every process. 204; 404 token_not_found. Revoking the token this request came in with
    is allowed (it signs this browser out too)."""
    session = get_session(write=True)
    if not revoke(session, [token_id]):
        raise NotFound("There is no token with this id (revoked already?).")
    session.commit()
    response = Response(status=204)
    if current_moderator().token_id == token_id and current_moderator().csrf is not None:
        _clear_cookie(response)
    return response


# --- the hosted page's session ---------------------------------------------------------------


def _secure() -> bool:
    return current().settings.public_url.lower().startswith("https://")


def _session_answer(moderator: Moderator, status: int = 200) -> Response:
    assert moderator.csrf is not None
    return Response(
        jsonify(label=moderator.label, csrf=moderator.csrf).get_data(),
        status,
        mimetype="application/json",
    )


def _clear_cookie(response: Response) -> None:
    response.delete_cookie(
        session_cookie.COOKIE, path="/", secure=_secure(), httponly=True, samesite="Strict"
    )


@session_bp.post("")
def sign_in() -> Response:
    """Open a session for the hosted page with a token: 200 {"label", "csrf"} and the
    HttpOnly cookie. From another origin: 403 cross_origin. A wrong token counts against the
    auth-failure limit (401, then 429)."""
    if not same_origin_request():
        raise CrossOrigin(
            "Sign in on this service's own moderation page (/moderate): its session is never "
            "shared with other origins. Elsewhere, send the token as Authorization: Bearer."
        )
    token = _json_object().get("token")
    services = current()
    secret, admin_token = services.secret_key, services.settings.admin_token
    found: tuple[Moderator, str] | None = None
    if isinstance(token, str) and 0 < len(token) <= MAX_TOKEN_CHARS:
        with services.read_sessions() as session:
            moderator = identify(session, token, admin_token)
            if moderator is not None and moderator.token_id is None and admin_token:
                found = moderator, session_cookie.admin_binding(secret, admin_token)
            elif moderator is not None and moderator.token_id is not None:
                stored = session.get(ModerationToken, moderator.token_id)
                if stored is not None:
                    found = moderator, session_cookie.token_binding(secret, stored.token_hash)
    if found is None:
        raise count_failure("That is not a moderation token this service knows.")
    moderator, binding = found
    value = session_cookie.sign(secret, moderator.token_id, binding)
    claim = session_cookie.read(secret, value, services.settings.moderation_session_seconds)
    assert claim is not None
    csrf = session_cookie.csrf_value(secret, claim.nonce)
    response = _session_answer(Moderator(moderator.token_id, moderator.label, csrf))
    response.set_cookie(
        session_cookie.COOKIE,
        value,
        max_age=services.settings.moderation_session_seconds,
        path="/",
        secure=_secure(),
        httponly=True,
        samesite="Strict",
    )
    return response


@session_bp.get("")
def show_session() -> Response:
    """The signed-in session of this browser: 200 {"label", "csrf"} (a new tab of the hosted
    page signs in with it), 401 without a valid one. Not counted as a failure: a signed-out
    page asks this on every load, and a signed cookie cannot be guessed."""
    moderator = session_moderator()
    if moderator is None:
        raise Unauthorized("Not signed in (or the session ended): sign in with a token.")
    return _session_answer(moderator)


@session_bp.delete("")
def sign_out() -> Response:
    """Sign this browser out: 204 and the cookie cleared. With a valid session the request
    needs its CSRF header (403 csrf_failed), so no other page can sign the author out."""
    moderator = session_moderator()
    if moderator is not None:
        require_csrf(moderator)
    response = Response(status=204)
    _clear_cookie(response)
    return response
