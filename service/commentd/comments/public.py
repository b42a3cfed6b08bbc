"""The only place a Comment becomes JSON: audit here that nothing private reaches the public."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple, Protocol
from urllib.parse import quote

from commentd.comments.rendering import identicon_svg, shown_text
from commentd.models import Comment, CommentStatus


class PublicFields(Protocol):
    """What the public list reads of a comment: an ORM Comment, or a PublicRow."""

    @property
    def id(self) -> int:
        """The comment's id."""

    @property
    def parent_id(self) -> int | None:
        """The comment it replies to, if any."""

    @property
    def name(self) -> str:
        """The name as given."""

    @property
    def website(self) -> str | None:
        """The website as given, if any."""

    @property
    def avatar_key(self) -> str:
        """The keyed hash its identicon is drawn from."""

    @property
    def is_owner(self) -> bool:
        """Whether the blog's author wrote it."""

    @property
    def body_html(self) -> str:
        """The text as rendered and sanitised when stored."""

    @property
    def created_at(self) -> datetime:
        """When it was posted (aware UTC)."""

    @property
    def pinned_at(self) -> datetime | None:
        """When the author pinned it (aware UTC), if they did."""


class PublicRow(NamedTuple):
    """An approved comment's public columns as read past the ORM (thread_sql), no more."""

    id: int
    parent_id: int | None
    name: str
    website: str | None
    avatar_key: str
    is_owner: bool
    body_html: str
    created_at: datetime
    pinned_at: datetime | None


def timestamp(moment: datetime) -> str:
    """API.md's time format: whole seconds, UTC, with a Z (`2024-05-01T09:30:00Z`), of an
    aware UTC `moment` (as every stored time is; models.UTCDateTime). RFC 3339's four-digit
    year whatever the year; half the cost of strftime, once for each comment of a read."""
    return moment.isoformat(timespec="seconds")[:19] + "Z"


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
    comment: PublicFields, public_url: str, parent_id: int | None, *, inline_avatar: bool = False
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


def needs_links(rows: Sequence[PublicFields]) -> bool:
    """Whether some approved comment of `rows` replies to one that is not public, so that
    public_page needs the post's parent links (queries.parent_links) to place it."""
    visible = {comment.id for comment in rows}
    return any(c.parent_id is not None and c.parent_id not in visible for c in rows)


def public_page(
    slug: str,
    rows: Sequence[PublicFields],
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


@dataclass(frozen=True)
class Thread:
    """A post's public list as read in one query (thread_sql): the post's id and version
    (None for a post not stored yet), whether it is closed, its approved comments oldest
    first, and the parent links that place a reply to a comment no longer public (None when
    every parent is public)."""

    post_id: int | None
    version: str | None
    closed: bool
    comments: Sequence[PublicRow]
    links: Mapping[int, int | None] | None

    def page(self, slug: str, public_url: str, *, inline_avatars: bool = False) -> dict[str, Any]:
        """public_page() of this thread."""
        return public_page(
            slug,
            self.comments,
            closed=self.closed,
            public_url=public_url,
            links=self.links,
            inline_avatars=inline_avatars,
        )


NO_THREAD = Thread(post_id=None, version=None, closed=False, comments=(), links=None)


def thread_sql(mark: str) -> str:
    """The one query of a post's public list, on the driver (`mark`: its placeholder, bound
    to the slug), for thread(): a row per comment that is approved or is the parent of
    another (the ancestors a reply to a comment no longer public climbs: each has a reply),
    oldest first, each with its post's id, version and `closed`; the post alone (comment
    columns NULL) when it has none; no row for an unknown slug. Only public columns."""
    return (
        "SELECT p.id, p.version, p.closed, c.status, c.id, c.parent_id, c.name, c.website,"
        " c.avatar_key, c.is_owner, c.body_html, c.created_at, c.pinned_at"
        " FROM posts p LEFT JOIN comments c ON c.post_id = p.id"
        f" AND (c.status = '{CommentStatus.APPROVED.value}'"
        " OR EXISTS (SELECT 1 FROM comments r WHERE r.parent_id = c.id))"
        f" WHERE p.slug = {mark} ORDER BY c.id"
    )


def thread(rows: Sequence[Sequence[Any]], moment: Callable[[Any], datetime | None]) -> Thread:
    """The Thread of thread_sql's `rows` as the driver hands them over; `moment` turns a
    stored time into the aware UTC datetime the ORM would give (models.UTCDateTime)."""
    if not rows:  # no such post
        return NO_THREAD
    comments: list[PublicRow] = []
    links: dict[int, int | None] = {}
    for (
        _post_id,
        _version,
        _closed,
        status,
        comment_id,
        parent_id,
        name,
        website,
        avatar_key,
        is_owner,
        body_html,
        created_at,
        pinned_at,
    ) in rows:
        if comment_id is None:  # the post's own row: it has no comments
            continue
        links[comment_id] = parent_id
        if status == CommentStatus.APPROVED.value:
            created = moment(created_at)
            assert created is not None  # created_at is NOT NULL
            pinned = moment(pinned_at) if pinned_at is not None else None
            comments.append(
                PublicRow(
                    comment_id,
                    parent_id,
                    name,
                    website,
                    avatar_key,
                    bool(is_owner),
                    body_html,
                    created,
                    pinned,
                )
            )
    post_id, version, closed = rows[0][:3]
    return Thread(
        post_id=int(post_id),
        version=str(version),
        closed=bool(closed),
        comments=comments,
        links=links if needs_links(comments) else None,
    )


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
