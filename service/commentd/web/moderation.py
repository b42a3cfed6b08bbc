"""Moderation endpoints of API.md, behind a bearer token: the author's queue, the site's rules,
closing posts, and the outbox (what waits to be sent, what keeps failing)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from commentd import comments
from commentd.comments import authoring, history, posts, search
from commentd.comments.public import moderation_comment, timestamp
from commentd.comments.validation import (
    check_title,
    normalize_slug,
    parse_author_changes,
)
from commentd.errors import ApiError, BadRequest, NotFound, TooMany, ValidationFailed
from commentd.models import Comment, CommentStatus, Post, utcnow
from commentd.notify import outbox
from commentd.spam import rules
from commentd.web.auth import keep_private, moderator_label, require_moderator
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
# The actions of the single endpoints, by the name the bulk endpoint takes: a status, or None
# to erase.
ACTIONS: dict[str, CommentStatus | None] = {
    "approve": CommentStatus.APPROVED,
    "reject": CommentStatus.REJECTED,
    "spam": CommentStatus.SPAM,
    "not-spam": CommentStatus.APPROVED,
    "delete": None,
}
MAX_BULK_IDS = 500
MAX_BULK_MATCH = 5000
MAX_STATS_DAYS = 365
DEFAULT_STATS_DAYS = 30


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


def _limit_arg() -> int:
    raw = request.args.get("limit", str(DEFAULT_PAGE))
    if not LIMIT.fullmatch(raw) or int(raw) > MAX_PAGE:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE}.")
    return int(raw)


def moderation_items(session: Session, page: Sequence[tuple[Comment, str]]) -> list[dict[str, Any]]:
    """ModerationComments of (comment, slug) pairs, each with its post's title and its
    parent's context: two queries for the whole page."""
    post_ids = {comment.post_id for comment, _ in page}
    parent_ids = {comment.parent_id for comment, _ in page if comment.parent_id is not None}
    titles: dict[int, str | None] = {}
    if post_ids:
        rows = session.execute(select(Post.id, Post.title).where(Post.id.in_(post_ids)))
        titles = {row.id: row.title for row in rows}
    parents: dict[int, Comment] = {}
    if parent_ids:
        parents = {
            parent.id: parent
            for parent in session.scalars(select(Comment).where(Comment.id.in_(parent_ids)))
        }
    public_url = current().settings.public_url
    return [
        moderation_comment(
            comment,
            slug,
            public_url,
            post_title=titles.get(comment.post_id),
            parent=parents.get(comment.parent_id) if comment.parent_id is not None else None,
        )
        for comment, slug in page
    ]


def _one(comment: Comment, slug: str) -> Response:
    return jsonify(moderation_items(get_session(write=False), [(comment, slug)])[0])


def _committed(session: Session, comment: Comment, slug: str) -> Response:
    """Commit a writing view's change and answer the comment as it is now: its context is
    read before the commit, so no new transaction (on SQLite: the write lock) begins after."""
    answer = moderation_items(session, [(comment, slug)])[0]
    session.commit()
    return jsonify(answer)


@bp.get("/comments")
def list_queue() -> Response:
    """One page of the comments that match the filters (search.parse_filters: q, slug, email,
    reason, links, first, edited, status — pending unless given, `all` for any), newest
    first; `next_cursor` continues it."""
    filters, limit = search.parse_filters(request.args), _limit_arg()
    cursor = request.args.get("cursor")
    session = get_session(write=False)
    page, next_before = search.search(
        session, filters, limit=limit, before_id=decode_cursor(cursor) if cursor else None
    )
    return jsonify(
        comments=moderation_items(get_session(write=False), page),
        next_cursor=encode_cursor(next_before) if next_before is not None else None,
    )


@bp.get("/counts")
def count_queue() -> Response:
    """How many comments each status holds (the queue's tabs); with filters (as the list
    takes them, status aside), how many of those that match."""
    filters = search.parse_filters(request.args, default_status=None)
    return jsonify(search.count_matching(get_session(write=False), filters))


@bp.get(f"/comments/{COMMENT_ID}")
def show_comment(comment_id: int) -> Response:
    """One comment as the moderation API shows it (404 if there is none)."""
    return _one(*comments.get_comment(get_session(write=False), comment_id))


def _apply(session: Session, comment_id: int, action: str) -> tuple[Comment, str] | None:
    """What the single endpoints and the bulk one do to one comment: `action` is a key of
    ACTIONS, recorded in its history as this request's moderator's. The comment and its slug
    after moderation, None after a delete; raises NotFound."""
    status = ACTIONS[action]
    if status is None:
        comments.erase(session, comment_id, events=current().notifier)
        return None
    return comments.moderate(
        session,
        comment_id,
        status,
        events=current().notifier,
        actor=moderator_label(),
        action="not_spam" if action == "not-spam" else None,
    )


def _moderate(comment_id: int, action: str) -> Response:
    session = get_session(write=True)
    done = _apply(session, comment_id, action)
    assert done is not None  # only "delete" answers nothing
    return _committed(session, *done)


@bp.post(f"/comments/{COMMENT_ID}/approve")
def approve_comment(comment_id: int) -> Response:
    """Publish a comment (its author and repliers are told, as the site's settings say)."""
    return _moderate(comment_id, "approve")


@bp.post(f"/comments/{COMMENT_ID}/reject")
def reject_comment(comment_id: int) -> Response:
    """Refuse a comment; it leaves the public list if it was there."""
    return _moderate(comment_id, "reject")


@bp.post(f"/comments/{COMMENT_ID}/spam")
def spam_comment(comment_id: int) -> Response:
    """File a comment as spam; the learned filter learns from it."""
    return _moderate(comment_id, "spam")


@bp.post(f"/comments/{COMMENT_ID}/not-spam")
def not_spam_comment(comment_id: int) -> Response:
    """Restore a comment the defences caught: approved, and the filter learns it was ham."""
    return _moderate(comment_id, "not-spam")


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
    """Close a post to new comments (403 comments_closed) or open it again, and/or set its
    title (`{"closed"?: bool, "title"?: str|null}`, at least one; 422 otherwise)."""
    slug = normalize_slug(slug)
    data = _json_body()
    if not isinstance(data, dict) or not ({"closed", "title"} & set(data)):
        raise ValidationFailed(
            "Say whether the post is closed, or give its title.",
            fields={"closed": "must be true or false"},
        )
    closed = data.get("closed")
    if "closed" in data and not isinstance(closed, bool):
        raise ValidationFailed(
            "Say whether the post is closed.", fields={"closed": "must be true or false"}
        )
    title = check_title(data["title"]) if "title" in data else None
    session = get_session(write=True)
    if isinstance(closed, bool):
        post = comments.set_closed(session, slug, closed)
    if "title" in data:
        post = posts.set_title(session, slug, title)
    session.commit()
    return jsonify(slug=post.slug, closed=post.closed, count=post.approved_count, title=post.title)


# --- The author's console: reply, edit, pin, history, posts ----------------------------------


def _author() -> authoring.Author:
    services = current()
    settings = services.settings
    return authoring.Author(
        name=settings.author_name, email=settings.notify_email or "", secret=services.secret_key
    )


@bp.post(f"/comments/{COMMENT_ID}/reply")
def reply_to_comment(comment_id: int) -> tuple[Response, int]:
    """The author replies (`{"body", "approve_parent"?: true}`): published at once, marked
    is_owner; a waiting parent is approved first unless approve_parent is false. 201 with the
    reply; 404 unknown parent; 409 parent_not_public; 422 for the body."""
    data = _json_body()
    if not isinstance(data, dict):
        raise ValidationFailed("Send the reply's body.", fields={"body": "is required"})
    approve_parent = data.get("approve_parent", True)
    if not isinstance(approve_parent, bool):
        raise ValidationFailed(
            "approve_parent must be true or false.",
            fields={"approve_parent": "must be true or false"},
        )
    if "body" not in data:
        raise ValidationFailed("Send the reply's body.", fields={"body": "is required"})
    changes = parse_author_changes({"body": data["body"]})
    services = current()
    session = get_session(write=True)
    reply, slug = authoring.reply_as_author(
        session,
        comment_id,
        changes,
        _author(),
        approve_parent=approve_parent,
        actor=moderator_label(),
        events=services.notifier,
    )
    return _committed(session, reply, slug), 201


@bp.patch(f"/comments/{COMMENT_ID}")
def edit_comment(comment_id: int) -> Response:
    """The author edits a comment's body, name or website (at least one; 422 with fields
    otherwise); its status stays. 404 for an unknown id."""
    changes = parse_author_changes(_json_body())
    services = current()
    session = get_session(write=True)
    comment, slug = authoring.edit_as_author(
        session,
        comment_id,
        changes,
        secret=services.secret_key,
        actor=moderator_label(),
        events=services.notifier,
    )
    return _committed(session, comment, slug)


def _pin(comment_id: int, pinned: bool) -> Response:
    session = get_session(write=True)
    comment, slug = authoring.set_pinned(session, comment_id, pinned, actor=moderator_label())
    return _committed(session, comment, slug)


@bp.post(f"/comments/{COMMENT_ID}/pin")
def pin_comment(comment_id: int) -> Response:
    """Pin a top-level comment to the top of its post (422 not_top_level for a reply)."""
    return _pin(comment_id, True)


@bp.post(f"/comments/{COMMENT_ID}/unpin")
def unpin_comment(comment_id: int) -> Response:
    """Take a comment's pin away (it shows in its place again)."""
    return _pin(comment_id, False)


@bp.get(f"/comments/{COMMENT_ID}/history")
def comment_history(comment_id: int) -> Response:
    """Every decision on a comment, oldest first: {"events": [{"at", "action", "actor", "from",
    "to", "reasons", "score", "detail"}]}; 404 for an unknown id."""
    session = get_session(write=False)
    comments.get_comment(session, comment_id)
    found = history.events(session, comment_id)
    return jsonify(events=[event | {"at": timestamp(event["at"])} for event in found])


MAX_QUERY_CHARS = 200
POST_CURSOR = re.compile(r"posts:([0-9]{1,20}):([1-9][0-9]{0,9})")


def encode_post_cursor(after: tuple[datetime, int]) -> str:
    """The opaque `next_cursor` of the posts list: the last post's activity (microseconds
    since 1970) and id."""
    at, post_id = after
    micros = round(at.timestamp() * 1_000_000)
    return base64.urlsafe_b64encode(f"posts:{micros}:{post_id}".encode()).decode().rstrip("=")


def decode_post_cursor(cursor: str) -> tuple[datetime, int]:
    """The (activity, id) a posts `next_cursor` continues after; 400 for any other text."""
    found = None
    if len(cursor) <= MAX_CURSOR_CHARS:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
            found = POST_CURSOR.fullmatch(raw)
        except (binascii.Error, UnicodeError, ValueError):
            pass
    if found is None or int(found[2]) > MAX_ID:
        raise BadRequest("The cursor is not one this service handed out.")
    try:
        at = datetime.fromtimestamp(int(found[1]) / 1_000_000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise BadRequest("The cursor is not one this service handed out.") from None
    return at, int(found[2])


@bp.get("/posts")
def list_posts() -> Response:
    """Posts, newest activity first, with their comments per status: {"posts": [{"slug",
    "title", "closed", "counts": {"pending", "approved", "spam", "rejected"},
    "last_comment_at"}], "next_cursor"}; `q` (≤ 200 characters) matches slug or title."""
    query = search.search_text(request.args.get("q", ""), "q").strip()
    if len(query) > MAX_QUERY_CHARS:
        raise BadRequest(f"q must be at most {MAX_QUERY_CHARS} characters.")
    limit = _limit_arg()
    cursor = request.args.get("cursor")
    page, after = posts.list_posts(
        get_session(write=False),
        query=query or None,
        limit=limit,
        after=decode_post_cursor(cursor) if cursor else None,
    )
    return jsonify(
        posts=[
            {
                "slug": post.slug,
                "title": post.title,
                "closed": post.closed,
                "counts": post.counts,
                "last_comment_at": timestamp(post.last_comment_at)
                if post.last_comment_at
                else None,
            }
            for post in page
        ],
        next_cursor=encode_post_cursor(after) if after is not None else None,
    )


@bp.post("/posts/<slug:slug>/move")
def move_post(slug: str) -> Response:
    """A post's URL changed: `{"to": "<slug>"}` moves its comments there (merged with the
    target's own, if any). 200 {"from", "to", "moved", "merged", "title_taken", "title"}
    (`title_taken`: the target had no title and took the source's; `title`: the post's title
    now, or null); 404 post_not_found; 422 for the same slug or one that is no slug."""
    source = normalize_slug(slug)
    data = _json_body()
    raw = data.get("to") if isinstance(data, dict) else None
    if not isinstance(raw, str):
        raise ValidationFailed("Say where the post moved.", fields={"to": "must be a slug"})
    try:
        target = normalize_slug(raw)
    except ApiError as error:
        raise ValidationFailed(error.message, fields={"to": error.message}) from None
    session = get_session(write=True)
    moved = posts.move_post(session, source, target, actor=moderator_label())
    session.commit()
    return jsonify(
        **{"from": source, "to": target, "moved": moved.moved, "merged": moved.merged},
        title_taken=moved.title_taken,
        title=moved.title,
    )


@bp.delete(f"/comments/{COMMENT_ID}")
def delete_comment(comment_id: int) -> tuple[str, int]:
    """Gone for good, personal data included; replies move up to its parent."""
    session = get_session(write=True)
    _apply(session, comment_id, "delete")
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


def _bulk_ids(raw: object) -> list[int]:
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed(
            "Name the comments to act on.", fields={"ids": "must be a list of comment ids"}
        )
    if len(raw) > MAX_BULK_IDS:
        raise TooMany(f"At most {MAX_BULK_IDS} ids at once.")
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ID for i in raw):
        raise ValidationFailed(
            "Comment ids are whole numbers.", fields={"ids": f"each must be from 1 to {MAX_ID}"}
        )
    return list(dict.fromkeys(raw))  # each once, in the order given


@bp.post("/comments/bulk")
def bulk_action() -> Response:
    """One action on many comments, each through the single endpoint's operation (notices,
    webhooks, learning): `{"action", "ids": [...]}` (at most 500) or `{"action", "match":
    {filters}}` (at most 5,000 matching, else 422 too_many; a delete's match must name its
    status, else 422 validation). All or nothing: one transaction.
    Answers `{"done": [ids], "missing": [ids that are no comment]}`."""
    data = _json_body()
    if not isinstance(data, dict):
        raise BadRequest("Send a JSON object (Content-Type: application/json).")
    action = data.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise ValidationFailed(
            "Say what to do.", fields={"action": f"must be one of {', '.join(ACTIONS)}"}
        )
    if ("ids" in data) == ("match" in data):
        raise ValidationFailed(
            "Name the comments by ids or by match, one of the two.",
            fields={"ids": "give ids or match", "match": "give ids or match"},
        )
    session = get_session(write=True)
    if "ids" in data:
        ids = _bulk_ids(data["ids"])
    else:
        match = data["match"]
        if not isinstance(match, dict):
            raise ValidationFailed(
                "match holds the filters.", fields={"match": "must be an object of filters"}
            )
        filters = search.parse_filters(match, strict=True)
        if action == "delete" and "status" not in match:
            # The default status (pending) is the queue's: a delete names what it erases.
            raise ValidationFailed(
                "A delete by match names the status it deletes from (status).",
                fields={"match": "name the status to delete from"},
            )
        ids = search.matching_ids(session, filters, at_most=MAX_BULK_MATCH)
    found: set[int] = set()
    # In the order of their ids, as a post move locks a post's comments (comments.posts): in
    # the order given, a bulk holding a later comment and waiting for an earlier one that a
    # move held, while the move waited for the later one, deadlocked (a 503 for one of them).
    for comment_id in sorted(ids):
        try:
            _apply(session, comment_id, action)
        except NotFound:
            continue
        found.add(comment_id)
    session.commit()
    return jsonify(done=[i for i in ids if i in found], missing=[i for i in ids if i not in found])


def _days_arg() -> int:
    raw = request.args.get("days", str(DEFAULT_STATS_DAYS))
    if not LIMIT.fullmatch(raw) or int(raw) > MAX_STATS_DAYS:
        raise BadRequest(f"days must be a whole number from 1 to {MAX_STATS_DAYS}.")
    return int(raw)


@bp.get("/stats")
def show_stats() -> Response:
    """The glance: comments received and spam caught per UTC day (`days`, 1-365, default 30;
    every day present, oldest first) and the outbox's counts per state."""
    days = _days_arg()
    session = get_session(write=False)
    return jsonify(
        days=search.daily_counts(session, days, utcnow().date()),
        outbox=outbox.summary(session, limit=0)["counts"],
    )
