"""Public endpoints of API.md: what blog pages and build scripts call, cross-origin."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from flask import Blueprint, Response, current_app, g, jsonify, request, send_from_directory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from .. import comments, formtokens
from ..db import get_session
from ..errors import BadRequest, OriginNotAllowed, UnsupportedMediaType, error_response
from ..extensions import (
    client_address_key,
    current_settings,
    email_limits,
    limiter,
    min_interval_limit,
    post_rate_limit,
    sender_email_key,
    site_rate_limit,
    slug_key,
    slug_rate_limit,
    whole_site_key,
)
from ..feed import PublicFeed
from ..keys import keyed_hash
from ..notifications import current_notifier
from ..rendering import identicon_svg
from ..site_rules import RulesCache, bring_up_to_date
from ..spam_filter import SpamFilter
from ..validation import CommentSubmission, normalize_slug, parse_submission
from .cors import is_allowed_origin
from .serializers import public_comment

bp = Blueprint("public", __name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MAX_COUNT_SLUGS = 100
# A CDN or browser may reuse a list briefly, and serve a stale one while it revalidates.
PUBLIC_LIST_CACHE = "public, max-age=10, stale-while-revalidate=60"
AVATAR_KEY = re.compile(r"[0-9a-f]{1,64}")


def current_feed() -> PublicFeed:
    feed: PublicFeed = current_app.extensions["feed"]
    return feed


def current_secret() -> str:
    secret: str = current_app.extensions["secret_key"]
    return secret


def site_rules() -> comments.SiteRules:
    """The environment's rules with the author's stored changes, and the learning filter."""
    rules: RulesCache = current_app.extensions["site_rules"]
    spam_filter: SpamFilter = current_app.extensions["spam_filter"]
    return comments.SiteRules(
        moderation=current_settings().moderation,
        spam=bring_up_to_date(get_session(), rules, spam_filter),
        spam_filter=spam_filter,
    )


def limit_sender(submission: CommentSubmission) -> None:
    """The limits that need the parsed submission: 429 with Retry-After when one is reached.

    Each counts stored comments only (a refused or invalid post does not use it up).
    """
    # Comments proven to come from the address's owner (her commenter_token) count apart:
    # typing her address can use up the unproven allowance, never hers.
    proven = comments.is_proven(get_session(), submission)
    owner = "proven" if proven else "typed"
    g.sender_email_key = keyed_hash(current_secret(), "sender", f"{owner}\0{submission.email_key}")
    check_sender_limits()


def submitted_fields() -> Mapping[str, object]:
    """The POST body as fields: JSON object or HTML form (API.md), else 400 or 415."""
    if request.mimetype == "application/json":
        try:
            data = json.loads(request.get_data(cache=False))
        except (ValueError, RecursionError):
            raise BadRequest("The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise BadRequest("The body must be a JSON object of fields.")
        return data
    if request.mimetype == "application/x-www-form-urlencoded":
        return request.form.to_dict()
    raise UnsupportedMediaType(
        "Send the comment as application/json or application/x-www-form-urlencoded."
    )


def require_allowed_origin() -> None:
    """A browser says where the page came from; scripts send no Origin and are not refused."""
    origin = request.headers.get("Origin")
    if origin is not None and not is_allowed_origin(origin):
        raise OriginNotAllowed(
            f"Comments cannot be posted from {origin[:100]}; "
            "add it to COMMENTD_ALLOWED_ORIGINS to allow it."
        )


def comment_created(response: Response) -> bool:
    return response.status_code == 201


@limiter.limit(email_limits, key_func=sender_email_key, deduct_when=comment_created)
def check_sender_limits() -> None:
    """Checked when called (429 if reached), counted after a 201: flask-limiter's documented
    limit on a function called within a request. Its `with limiter.limit(...)` form does the
    same but pays a traceback.extract_stack() on every call to name the block."""


# Public reads carry no rate limit, so they skip flask-limiter's hooks (extensions.init_limiter):
# otherwise about a third of the cost of a cached read.
# (A post's comments are answered ahead of Flask altogether: public_reads.py.)
UNLIMITED_ENDPOINTS = frozenset({"public.count_comments", "public.avatar", "public.health"})


def carries_no_limit() -> bool:
    return request.endpoint in UNLIMITED_ENDPOINTS


@bp.post("/api/posts/<slug:slug>/comments")
@limiter.limit(site_rate_limit, key_func=whole_site_key, deduct_when=comment_created)
@limiter.limit(slug_rate_limit, key_func=slug_key, deduct_when=comment_created)
@limiter.limit(post_rate_limit)
@limiter.limit(min_interval_limit, deduct_when=comment_created, scope="interval")
def create_comment(slug: str) -> tuple[Response, int]:
    """Take a reader's comment; it waits for moderation unless the site's rules approve it."""
    require_allowed_origin()
    slug = normalize_slug(slug)
    settings = current_settings()
    submission = parse_submission(
        submitted_fields(), check_deliverability=settings.check_email_deliverability
    )
    limit_sender(submission)
    session = get_session()
    submitted = comments.submit(
        session,
        slug,
        submission,
        site_rules(),
        comments.Sender(client_network=client_address_key(), secret=current_secret()),
    )
    current_notifier().submitted(session, submitted.comment, slug)  # same transaction
    session.commit()
    comment = submitted.comment
    g.submitted_status = comment.status.value  # for metrics.SUBMITTED_STATUS
    return jsonify(
        id=comment.id,
        status=comment.status.value,
        commenter_token=submitted.commenter_token,
        # Beyond API.md: the comment as the public will see it, for the reader's own view.
        comment=public_comment(comment, settings.public_url, comment.parent_id),
    ), 201


@bp.get("/api/form-token")
def issue_form_token() -> Response:
    response = jsonify(
        form_token=formtokens.issue(current_secret()), expires_in=formtokens.FORM_TOKEN_LIFETIME
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/counts")
def count_comments() -> Response:
    """Approved comments per slug, keyed by the slugs as asked (for index pages)."""
    asked = request.args.getlist("slug")
    if len(asked) > MAX_COUNT_SLUGS:
        raise BadRequest(f"Ask for at most {MAX_COUNT_SLUGS} slugs at once.")
    normalized = {raw: normalize_slug(raw) for raw in asked}
    counts = current_feed().counts(sorted(set(normalized.values())))
    response = jsonify({raw: counts[slug] for raw, slug in normalized.items()})
    response.headers["Cache-Control"] = PUBLIC_LIST_CACHE
    return response


@bp.get("/api/avatars/<key>.svg")
def avatar(key: str) -> Response:
    """An identicon drawn from a keyed hash: the same for a commenter, meaningless to others."""
    if not AVATAR_KEY.fullmatch(key):
        return error_response(404, "not_found", "There is no such avatar.")
    response = Response(identicon_svg(key), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@bp.get("/healthz")
def health() -> Response | tuple[Response, int]:
    try:
        get_session().execute(text("SELECT 1"))
    except DBAPIError:
        return jsonify(
            status="unavailable", error="database_unavailable", message="The database is down."
        ), 503
    return jsonify(status="ok")


def _static(filename: str, mimetype: str) -> Response:
    response = send_from_directory(STATIC_DIR, filename, mimetype=mimetype, max_age=300)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/embed.js")
def embed_script() -> Response:
    return _static("embed.js", "text/javascript")


@bp.get("/moderation.js")
def moderation_script() -> Response:
    return _static("moderation.js", "text/javascript")


@bp.get("/moderate")
def moderation_page() -> Response:
    """The hosted moderation page: the same widget a blog can embed."""
    response = _static("moderate.html", "text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
