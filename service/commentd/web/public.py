"""Public endpoints of API.md: what blog pages and build scripts call, cross-origin."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    jsonify,
    render_template,
    request,
)
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from werkzeug.http import parse_etags, quote_etag

from commentd import comments
from commentd.comments.public import public_comment, timestamp
from commentd.comments.rendering import identicon_svg
from commentd.comments.validation import (
    CommentSubmission,
    form_fields,
    json_text,
    normalize_slug,
    parse_submission,
)
from commentd.db import check_same_file
from commentd.errors import (
    BadRequest,
    NotFound,
    OriginNotAllowed,
    Unauthorized,
    UnsupportedMediaType,
)
from commentd.models import Comment
from commentd.publishing import feeds
from commentd.spam import proof, traps
from commentd.spam.screening import SiteRules, current_site_rules
from commentd.web import no_script
from commentd.web.cors import is_allowed_origin
from commentd.web.errors import (
    DATABASE_DOWN_CODE,
    DATABASE_DOWN_MESSAGE,
    is_unavailable,
    unexpected,
)
from commentd.web.limits import client_address_key
from commentd.web.page_cache import PUBLIC_LIST_CACHE
from commentd.web.services import current
from commentd.web.sessions import get_session, grouped_write
from commentd.web.widgets import catalogue_response, widget_response

bp = Blueprint("public", __name__)

MAX_COUNT_SLUGS = 100
AVATAR_KEY = re.compile(r"[0-9a-f]{1,64}")


def site_rules(session: Session) -> SiteRules:
    """The environment's rules with the author's stored changes (read in `session` when they
    changed), and the learning filter."""
    services = current()
    return current_site_rules(session, services.site_rules, services.spam_filter)


def take_posting_allowance(slug: str, submission: CommentSubmission, proven: bool) -> None:
    """One hit on each posting limit, in the documented order (extensions.RateLimits; 429
    with Retry-After at the first that is full): called by comments.submit once nothing else
    can refuse the comment, so only comments that will be stored count."""
    # Comments proven to come from the address's owner (her commenter_token) count apart:
    # typing her address can use up the unproven allowance, never hers.
    owner = "proven" if proven else "typed"
    current().rate_limits.take_posting(slug, f"{owner}\0{submission.email_key}")


def submitted_fields() -> Mapping[str, object]:
    """The POST body as fields: JSON object or HTML form (API.md), else 400 or 415.

    Both are read as UTF-8 from the body's bytes: any byte that is not (raw or percent-escaped)
    is a 400 naming where, never text kept as its escapes nor a field read as missing.
    """
    if request.mimetype == "application/json":
        text = json_text(request.get_data(cache=False))
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise BadRequest("The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise BadRequest("The body must be a JSON object of fields.")
        return data
    if request.mimetype == "application/x-www-form-urlencoded":
        return form_fields(request.get_data(cache=False))
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


@bp.get("/api/posts/<slug:slug>/comments")
def list_comments(slug: str) -> Response:
    """A post's approved comments (API.md), from the page cache: 200 with the JSON list (an
    unknown post has none), or 304 when If-None-Match names its current ETag. 400 for a slug
    that is no slug; 503 when the database is down.

    The PublicReads accelerator (fast_reads.py) usually answers this request before Flask does,
    with the same bytes.
    """
    answer = current().page_cache.answer(
        normalize_slug(slug),
        request.headers.get("If-None-Match"),
    )
    return Response(answer.body, answer.status, answer.headers)


@bp.get("/api/posts/<slug:slug>/comments.html")
def thread_fragment(slug: str) -> Response:
    """A post's approved comments as the HTML fragment of `commentd export static` (API.md;
    docs/no-script.md), in the language of `?lang=` (else COMMENTD_SITE_LANGUAGE): cached,
    ETag and 304, CORS for any origin, exactly as the JSON list. 400 for a slug that is no
    slug; 503 when the database is down."""
    variant, header = no_script.fragment_read(current().settings, request.args.get("lang"))
    answer = current().page_cache.answer(
        normalize_slug(slug),
        request.headers.get("If-None-Match"),
        variant,
    )
    return Response(answer.body, answer.status, [*answer.headers, header])


def store_comment(slug: str, submission: CommentSubmission) -> comments.Submitted:
    """Store a reader's checked comment on `slug` (canonical) and commit: what every POST of a
    comment does once its fields passed, whatever answer it then gets. Raises PostClosed (403),
    ValidationFailed (422, a parent that is not public) or RateLimited (429)."""
    services = current()
    with grouped_write() as session:  # returns once stored (one COMMIT for a group of posts)
        submitted = comments.submit(
            session,
            slug,
            submission,
            site_rules(session),
            comments.Sender(client_network=client_address_key(), secret=services.secret_key),
            events=services.notifier,  # enqueues notices in the same transaction
            admit=lambda proven: take_posting_allowance(slug, submission, proven),
        )
    services.metrics.comment_submitted(submitted.comment.status.value)
    return submitted


@bp.post("/api/posts/<slug:slug>/comments")
def create_comment(slug: str) -> tuple[Response, int] | Response:
    """Take a reader's comment; it waits for moderation unless the site's rules approve it.

    Refusals come in this order, and only a comment that is stored uses up any allowance:
    403 origin, 400/415/422 fields, 403 closed post or 422 parent, 429 limits. A plain HTML
    form's post (no_script.wants_html) gets pages and a 303 instead of JSON (no_script.py).
    """
    if no_script.wants_html():
        return no_script.answer_form_post(slug, store_comment)
    require_allowed_origin()
    slug = normalize_slug(slug)
    settings = current().settings
    submission = parse_submission(
        submitted_fields(), check_deliverability=settings.check_email_deliverability
    )
    submitted = store_comment(slug, submission)
    comment = submitted.comment
    return jsonify(
        id=comment.id,
        status=comment.status.value,
        commenter_token=submitted.commenter_token,
        # Beyond API.md: until when its writer may edit or delete it (null: editing is off).
        editable_until=editable_until_text(comment, settings.edit_minutes),
        # Beyond API.md: the comment as the public will see it, for the reader's own view.
        comment=public_comment(comment, settings.public_url, comment.parent_id),
    ), 201


def editable_until_text(comment: Comment, edit_minutes: int) -> str | None:
    """comments.editable_until in API.md's time format, or None when editing is off."""
    until = comments.editable_until(comment, edit_minutes)
    return timestamp(until) if until else None


MAX_OWN_IDS = 50
COMMENT_ID = re.compile(r"[1-9][0-9]{0,9}")
MAX_COMMENT_ID = 2**31 - 1  # the id column is a 32-bit integer on PostgreSQL


def commenter_token() -> str:
    """The `Authorization: Commenter <token>` of the request (API.md), else 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "commenter" or not token.strip():
        raise Unauthorized(
            "Send the commenter_token of your comments as Authorization: Commenter <token>."
        )
    return token.strip()


def asked_comment_ids() -> list[int]:
    """The `id` query parameters: 1 to MAX_OWN_IDS comment ids, else 400."""
    raw = request.args.getlist("id")
    if not raw:
        raise BadRequest("Name your comments: ?id=<comment id>, once for each.")
    if len(raw) > MAX_OWN_IDS:
        raise BadRequest(f"Ask about at most {MAX_OWN_IDS} comments at once.")
    ids = [int(value) for value in raw if COMMENT_ID.fullmatch(value)]
    if len(ids) != len(raw) or max(ids) > MAX_COMMENT_ID:
        raise BadRequest("A comment id is a whole number from 1 to 2147483647.")
    return ids


@bp.get("/api/posts/<slug:slug>/comments/mine")
def own_comments(slug: str) -> Response:
    """Which of the asker's own comments on a post still wait or are published (README).

    Reads only. The reader's browser keeps their waiting comments; this tells it which to stop
    showing as "Awaiting moderation". Only the commenter_token that posted them gets an answer.
    """
    token = commenter_token()
    ids = asked_comment_ids()
    states = comments.own_comment_states(get_session(write=False), normalize_slug(slug), token, ids)
    if states is None:
        raise Unauthorized("That commenter token is not known here.")
    response = jsonify(
        comments=[{"id": id_, "status": status.value} for id_, status in sorted(states.items())]
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/api/form-token")
def issue_form_token() -> Response:
    """A signed form token that a comment must carry back (spam/traps.py), valid for
    FORM_TOKEN_LIFETIME seconds, and (beyond API.md) a proof-of-work challenge to solve and
    send back as `altcha` (spam/proof.py; null when COMMENTD_POW_MAX_NUMBER is 0); never
    cached. Stores nothing: both are signed, not kept."""
    services = current()
    max_number = services.settings.pow_max_number
    response = jsonify(
        form_token=traps.issue(services.secret_key),
        expires_in=traps.FORM_TOKEN_LIFETIME,
        pow=proof.issue(services.secret_key, max_number) if max_number else None,
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
    counts = current().page_cache.counts(sorted(set(normalized.values())))
    response = jsonify({raw: counts[slug] for raw, slug in normalized.items()})
    response.headers["Cache-Control"] = PUBLIC_LIST_CACHE
    return response


# Part of every feed's ETag besides the post's version: what else its bytes depend on.
FEED_FORMAT = "1"


def _feed_tag() -> str:
    settings = current().settings
    seed = f"{FEED_FORMAT}\0{feeds.FEED_ENTRIES}\0{settings.post_url or ''}\0{settings.public_url}"
    return hashlib.sha256(seed.encode()).hexdigest()[:8]


def _feed_answer(etag: str, body: Callable[[], bytes]) -> Response:
    """An Atom answer cached as the public JSON read is: 304 when If-None-Match names
    `etag` (nothing built), else 200 with `body()`. HEAD gets the headers alone (Flask)."""
    headers = {"ETag": quote_etag(etag), "Cache-Control": PUBLIC_LIST_CACHE}
    asked = request.headers.get("If-None-Match")
    if asked and parse_etags(asked).contains(etag):
        return Response(status=304, headers=headers)
    return Response(body(), 200, headers, content_type=feeds.CONTENT_TYPE)


@bp.get("/api/posts/<slug:slug>/feed.atom")
def post_feed(slug: str) -> Response:
    """Atom 1.0 feed of a post's newest approved comments (publishing/feeds.py); an unknown
    post's feed is empty. ETag from the post's version, so a 304 costs one indexed lookup."""
    slug = normalize_slug(slug)
    services = current()
    post_id, version = services.page_cache.current_version(slug)
    settings = services.settings
    return _feed_answer(
        f"atom.{services.page_cache.etag(version)}.{_feed_tag()}",
        lambda: feeds.post_feed(
            get_session(write=False),
            slug,
            post_id,
            public_url=settings.public_url,
            post_url=settings.post_url,
        ),
    )


@bp.get("/api/feed.atom")
def site_feed() -> Response:
    """Atom 1.0 feed of the whole site's newest approved comments; its ETag is the body's
    hash (one query of at most FEED_ENTRIES rows makes it)."""
    settings = current().settings
    body = feeds.site_feed(
        get_session(write=False), public_url=settings.public_url, post_url=settings.post_url
    )
    digest = hashlib.sha256(body).hexdigest()[:20]
    return _feed_answer(f"atom-site.{digest}", lambda: body)


@bp.get("/api/avatars/<key>.svg")
def avatar(key: str) -> Response:
    """An identicon drawn from a keyed hash: the same for a commenter, meaningless to others."""
    if not AVATAR_KEY.fullmatch(key):
        raise NotFound("There is no such avatar.")
    response = Response(identicon_svg(key), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@bp.get("/healthz")
def health() -> Response | tuple[Response, int]:
    """200 `{"status": "ok"}` when the database answers, else 503 `{"status": "unavailable",
    "error": code, "message": …}` with Retry-After, the code as any request's would be: storage_full
    or overloaded when the machine ran short (no open files: SQLite's "unable to open database
    file"), else database_unavailable (down, damaged, or any other failure of the check)."""
    try:
        # A page of a real table: `SELECT 1` reads no page on a connection that already
        # holds the schema, and said ok about half the time on a file overwritten in place.
        connection = get_session(write=False).connection()
        connection.execute(text("SELECT 1 FROM posts LIMIT 1"))
        # Unhealthy too while the SQLite file was replaced under it: writes are refused until
        # a restart, which an orchestrator's health check then brings.
        check_same_file(connection)
    except DBAPIError as error:
        if is_unavailable(error):
            _status, code, message, headers = unexpected(error)
        else:
            code, message, headers = DATABASE_DOWN_CODE, DATABASE_DOWN_MESSAGE, {"Retry-After": "5"}
        response = jsonify(status="unavailable", error=code, message=message)
        response.headers.update(headers)
        return response, 503
    return jsonify(status="ok")


@bp.get("/favicon.ico")
def favicon() -> Response:
    """204 and no icon: browsers ask every origin for one (the hosted /moderate page, a JSON
    answer opened in a tab), and a 404 for each was noise in the access log. The service has no
    mark of its own to show (embedded, the blog's icon is the page's), so nothing to draw,
    keep or serve; the answer is cached a week, so a browser does not ask on every page."""
    response = Response(status=204)
    response.headers["Cache-Control"] = "public, max-age=604800"
    return response


@bp.get("/embed.js")
def embed_script() -> Response:
    """The comment widget: static/src/common.js, static/embed.js and its styles, one script."""
    return widget_response("embed.js")


@bp.get("/api/i18n/<language>.json")
def widget_words(language: str) -> Response:
    """One language's words for embed.js (docs/languages.md): 200 JSON object of key → text,
    strongly cached; 404 for a name that is not a catalogue's."""
    return catalogue_response(language)


@bp.get("/moderation.js")
def moderation_script() -> Response:
    """The moderation queue widget, joined the same way as embed.js."""
    return widget_response("moderation.js")


def link_origins() -> list[str]:
    """The origins the hosted queue may link a slug to besides its own: the blog's (those
    allowed to post, and COMMENTD_POST_URL's) and the service's public one. A `?post_url=`
    elsewhere is ignored, so a crafted link cannot point the author's slugs at another site."""
    settings = current().settings
    origins = {*settings.allowed_origins, settings.public_url}
    if settings.post_url:
        parts = urlsplit(settings.post_url)
        origins.add(f"{parts.scheme}://{parts.netloc}")
    return sorted(origin.lower() for origin in origins if origin)


@bp.get("/moderate")
def moderation_page() -> Response:
    """The hosted moderation page: the same widget a blog can embed."""
    response = Response(
        render_template(
            "moderate.html",
            post_url=current().settings.post_url,
            link_origins=link_origins(),
        ),
        mimetype="text/html",
    )
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
