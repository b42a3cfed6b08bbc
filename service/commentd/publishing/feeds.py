"""Atom 1.0 feeds of the newest approved comments (API.md, "Pages without JavaScript, and
feeds"): one per post (`GET /api/posts/{slug}/feed.atom`) and one for the whole site
(`GET /api/feed.atom`). The format is RFC 4287's; feedgenerator (Pelican's standalone copy of
Django's feed writer) writes the XML.

Each entry: a `tag:` URI id that never changes (RFC 4151: the service's host, the comment's
day, its id, which is never reused), the author's name as text (and website as `uri`, public
anyway), the sanitised `body_html` as `content type="html"`, `published` and `updated` at the
comment's time, and a link to the comment on the post's page (COMMENTD_POST_URL's `{slug}`
template, `#comment-<id>`), else on the thread's HTML fragment at the service. No email in any
form: the writer is never handed one.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from feedgenerator import Atom1Feed
from sqlalchemy import select
from sqlalchemy.orm import Session

from commentd import i18n
from commentd.models import Comment, CommentStatus, Post

FEED_ENTRIES = 50  # newest approved comments per feed
CONTENT_TYPE = "application/atom+xml; charset=utf-8"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # an empty feed's `updated`, so its bytes are stable
# XML 1.0 allows neither C0 controls (but tab and line breaks) nor U+FFFE/U+FFFF, nor lone
# surrogates: a name or slug stored before today's rules must not make the feed unreadable.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class FeedEntry:
    """One approved comment as a feed shows it."""

    id: int
    slug: str
    name: str
    website: str | None
    body_html: str
    created_at: datetime


class _Feed(Atom1Feed):  # type: ignore[misc]  # feedgenerator has no type hints
    """Atom1Feed whose empty feed has a fixed `updated` (its bytes, and ETag, stay put)."""

    def latest_post_date(self) -> datetime:
        if not self.items:
            return EPOCH
        latest: datetime = max(item["updateddate"] or item["pubdate"] for item in self.items)
        return latest


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def slug_path(slug: str) -> str:
    """A slug as it goes in a URL path: each segment percent-encoded, `/` kept."""
    return quote(slug, safe="/")


def post_link(slug: str, *, public_url: str, post_url: str | None) -> str:
    """The page of a post: COMMENTD_POST_URL's template, else its HTML fragment at the service
    (`GET /api/posts/{slug}/comments.html`)."""
    if post_url:
        return post_url.replace("{slug}", slug_path(slug))
    return f"{public_url}/api/posts/{slug_path(slug)}/comments.html"


def entry_id(public_url: str, comment_id: int, created_at: datetime) -> str:
    """A comment's Atom id: `tag:<service host>,<its day>:comment-<id>` (RFC 4151)."""
    host = urlsplit(public_url).hostname or "localhost"
    return f"tag:{host},{_aware(created_at):%Y-%m-%d}:comment-{comment_id}"


def render(
    entries: Sequence[FeedEntry],
    *,
    title: str,
    self_url: str,
    alternate: str,
    public_url: str,
    post_url: str | None,
    language: str = i18n.DEFAULT,
) -> bytes:
    """An Atom 1.0 document (UTF-8 bytes) of `entries`, in the order given (newest first).
    Reads nothing but its arguments."""
    feed = _Feed(
        title=_text(title),
        link=alternate,
        description=None,
        language=language,
        feed_url=self_url,
        feed_guid=self_url,
    )
    for entry in entries:
        name = _text(entry.name)
        feed.add_item(
            title=_text(i18n.translate(language, "feed_entry_title", name=name, slug=entry.slug)),
            link=post_link(entry.slug, public_url=public_url, post_url=post_url)
            + f"#comment-{entry.id}",
            description=None,
            content=_text(entry.body_html),
            author_name=name,
            author_link=entry.website,
            pubdate=_aware(entry.created_at),
            updateddate=_aware(entry.created_at),
            unique_id=entry_id(public_url, entry.id, entry.created_at),
        )
    out = io.StringIO()
    feed.write(out, "utf-8")
    return out.getvalue().encode("utf-8")


def _entries(rows: Sequence[Any]) -> list[FeedEntry]:
    return [
        FeedEntry(
            id=int(row.id),
            slug=str(row.slug),
            name=str(row.name),
            website=row.website,
            body_html=str(row.body_html),
            created_at=row.created_at,
        )
        for row in rows
    ]


def _newest(session: Session, post_id: int | None) -> list[FeedEntry]:
    """The newest approved comments (by id: the order they were stored), of one post or all."""
    query = (
        select(
            Comment.id,
            Post.slug,
            Comment.name,
            Comment.website,
            Comment.body_html,
            Comment.created_at,
        )
        .join(Post, Post.id == Comment.post_id)
        .where(Comment.status == CommentStatus.APPROVED)
        .order_by(Comment.id.desc())
        .limit(FEED_ENTRIES)
    )
    if post_id is not None:
        query = query.where(Comment.post_id == post_id)
    return _entries(session.execute(query).all())


def post_feed(
    session: Session, slug: str, post_id: int | None, *, public_url: str, post_url: str | None
) -> bytes:
    """`GET /api/posts/{slug}/feed.atom`: the post's newest approved comments, at most
    FEED_ENTRIES, newest first; an unknown post (`post_id` None) has an empty feed."""
    entries = _newest(session, post_id) if post_id is not None else []
    return render(
        entries,
        title=i18n.translate(i18n.DEFAULT, "feed_post_title", slug=_text(slug)),
        self_url=f"{public_url}/api/posts/{slug_path(slug)}/feed.atom",
        alternate=post_link(slug, public_url=public_url, post_url=post_url),
        public_url=public_url,
        post_url=post_url,
    )


def site_feed(session: Session, *, public_url: str, post_url: str | None) -> bytes:
    """`GET /api/feed.atom`: the newest approved comments of every post, at most FEED_ENTRIES,
    newest first."""
    home = public_url
    if post_url:
        parts = urlsplit(post_url)
        home = f"{parts.scheme}://{parts.netloc}/"
    host = urlsplit(post_url or public_url).hostname or "commentd"
    return render(
        _newest(session, None),
        title=i18n.translate(i18n.DEFAULT, "feed_site_title", site=host),
        self_url=f"{public_url}/api/feed.atom",
        alternate=home,
        public_url=public_url,
        post_url=post_url,
    )
