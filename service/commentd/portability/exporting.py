"""Every comment out, streaming: commentd's own JSON (lossless; docs/export-format.md) and
WordPress's WXR 1.2 (what WordPress's importer reads).

Both read the database in pages of EXPORT_PAGE rows and write as they go: memory holds one
page whatever the number of comments.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any, cast
from urllib.parse import urlsplit
from xml.sax.saxutils import XMLGenerator
from xml.sax.xmlreader import AttributesImpl

from sqlalchemy import Row, Table, select
from sqlalchemy.orm import Session

from commentd.models import Comment, Commenter, CommentSource, CommentStatus, Post, utcnow

EXPORT_PAGE = 1000
FORMAT = "commentd"
VERSION = 1

_COMMENTS = cast(Table, Comment.__table__)
_POSTS = cast(Table, Post.__table__)
_COMMENTERS = cast(Table, Commenter.__table__)
_SOURCES = cast(Table, CommentSource.__table__)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _pages(session: Session) -> Iterator[list[Row[Any]]]:
    """Every comment with its post's slug and its commenter, by id, EXPORT_PAGE at a time."""
    statement = (
        select(
            _COMMENTS,
            _POSTS.c.slug,
            _COMMENTERS.c.token_hash.label("commenter_token_hash"),
            _COMMENTERS.c.email.label("commenter_email"),
            _COMMENTERS.c.created_at.label("commenter_created_at"),
            _COMMENTERS.c.confirmed_at.label("commenter_confirmed_at"),
        )
        .join(_POSTS, _POSTS.c.id == _COMMENTS.c.post_id)
        .outerjoin(_COMMENTERS, _COMMENTERS.c.id == _COMMENTS.c.commenter_id)
        .order_by(_COMMENTS.c.id)
        .limit(EXPORT_PAGE)
    )
    after = 0
    while True:
        rows = session.execute(statement.where(_COMMENTS.c.id > after)).all()
        if rows:
            yield list(rows)
        if len(rows) < EXPORT_PAGE:
            return
        after = rows[-1].id


def _sources_of(session: Session, ids: list[int]) -> dict[int, list[dict[str, str]]]:
    """Where each of these comments was imported from (empty for those posted here)."""
    found: dict[int, list[dict[str, str]]] = {}
    rows = session.execute(
        select(_SOURCES.c.comment_id, _SOURCES.c.source, _SOURCES.c.source_id, _SOURCES.c.markup)
        .where(_SOURCES.c.comment_id.in_(ids))
        .order_by(_SOURCES.c.id)
    )
    for row in rows:
        found.setdefault(row.comment_id, []).append(
            {"source": row.source, "id": row.source_id, "markup": row.markup}
        )
    return found


def write_json(session: Session, out: IO[str], instance: str) -> int:
    """Write commentd's own export of every post and comment to `out`; returns the number of
    comments. The format (version 1) is docs/export-format.md: {"format": "commentd",
    "version": 1, "instance", "exported_at", "posts": [...], "comments": [...]}."""
    header = {"format": FORMAT, "version": VERSION, "instance": instance}
    out.write(json.dumps(header, ensure_ascii=False)[:-1])
    out.write(f', "exported_at": {json.dumps(_iso(utcnow()))},\n"posts": [')
    first = True
    for post in session.execute(select(_POSTS).order_by(_POSTS.c.id)):
        item = {
            "slug": post.slug,
            "closed": post.closed,
            "created_at": _iso(post.created_at),
            "title": post.title,
        }
        out.write(("\n" if first else ",\n") + json.dumps(item, ensure_ascii=False))
        first = False
    out.write('\n],\n"comments": [')
    count = 0
    for page in _pages(session):
        sources = _sources_of(session, [row.id for row in page])
        for row in page:
            item = _comment_item(row, sources.get(row.id, []))
            out.write(("\n" if count == 0 else ",\n") + json.dumps(item, ensure_ascii=False))
            count += 1
    out.write("\n]}\n")
    return count


def _comment_item(row: Row[Any], sources: list[dict[str, str]]) -> dict[str, Any]:
    markup = next((s["markup"] for s in sources), "markdown")
    return {
        "id": row.id,
        "slug": row.slug,
        "parent_id": row.parent_id,
        "status": CommentStatus(row.status).value,
        "name": row.name,
        "email": row.email,
        "website": row.website,
        "body": row.body,
        "markup": markup,
        "body_html": row.body_html,
        "created_at": _iso(row.created_at),
        "moderated_at": _iso(row.moderated_at),
        "edited_at": _iso(row.edited_at),
        "is_owner": row.is_owner,
        "pinned_at": _iso(row.pinned_at),
        "avatar_key": row.avatar_key,
        "client_key": row.client_key,
        "body_key": row.body_key,
        "notify": row.notify,
        "notify_approved": row.notify_approved,
        "spam_score": row.spam_score,
        "reasons": list(row.reasons or []),
        "commenter": (
            {
                "token_hash": row.commenter_token_hash,
                "email": row.commenter_email,
                "created_at": _iso(row.commenter_created_at),
                "confirmed_at": _iso(row.commenter_confirmed_at),
            }
            if row.commenter_token_hash is not None
            else None
        ),
        "sources": [{"source": s["source"], "id": s["id"]} for s in sources],
    }


# WordPress's own namespaces for WXR 1.2 (wp-admin/includes/export.php).
WXR_NAMESPACES = {
    "excerpt": "http://wordpress.org/export/1.2/excerpt/",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "wfw": "http://wellformedweb.org/CommentAPI/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "wp": "http://wordpress.org/export/1.2/",
}
_WP_STATUS = {
    CommentStatus.APPROVED: "1",
    CommentStatus.PENDING: "0",
    CommentStatus.SPAM: "spam",
    CommentStatus.REJECTED: "trash",
}


def site_address(url: str) -> str:
    """The blog's address for WXR links, `https://blog.example` (no trailing "/"); raises
    ValueError unless it is an http(s) URL with a host and nothing after its path."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or any(c.isspace() or ord(c) < 32 for c in url.strip())
    ):
        raise ValueError(f"{url!r} is not a site address such as https://blog.example")
    return url.strip().rstrip("/")


def write_wxr(session: Session, out: IO[bytes], site_url: str) -> int:
    """Write every post with its comments as WordPress eXtended RSS 1.2 to `out`; returns the
    number of comments. `site_url` (`https://blog.example`) makes each post's link
    `<site_url>/<slug>/`; raises ValueError when it is not one (site_address). Rejected
    comments go out as "trash", so nothing is lost.

    The structure is what WordPress's exporter writes (wp-admin/includes/export.php, WXR 1.2)
    and its importer reads (wordpress-importer's parsers): an RSS 2.0 channel whose items are
    posts, each with wp:comment children. Comment text is HTML (WordPress shows it as such).
    """
    site_url = site_address(site_url)
    xml = XMLGenerator(out, encoding="utf-8", short_empty_elements=True)
    xml.startDocument()
    namespaces = {f"xmlns:{prefix}": uri for prefix, uri in WXR_NAMESPACES.items()}
    xml.startElement("rss", _attrs({"version": "2.0", **namespaces}))
    xml.startElement("channel", _attrs({}))
    _element(xml, "title", "Comments exported from commentd")
    _element(xml, "link", site_url)
    _element(xml, "description", "")
    _element(xml, "pubDate", utcnow().strftime("%a, %d %b %Y %H:%M:%S +0000"))
    _element(xml, "language", "en")
    _wp(xml, "wxr_version", "1.2")
    _wp(xml, "base_site_url", site_url)
    _wp(xml, "base_blog_url", site_url)
    _element(xml, "generator", "commentd")
    count = 0
    posts = session.execute(select(_POSTS).order_by(_POSTS.c.id)).all()
    for number, post in enumerate(posts, start=1):
        _post_item(xml, session, post, number, site_url)
        count += _comments_of_post(xml, session, post.id)
        xml.endElement("item")
    xml.endElement("channel")
    xml.endElement("rss")
    xml.endDocument()
    out.write(b"\n")
    return count


def _post_item(xml: XMLGenerator, session: Session, post: Row[Any], number: int, site: str) -> None:
    link = f"{site}/{post.slug}/"
    xml.startElement("item", _attrs({}))
    _element(xml, "title", post.slug.rsplit("/", 1)[-1])
    _element(xml, "link", link)
    _element(xml, "pubDate", post.created_at.strftime("%a, %d %b %Y %H:%M:%S +0000"))
    _element(xml, "dc:creator", "")
    xml.startElement("guid", _attrs({"isPermaLink": "false"}))
    xml.characters(link)
    xml.endElement("guid")
    _element(xml, "description", "")
    _element(xml, "content:encoded", "")
    _element(xml, "excerpt:encoded", "")
    _wp(xml, "post_id", str(number))
    _wp(xml, "post_date", post.created_at.strftime("%Y-%m-%d %H:%M:%S"))
    _wp(xml, "post_date_gmt", post.created_at.strftime("%Y-%m-%d %H:%M:%S"))
    _wp(xml, "comment_status", "closed" if post.closed else "open")
    _wp(xml, "ping_status", "closed")
    _wp(xml, "post_name", post.slug.rsplit("/", 1)[-1])
    _wp(xml, "status", "publish")
    _wp(xml, "post_parent", "0")
    _wp(xml, "menu_order", "0")
    _wp(xml, "post_type", "post")
    _wp(xml, "post_password", "")
    _wp(xml, "is_sticky", "0")


def _comments_of_post(xml: XMLGenerator, session: Session, post_id: int) -> int:
    count = 0
    after = 0
    while True:
        rows = session.execute(
            select(_COMMENTS)
            .where(_COMMENTS.c.post_id == post_id, _COMMENTS.c.id > after)
            .order_by(_COMMENTS.c.id)
            .limit(EXPORT_PAGE)
        ).all()
        for row in rows:
            _comment_element(xml, row)
        count += len(rows)
        if len(rows) < EXPORT_PAGE:
            return count
        after = rows[-1].id


def _comment_element(xml: XMLGenerator, row: Row[Any]) -> None:
    when = row.created_at.strftime("%Y-%m-%d %H:%M:%S")
    xml.startElement("wp:comment", _attrs({}))
    _wp(xml, "comment_id", str(row.id))
    _wp(xml, "comment_author", row.name)
    _wp(xml, "comment_author_email", row.email)
    _wp(xml, "comment_author_url", row.website or "")
    _wp(xml, "comment_author_IP", "")  # kept only as a keyed hash: nothing to give
    _wp(xml, "comment_date", when)
    _wp(xml, "comment_date_gmt", when)
    _wp(xml, "comment_content", row.body_html)
    _wp(xml, "comment_approved", _WP_STATUS[CommentStatus(row.status)])
    _wp(xml, "comment_type", "comment")
    _wp(xml, "comment_parent", str(row.parent_id or 0))
    _wp(xml, "comment_user_id", "0")
    xml.endElement("wp:comment")


def _attrs(values: dict[str, str]) -> AttributesImpl:
    return AttributesImpl(values)


def _element(xml: XMLGenerator, name: str, value: str) -> None:
    xml.startElement(name, _attrs({}))
    xml.characters(value)
    xml.endElement(name)


def _wp(xml: XMLGenerator, name: str, value: str) -> None:
    _element(xml, f"wp:{name}", value)
