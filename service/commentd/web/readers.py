"""What a reader may do with their own comments and data, without an account (API.md, "The
commenter's own comments"): edit or delete a comment from the browser that posted it, ask the
author to review one the spam defences caught, and ask for the data of an address (the link
goes to that address; web/email_pages.py acts on it). Views parse, call comments/, commit,
serialise."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, Response, jsonify, request

from commentd import comments
from commentd.comments.public import public_comment, timestamp
from commentd.comments.validation import (
    normalize_slug,
    optional_token,
    parse_privacy_request,
)
from commentd.web.limits import client_address_key
from commentd.web.public import (
    require_allowed_origin,
    site_rules,
    submitted_fields,
    take_posting_allowance,
)
from commentd.web.services import current
from commentd.web.sessions import get_session

bp = Blueprint("readers", __name__)

MAX_ID = 2147483647  # ids are 32-bit on PostgreSQL: a larger one is no id, not a 500
OWN_COMMENT = f"/api/posts/<slug:slug>/comments/<int(max={MAX_ID}):comment_id>"
REQUEST_TAKEN = (
    "If comments were written with this address here, a link has been sent to it. "
    "Open it within a day to go on."
)


def _fields() -> Mapping[str, object]:
    """The body's fields (JSON or form), or none for a DELETE or POST without a body."""
    if request.method in ("DELETE", "POST") and not request.content_length and not request.mimetype:
        return {}
    return submitted_fields()


def _commenter_token(fields: Mapping[str, object]) -> str | None:
    """The reader's commenter_token: `Authorization: Commenter <token>` or the body's field."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "commenter" and token.strip():
        return optional_token(token.strip())
    return optional_token(fields.get("commenter_token"))


@bp.patch(OWN_COMMENT)
def edit_own_comment(slug: str, comment_id: int) -> Response:
    """The writer edits their comment within COMMENTD_EDIT_MINUTES: 200 with its public shape
    plus `status` (an edit the rules hold waits again) and `editable_until`. 403 not_yours /
    edit_window_closed, 422 for the body, 429, as posting."""
    require_allowed_origin()
    slug = normalize_slug(slug)
    services = current()
    settings = services.settings
    fields = _fields()
    session = get_session(write=True)
    comment = comments.edit_own(
        session,
        slug,
        comment_id,
        fields,
        site_rules(session),
        comments.Sender(client_network=client_address_key(), secret=services.secret_key),
        commenter_token=_commenter_token(fields),
        edit_minutes=settings.edit_minutes,
        events=services.notifier,
        admit=lambda submission: take_posting_allowance(slug, submission, True),
        check_deliverability=settings.check_email_deliverability,
    )
    session.commit()
    until = comments.editable_until(comment, settings.edit_minutes)
    return jsonify(
        public_comment(comment, settings.public_url, comment.parent_id)
        | {
            "status": comment.status.value,
            "editable_until": timestamp(until) if until else None,
        }
    )


@bp.delete(OWN_COMMENT)
def delete_own_comment(slug: str, comment_id: int) -> tuple[str, int]:
    """The writer deletes their comment within COMMENTD_EDIT_MINUTES, as the author's delete
    does (its replies stay): 204. 403 not_yours / edit_window_closed."""
    require_allowed_origin()
    slug = normalize_slug(slug)
    services = current()
    fields = _fields()
    session = get_session(write=True)
    comments.delete_own(
        session,
        slug,
        comment_id,
        commenter_token=_commenter_token(fields),
        edit_minutes=services.settings.edit_minutes,
        events=services.notifier,
    )
    session.commit()
    return "", 204


@bp.post(OWN_COMMENT + "/review")
def request_review(slug: str, comment_id: int) -> Response:
    """The writer of a comment the spam defences caught asks the author to review it (token in
    the body or in `Authorization: Commenter <token>`): 200 `{"id", "status": "pending"}`, the
    comment waits in the queue and the author is told. 403 not_yours (as PATCH), 409
    review_already_requested / review_unavailable, 429 beyond COMMENTD_REVIEW_RATE_LIMIT
    (every request counts, so guessing costs as much as asking)."""
    require_allowed_origin()
    slug = normalize_slug(slug)
    services = current()
    fields = _fields()
    services.rate_limits.take((services.rate_limits.review,))
    session = get_session(write=True)
    comment = comments.request_review(
        session, slug, comment_id, _commenter_token(fields), events=services.notifier
    )
    session.commit()
    response = jsonify(id=comment.id, status=comment.status.value)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/privacy/requests")
def request_own_data() -> tuple[Response, int]:
    """A reader asks for the data of an address (export or erase): always the same 202, and
    the same work whether or not the address ever commented; the link goes to the address.
    422 for a field, 429 beyond the client's limit (the address's limit answers alike)."""
    require_allowed_origin()
    privacy_request = parse_privacy_request(submitted_fields())
    services = current()
    if services.rate_limits.take_privacy(privacy_request.email_key):
        session = get_session(write=True)
        comments.ask(session, privacy_request, events=services.notifier)
        session.commit()
    response = jsonify(status="accepted", message=REQUEST_TAKEN)
    response.headers["Cache-Control"] = "no-store"
    return response, 202
