"""Moderation endpoints of API.md: the author's queue, behind a bearer token."""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, Response, jsonify, request

from .. import comments
from ..db import get_session
from ..errors import BadRequest
from ..extensions import auth_failure_limit, current_settings, limiter
from ..models import Comment, CommentStatus
from ..notifications import current_notifier
from .auth import require_moderator
from .serializers import moderation_comment

bp = Blueprint("moderation", __name__, url_prefix="/api/moderation")
bp.before_request(require_moderator)
# Guessing tokens is slow: failed attempts (401) count against the client address.
limiter.limit(auth_failure_limit, deduct_when=lambda response: response.status_code == 401)(bp)

COMMENT_ID = "<int(max=2147483647):comment_id>"
MAX_PAGE = 100
DEFAULT_PAGE = 50


def encode_cursor(before_id: int) -> str:
    return base64.urlsafe_b64encode(f"before:{before_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix == "before" and value.isdigit():
            return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise BadRequest("The cursor is not one this service handed out.")


def _status_arg() -> CommentStatus:
    raw = request.args.get("status", CommentStatus.PENDING.value)
    try:
        return CommentStatus(raw)
    except ValueError:
        raise BadRequest("status must be pending, approved, rejected or spam.") from None


def _limit_arg() -> int:
    raw = request.args.get("limit", str(DEFAULT_PAGE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE}.")
    return int(raw)


def _one(comment: Comment, slug: str) -> Response:
    return jsonify(moderation_comment(comment, slug, current_settings().public_url))


@bp.get("/comments")
def list_queue() -> Response:
    """One page of comments in a status, newest first; `next_cursor` continues it."""
    status, limit = _status_arg(), _limit_arg()
    cursor = request.args.get("cursor")
    page, next_before = comments.queue(
        get_session(), status, limit=limit, before_id=decode_cursor(cursor) if cursor else None
    )
    public_url = current_settings().public_url
    return jsonify(
        comments=[moderation_comment(c, slug, public_url) for c, slug in page],
        next_cursor=encode_cursor(next_before) if next_before is not None else None,
    )


@bp.get("/counts")
def count_queue() -> Response:
    """How many comments each status holds (the queue's tabs)."""
    return jsonify(comments.count_by_status(get_session()))


@bp.get(f"/comments/{COMMENT_ID}")
def show_comment(comment_id: int) -> Response:
    return _one(*comments.get_comment(get_session(), comment_id))


def _moderate(comment_id: int, status: CommentStatus) -> Response:
    session = get_session()
    comment, slug = current_notifier().moderate(session, comment_id, status)
    session.commit()
    return _one(comment, slug)


@bp.post(f"/comments/{COMMENT_ID}/approve")
def approve_comment(comment_id: int) -> Response:
    return _moderate(comment_id, CommentStatus.APPROVED)


@bp.post(f"/comments/{COMMENT_ID}/reject")
def reject_comment(comment_id: int) -> Response:
    return _moderate(comment_id, CommentStatus.REJECTED)


@bp.post(f"/comments/{COMMENT_ID}/spam")
def spam_comment(comment_id: int) -> Response:
    return _moderate(comment_id, CommentStatus.SPAM)


@bp.delete(f"/comments/{COMMENT_ID}")
def delete_comment(comment_id: int) -> tuple[str, int]:
    """Gone for good, personal data included; replies move up to its parent."""
    session = get_session()
    current_notifier().erase(session, comment_id)
    session.commit()
    return "", 204
