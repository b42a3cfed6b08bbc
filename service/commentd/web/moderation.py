"""Moderation endpoints of API.md, behind a bearer token: the author's queue, the site's rules,
closing posts, and the outbox (what waits to be sent, what keeps failing)."""

from __future__ import annotations

import base64
import binascii
import re

from flask import Blueprint, Response, jsonify, request

from commentd import comments
from commentd.comments.public import moderation_comment
from commentd.comments.validation import normalize_slug
from commentd.errors import BadRequest, ValidationFailed
from commentd.models import Comment, CommentStatus
from commentd.notify import outbox
from commentd.spam import rules
from commentd.web.auth import keep_private, require_moderator
from commentd.web.services import current
from commentd.web.sessions import get_session

bp = Blueprint("moderation", __name__, url_prefix="/api/moderation")
bp.before_request(require_moderator)
bp.after_request(keep_private)

MAX_ID = 2147483647  # ids are 32-bit on PostgreSQL: a larger one is no id, not a 500
COMMENT_ID = f"<int(max={MAX_ID}):comment_id>"
MAX_PAGE = 100
DEFAULT_PAGE = 50
# ASCII digits only (str.isdigit() also takes "²" and "٣"), and few enough to mean an id.
CURSOR = re.compile(r"before:([1-9][0-9]{0,9})")
LIMIT = re.compile(r"[1-9][0-9]{0,2}")
MAX_CURSOR_CHARS = 64


def encode_cursor(before_id: int) -> str:
    """The opaque `next_cursor` that continues a page below `before_id`."""
    return base64.urlsafe_b64encode(f"before:{before_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a `next_cursor` continues below; 400 for anything this service did not hand out."""
    found = None
    if len(cursor) <= MAX_CURSOR_CHARS:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
            found = CURSOR.fullmatch(raw)
        except (binascii.Error, UnicodeError, ValueError):
            pass
    if found is None or int(found[1]) > MAX_ID:
        raise BadRequest("The cursor is not one this service handed out.")
    return int(found[1])


def _status_arg() -> CommentStatus:
    raw = request.args.get("status", CommentStatus.PENDING.value)
    try:
        return CommentStatus(raw)
    except ValueError:
        raise BadRequest("status must be pending, approved, rejected or spam.") from None


def _limit_arg() -> int:
    raw = request.args.get("limit", str(DEFAULT_PAGE))
    if not LIMIT.fullmatch(raw) or int(raw) > MAX_PAGE:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE}.")
    return int(raw)


def _one(comment: Comment, slug: str) -> Response:
    return jsonify(moderation_comment(comment, slug, current().settings.public_url))


@bp.get("/comments")
def list_queue() -> Response:
    """One page of comments in a status, newest first; `next_cursor` continues it."""
    status, limit = _status_arg(), _limit_arg()
    cursor = request.args.get("cursor")
    page, next_before = comments.queue(
        get_session(write=False),
        status,
        limit=limit,
        before_id=decode_cursor(cursor) if cursor else None,
    )
    public_url = current().settings.public_url
    return jsonify(
        comments=[moderation_comment(c, slug, public_url) for c, slug in page],
        next_cursor=encode_cursor(next_before) if next_before is not None else None,
    )


@bp.get("/counts")
def count_queue() -> Response:
    """How many comments each status holds (the queue's tabs)."""
    return jsonify(comments.count_by_status(get_session(write=False)))


@bp.get(f"/comments/{COMMENT_ID}")
def show_comment(comment_id: int) -> Response:
    """One comment as the moderation API shows it (404 if there is none)."""
    return _one(*comments.get_comment(get_session(write=False), comment_id))


def _moderate(comment_id: int, status: CommentStatus) -> Response:
    session = get_session(write=True)
    comment, slug = comments.moderate(session, comment_id, status, events=current().notifier)
    session.commit()
    return _one(comment, slug)


@bp.post(f"/comments/{COMMENT_ID}/approve")
def approve_comment(comment_id: int) -> Response:
    """Publish a comment (its author and repliers are told, as the site's settings say)."""
    return _moderate(comment_id, CommentStatus.APPROVED)


@bp.post(f"/comments/{COMMENT_ID}/reject")
def reject_comment(comment_id: int) -> Response:
    """Refuse a comment; it leaves the public list if it was there."""
    return _moderate(comment_id, CommentStatus.REJECTED)


@bp.post(f"/comments/{COMMENT_ID}/spam")
def spam_comment(comment_id: int) -> Response:
    """File a comment as spam; the learned filter learns from it."""
    return _moderate(comment_id, CommentStatus.SPAM)


@bp.post(f"/comments/{COMMENT_ID}/not-spam")
def not_spam_comment(comment_id: int) -> Response:
    """Restore a comment the defences caught: approved, and the filter learns it was ham."""
    return _moderate(comment_id, CommentStatus.APPROVED)


def _json_body() -> object:
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest("Send a JSON object (Content-Type: application/json).")
    return data


def _rules_answer() -> Response:
    overrides = rules.stored_overrides(get_session(write=False))
    return jsonify(
        rules=rules.effective(current().settings, overrides),
        # Rules set here, over the environment's; PUT null for one to return to its default.
        changed=[name for name in rules.RULE_NAMES if name in overrides],
    )


@bp.get("/settings")
def show_settings() -> Response:
    """The rules new comments meet now: the environment's, with the author's changes."""
    return _rules_answer()


@bp.put("/settings")
def change_settings() -> Response:
    """Change some rules (the others stay); every server process applies them at once."""
    session = get_session(write=True)
    settings = current().settings
    rules.save(session, settings, rules.parse_changes(_json_body(), settings))
    session.commit()
    return _rules_answer()


@bp.put("/posts/<slug:slug>")
def change_post(slug: str) -> Response:
    """Close a post to new comments (403 comments_closed), or open it again."""
    slug = normalize_slug(slug)
    data = _json_body()
    closed = data.get("closed") if isinstance(data, dict) else None
    if not isinstance(closed, bool):
        raise ValidationFailed(
            "Say whether the post is closed.", fields={"closed": "must be true or false"}
        )
    session = get_session(write=True)
    post = comments.set_closed(session, slug, closed)
    session.commit()
    return jsonify(slug=post.slug, closed=post.closed, count=post.approved_count)


@bp.delete(f"/comments/{COMMENT_ID}")
def delete_comment(comment_id: int) -> tuple[str, int]:
    """Gone for good, personal data included; replies move up to its parent."""
    session = get_session(write=True)
    comments.erase(session, comment_id, events=current().notifier)
    session.commit()
    return "", 204


@bp.get("/outbox")
def show_outbox() -> Response:
    """Counts per state (pending, sent, skipped, failed) and the events that are failing."""
    return jsonify(outbox.summary(get_session(write=False)))


@bp.post("/outbox/retry")
def retry_outbox() -> Response:
    """Give up-on events a fresh set of attempts (say, after fixing COMMENTD_SMTP_URL)."""
    session = get_session(write=True)
    retried = outbox.retry_failed(session)
    session.commit()
    return jsonify(retried=retried)
