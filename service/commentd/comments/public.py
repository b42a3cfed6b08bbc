"""The only place a Comment becomes JSON: audit here that nothing private reaches the public."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from commentd.models import Comment


def timestamp(moment: datetime) -> str:
    """API.md's time format: whole seconds, UTC, with a Z (`2024-05-01T09:30:00Z`)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def avatar_url(public_url: str, avatar_key: str) -> str:
    """The URL of a comment's identicon (GET /api/avatars/<key>.svg)."""
    return f"{public_url}/api/avatars/{avatar_key}.svg"


def public_comment(comment: Comment, public_url: str, parent_id: int | None) -> dict[str, Any]:
    """API.md's public comment: no email, address, user agent or moderation detail."""
    return {
        "id": comment.id,
        "parent_id": parent_id,
        "author": {
            "name": comment.name,
            "website": comment.website,
            "avatar": avatar_url(public_url, comment.avatar_key),
        },
        "body_html": comment.body_html,
        "created_at": timestamp(comment.created_at),
    }


def moderation_comment(comment: Comment, slug: str, public_url: str) -> dict[str, Any]:
    """A public comment plus what only the author may see (API.md, ModerationComment)."""
    return public_comment(comment, public_url, comment.parent_id) | {
        "slug": slug,
        "status": comment.status.value,
        "email": comment.email,
        "body": comment.body,
        "notify": comment.notify,
        "spam_score": round(comment.spam_score, 4),
        "reasons": list(comment.reasons or []),
        "moderated_at": timestamp(comment.moderated_at) if comment.moderated_at else None,
        # Its writer changed it since posting (PATCH with their token): the author may look again.
        "edited_at": timestamp(comment.edited_at) if comment.edited_at else None,
    }
