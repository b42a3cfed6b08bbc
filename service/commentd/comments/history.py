"""Each comment's history: every decision on it (who, what, the status before and after, the
spam layers' reasons and score then), recorded where the change is made and read by the
moderation API (`GET /api/moderation/comments/<id>/history`). Erased with its comment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from commentd.models import Comment, CommentHistory, CommentStatus, utcnow

# Who took a decision, besides the moderation tokens (web.auth.moderator_label names those).
READER = "reader"
RULES = "rules"  # the spam layers and the moderation mode, at submission
IMPORT = "import"
EMAIL_LINK = "email link"
ADMIN_TOKEN = "admin token"

ACTIONS = frozenset(
    {
        "submitted",
        "imported",
        "approved",
        "rejected",
        "spam",
        "not_spam",
        "edited",
        "pinned",
        "unpinned",
        "moved",
        "replied",
        "review_requested",
    }
)
ARRIVALS = frozenset({"submitted", "imported"})  # the first event: no status before it
ACTOR_MAX, DETAIL_MAX = 120, 600
_HISTORY = cast(Table, CommentHistory.__table__)
# One Core INSERT on the session's connection, built once: it runs on the post path too,
# where an ORM add and flush would cost twice as much (comments/fast_path.py).
_NEW_EVENT = insert(_HISTORY)


def record(
    session: Session,
    comment: Comment,
    action: str,
    actor: str,
    *,
    before: CommentStatus | None = None,
    reasons: Sequence[str] | None = None,
    score: float | None = None,
    detail: str | None = None,
) -> None:
    """Add one event to `comment`'s history: `action` (one of ACTIONS) taken by `actor`, the
    status going from `before` (default: the same status, except for an arrival) to the
    comment's status now; `reasons` and `score` default to
    the comment's. Written at once on the session's connection (the comment must be stored:
    flush first), inside its transaction; never commits. Raises ValueError for an action not
    in ACTIONS."""
    if action not in ACTIONS:
        raise ValueError(f"unknown history action {action!r}")
    if before is None and action not in ARRIVALS:
        before = comment.status  # a decision that kept the status (edited, pinned, replied)
    session.connection().execute(
        _NEW_EVENT,
        {
            "comment_id": comment.id,
            "at": utcnow(),
            "action": action,
            "actor": actor[:ACTOR_MAX],
            "from_status": before.value if before is not None else None,
            "to_status": comment.status.value,
            "reasons": list(reasons if reasons is not None else comment.reasons or []),
            "score": score if score is not None else comment.spam_score,
            "detail": detail[:DETAIL_MAX] if detail is not None else None,
        },
    )


def imported_rows(
    ids: Sequence[int], statuses: Sequence[CommentStatus], reasons: Sequence[list[str]]
) -> list[dict[str, Any]]:
    """The "imported" events of comments stored by an import (for a bulk insert): one per id,
    with its status and reasons."""
    now = utcnow()
    return [
        {
            "comment_id": comment_id,
            "at": now,
            "action": "imported",
            "actor": IMPORT,
            "from_status": None,
            "to_status": status.value,
            "reasons": list(why),
            "score": None,
            "detail": None,
        }
        for comment_id, status, why in zip(ids, statuses, reasons, strict=True)
    ]


def events(session: Session, comment_id: int) -> list[dict[str, Any]]:
    """The history of a comment, oldest first, as the moderation API shows it:
    [{"at": datetime, "action", "actor", "from", "to", "reasons": [str], "score": float|None,
    "detail": str|None}] (`at` still a datetime: the view formats it)."""
    rows = session.scalars(
        select(CommentHistory)
        .where(CommentHistory.comment_id == comment_id)
        .order_by(CommentHistory.id)
    ).all()
    return [
        {
            "at": row.at,
            "action": row.action,
            "actor": row.actor,
            "from": row.from_status,
            "to": row.to_status,
            "reasons": list(row.reasons or []),
            "score": round(row.score, 4) if row.score is not None else None,
            "detail": row.detail,
        }
        for row in rows
    ]
