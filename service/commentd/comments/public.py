"""The only place a Comment becomes JSON: audit here that nothing private reaches the public."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from commentd.comments.rendering import identicon_svg, shown_text
from commentd.models import Comment


def timestamp(moment: datetime) -> str:
    """API.md's time format: whole seconds, UTC, with a Z (`2024-05-01T09:30:00Z`)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def avatar_url(public_url: str, avatar_key: str) -> str:
    """The URL of a comment's identicon (GET /api/avatars/<key>.svg)."""
    return f"{public_url}/api/avatars/{avatar_key}.svg"


# The identicon's SVG percent-encoded for a data: URI exactly as urllib.parse.quote(svg,
# safe=",=:/();") encodes it, but one str.replace per kind of character it holds (~10 µs for
# an identicon, against ~400 for quote and ~200 for str.translate).
_URI_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~,=:/();")


def _percent_encoded(text: str) -> str:
    """ASCII `text` as quote(text, safe=",=:/();") spells it."""
    encoded = text.replace("%", "%25")  # first: the escapes made below hold % themselves
    for character in set(text) - _URI_SAFE - {"%"}:
        encoded = encoded.replace(character, f"%{ord(character):02X}")
    return encoded


@lru_cache(maxsize=4096)  # a commenter's picture is drawn once per process, not per comment
def avatar_data_uri(avatar_key: str) -> str:
    """A comment's identicon inline, as a `data:image/svg+xml,…` URI (RFC 2397, the SVG
    percent-encoded): the same picture as avatar_url's, needing no request to the service.
    Kept for the last 4096 keys: a commenter's comments share one, and an export of every
    post draws the same picture for each (~2 KB)."""
    svg = identicon_svg(avatar_key)
    if not svg.isascii():
        return "data:image/svg+xml," + quote(svg, safe=",=:/();")
    return "data:image/svg+xml," + _percent_encoded(svg)


def public_comment(
    comment: Comment, public_url: str, parent_id: int | None, *, inline_avatar: bool = False
) -> dict[str, Any]:
    """API.md's public comment: no email, address, user agent or moderation detail.

    `author.avatar` is the identicon's URL under `public_url`, or with `inline_avatar` the
    picture itself as a data: URI (for pages that must not depend on the service).
    """
    avatar = (
        avatar_data_uri(comment.avatar_key)
        if inline_avatar
        else avatar_url(public_url, comment.avatar_key)
    )
    return {
        "id": comment.id,
        "parent_id": parent_id,
        "author": {
            "name": comment.name,
            "website": comment.website,
            "avatar": avatar,
            # Beyond API.md's example, in its console section: the blog's author wrote it.
            "is_owner": bool(comment.is_owner),
        },
        "body_html": comment.body_html,
        "created_at": timestamp(comment.created_at),
        # Pinned by the author to the top of the post (top-level comments only).
        "pinned": comment.pinned_at is not None,
    }


def visible_parent(
    parent_id: int | None, visible: set[int], links: Mapping[int, int | None] | None
) -> int | None:
    """The parent a reply shows under: a reply whose parent is no longer public hangs under
    its nearest public ancestor (`links`: id -> parent_id of the post's comments, whatever
    their status; None when every parent is public), top level when there is none."""
    while parent_id is not None and parent_id not in visible:
        parent_id = links.get(parent_id) if links is not None else None
    return parent_id


def needs_links(rows: Sequence[Comment]) -> bool:
    """Whether some approved comment of `rows` replies to one that is not public, so that
    public_page needs the post's parent links (queries.parent_links) to place it."""
    visible = {comment.id for comment in rows}
    return any(c.parent_id is not None and c.parent_id not in visible for c in rows)


def public_page(
    slug: str,
    rows: Sequence[Comment],
    *,
    closed: bool,
    public_url: str,
    links: Mapping[int, int | None] | None = None,
    inline_avatars: bool = False,
) -> dict[str, Any]:
    """API.md's body of `GET /api/posts/{slug}/comments` as a dict: `rows` are the post's
    approved comments oldest first (queries.approved_comments), each reply under its nearest
    public ancestor (`links` when needs_links(rows)). `inline_avatars` puts the identicons in
    as data: URIs (the HTML fragment); the JSON body has their URLs."""
    visible = {comment.id for comment in rows}
    pinned = sorted(
        (c for c in rows if c.pinned_at is not None and c.parent_id is None),
        key=lambda c: (c.pinned_at, c.id),
        reverse=True,
    )
    return {
        "slug": slug,
        "count": len(rows),
        # Beyond API.md: a closed post takes no new comments, so pages can hide the form.
        "closed": closed,
        # Beyond API.md: the ids of the pinned comments in the order they show, before the
        # others (the newest pin first); `comments` stays oldest first.
        "pinned": [c.id for c in pinned],
        "comments": [
            public_comment(
                c,
                public_url,
                visible_parent(c.parent_id, visible, links),
                inline_avatar=inline_avatars,
            )
            for c in rows
        ],
    }


def public_json(page: Mapping[str, Any]) -> bytes:
    """The bytes of `GET /api/posts/{slug}/comments` for a public_page() object: compact JSON,
    UTF-8, characters unescaped. The API and `commentd export static` both write these bytes,
    so an exported file is the API's answer byte for byte."""
    return json.dumps(page, ensure_ascii=False, separators=(",", ":")).encode()


EXCERPT_CHARS = 200


def parent_context(parent: Comment | None) -> dict[str, Any] | None:
    """What the console shows of a reply's parent: {"id", "name", "excerpt"} (the first
    EXCERPT_CHARS characters of its text as shown), or None for a top-level comment."""
    if parent is None:
        return None
    text = " ".join(shown_text(parent.body_html).split())
    return {"id": parent.id, "name": parent.name, "excerpt": text[:EXCERPT_CHARS]}


def moderation_comment(
    comment: Comment,
    slug: str,
    public_url: str,
    *,
    post_title: str | None = None,
    parent: Comment | None = None,
) -> dict[str, Any]:
    """A public comment plus what only the author may see (API.md, ModerationComment), with
    its post's title and its parent's context (parent_context: `parent` is the comment's
    parent, loaded by the caller)."""
    return public_comment(comment, public_url, comment.parent_id) | {
        "post_title": post_title,
        "parent": parent_context(parent),
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
