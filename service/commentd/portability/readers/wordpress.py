"""The reader of a WordPress export (WXR, "WordPress eXtended RSS", Tools → Export): one
SourceComment per <wp:comment> of any <item> (post, page, attachment or custom post type).

The format is what WordPress's exporter writes (wp-admin/includes/export.php,
https://github.com/WordPress/wordpress-develop/blob/trunk/src/wp-admin/includes/export.php)
and its importer reads (the wordpress-importer plugin's WXR parsers,
https://github.com/WordPress/wordpress-importer/tree/master/src/parsers). WXR 1.0, 1.1 and 1.2
differ here only in the URI of the `wp` namespace (http://wordpress.org/export/1.N/):

    <rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/" …>
      <channel> …
        <item>
          <title>…</title>  <link>https://blog.example/2024/03/glute/</link> …
          <wp:post_id>42</wp:post_id>  <wp:comment_status>open</wp:comment_status> …
          <wp:comment>
            <wp:comment_id>17</wp:comment_id>  <wp:comment_author>…</wp:comment_author>
            <wp:comment_author_email/>  <wp:comment_author_url/>  <wp:comment_author_IP/>
            <wp:comment_date>2024-03-29 09:15:00</wp:comment_date>   (the site's local time)
            <wp:comment_date_gmt>2024-03-29 08:15:00</wp:comment_date_gmt>
            <wp:comment_content><![CDATA[…]]></wp:comment_content>
            <wp:comment_approved>1</wp:comment_approved>  <wp:comment_type>comment</…>
            <wp:comment_parent>0</wp:comment_parent>  <wp:comment_user_id>0</…>
            <wp:commentmeta>…</wp:commentmeta>
          </wp:comment>
        </item>

WordPress's own exporter leaves spam out (it selects comment_approved <> "spam"); other
tools' WXR files may have it, so it is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from xml.etree.ElementTree import Element

from commentd.models import CommentStatus
from commentd.portability.readers import xmlstream
from commentd.portability.records import ImportFileError, Markup, Progress, Skip, SourceComment, utc

WXR_NAMESPACES = {
    "http://wordpress.org/export/1.0/": "1.0",
    "http://wordpress.org/export/1.1/": "1.1",
    "http://wordpress.org/export/1.2/": "1.2",
}
_WXR_URI = re.compile(r"http://wordpress\.org/export/[^/]+/")
_ZERO_DATE = "0000-00-00 00:00:00"  # MySQL's "no date": comments of WordPress before 2.x
_STATUSES = {
    "1": CommentStatus.APPROVED,
    "0": CommentStatus.PENDING,
    "spam": CommentStatus.SPAM,
}
_TRASHED = {"trash", "post-trashed"}
_PING_TYPES = {"pingback": Skip.PINGBACK, "trackback": Skip.TRACKBACK}
# What readers wrote: WordPress's own comments ("" before 5.5, "comment" since) and product
# reviews. Plugins keep private records as comments of other types (WooCommerce's
# "order_note", "webhook_delivery", "action_log"): those must never become public.
_COMMENT_TYPES = frozenset({"", "comment", "review"})


@dataclass
class _Item:
    """What the reader knows of the <item> it is in: enough to place its comments."""

    number: int
    post_id: str | None = None
    link: str | None = None
    comment_status: str | None = None
    waiting: list[dict[str, str | None]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"item {self.post_id}" if self.post_id else f"item #{self.number} in the file"

    def read(self, child: Element, wp: str) -> None:
        """Take what matters from a child of the <item> (`wp`: the `{uri}` of its namespace)."""
        if child.tag == "link":
            self.link = (child.text or "").strip()
        elif child.tag == wp + "post_id":
            self.post_id = (child.text or "").strip() or None
        elif child.tag == wp + "comment_status":
            self.comment_status = (child.text or "").strip()
        elif child.tag == wp + "comment":
            self.waiting.append(_fields(child, wp))

    def placeable(self, ended: bool) -> list[dict[str, str | None]]:
        """The waiting comments that can now be placed (all of them once the item `ended`),
        no longer waiting."""
        if not ended and (self.link is None or self.comment_status is None):
            return []
        ready, self.waiting = self.waiting, []
        return ready


def read(path: Path, progress: Progress) -> Iterator[SourceComment]:
    """The comments of the WXR file at `path`, in file order, streamed: memory holds one
    comment at a time (WordPress writes an item's <link> and <wp:comment_status> before its
    comments; in a file from another tool that writes them after, the item's comments wait
    for the end of their item).

    - source_id: wp:comment_id; parent_id: wp:comment_parent ("0" or empty: None).
    - page: the item's <link>; closed: its wp:comment_status is "closed".
    - name, email, website, ip: wp:comment_author, _author_email ("" when none),
      _author_url (None when empty), _author_IP (None when empty).
    - text: wp:comment_content, Markup.WORDPRESS (bare line breaks are paragraphs).
    - created_at: wp:comment_date_gmt, UTC; when that is empty or 0000-00-00 00:00:00 (very
      old WordPress), wp:comment_date, the site's local time, which the file does not give:
      it is then taken as UTC.
    - wp:comment_approved: "1" APPROVED, "0" PENDING, "spam" SPAM, "trash" and
      "post-trashed" skip DELETED; missing, APPROVED (WordPress's default); any other value
      (a plugin's own status) PENDING, for a moderator to decide.
    - wp:comment_type: "pingback" and "trackback" skip PINGBACK / TRACKBACK (a trashed one
      counts as DELETED); "", "comment" and "review" are comments; any other type is a
      plugin's private record (WooCommerce's order notes) and skips NOT_A_COMMENT.

    Raises ImportFileError naming the line when the file is not XML, is cut short or declares
    entities; naming the root element when it is not a WXR 1.0-1.2 file (root <rss> declaring
    the wp namespace of one of those versions); naming the comment ("comment 17 of item 42")
    when it has no wp:comment_id, no valid date, or its item no <link>."""
    wp = ""
    namespaces: list[str] = []
    stack: list[Element] = []
    item: _Item | None = None
    items = 0
    for event, value in xmlstream.events(path, progress, ("start-ns", "start", "end")):
        if event == "start-ns":
            if not stack:  # the root's declarations are the ones that say what the file is
                namespaces.append(value[1])
            continue
        element: Element = value
        if event == "start":
            if not stack:
                wp = _wp_namespace(element, namespaces)
            stack.append(element)
            if len(stack) == 3 and element.tag == "item":
                items += 1
                item = _Item(items)
            continue
        stack.pop()
        depth = len(stack) + 1  # the element's own: <rss> 1, <channel> 2, <item> 3
        current = item
        if current is not None and depth == 4:
            current.read(element, wp)
        if depth in (3, 4):  # a child of <channel> or of <item>: read, so let go
            stack[-1].remove(element)
        if current is not None:
            ended = depth == 3 and element.tag == "item"
            for fields in current.placeable(ended):
                yield _comment(fields, current)
            if ended:
                item = None


def _wp_namespace(root: Element, namespaces: list[str]) -> str:
    """`{uri}` of the root's WXR namespace; raises ImportFileError when it is not WXR 1.0-1.2."""
    wxr = [uri for uri in namespaces if uri in WXR_NAMESPACES]
    if root.tag == "rss" and wxr:
        return "{" + wxr[0] + "}"
    if root.tag != "rss":
        found = f"its root element is <{root.tag.rpartition('}')[2]}>"
        raise ImportFileError("root element", f"not a WordPress export (WXR): {found}, not <rss>")
    other = [uri for uri in namespaces if _WXR_URI.fullmatch(uri)]
    if other:
        raise ImportFileError(
            "root element",
            f"a WXR version this reader does not know ({other[0]}): it reads 1.0, 1.1 and 1.2",
        )
    raise ImportFileError(
        "root element",
        "an RSS feed, not a WordPress export (WXR): it does not declare the namespace "
        "http://wordpress.org/export/1.2/ (or 1.1, 1.0)",
    )


def _fields(comment: Element, wp: str) -> dict[str, str | None]:
    """The wp:comment_* values of a <wp:comment> element (None: the field is absent)."""
    return {
        child.tag[len(wp) :]: child.text or ""
        for child in comment
        if child.tag.startswith(wp + "comment_")
    }


def _comment(fields: dict[str, str | None], item: _Item) -> SourceComment:
    source_id = (fields.get("comment_id") or "").strip()
    record = f"comment {source_id or '(without id)'} of {item.name}"
    if not source_id:
        raise ImportFileError(record, "it has no <wp:comment_id>")
    if not item.link:
        raise ImportFileError(record, "its item has no <link>")
    parent_id = (fields.get("comment_parent") or "").strip()
    approved = fields.get("comment_approved")
    status = CommentStatus.APPROVED
    skip: Skip | None = None
    if approved is not None:
        approved = approved.strip().lower()
        if approved in _TRASHED:
            skip = Skip.DELETED
        status = _STATUSES.get(approved, CommentStatus.PENDING)
    if skip is None:
        kind = (fields.get("comment_type") or "").strip().lower()
        skip = _PING_TYPES.get(kind)
        if skip is None and kind not in _COMMENT_TYPES:
            skip = Skip.NOT_A_COMMENT
    return SourceComment(
        source_id=source_id,
        parent_id=None if parent_id in ("", "0") else parent_id,
        page=item.link,
        name=(fields.get("comment_author") or "").strip(),
        email=(fields.get("comment_author_email") or "").strip(),
        website=(fields.get("comment_author_url") or "").strip() or None,
        text=fields.get("comment_content") or "",
        markup=Markup.WORDPRESS,
        created_at=_created_at(fields, record),
        status=status,
        skip=skip,
        ip=(fields.get("comment_author_IP") or "").strip() or None,
        record=record,
        closed=item.comment_status == "closed",
    )


def _created_at(fields: dict[str, str | None], record: str) -> datetime:
    for key in ("comment_date_gmt", "comment_date"):
        value = (fields.get(key) or "").strip()
        if value and value != _ZERO_DATE:
            try:
                moment = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
            except ValueError:
                raise ImportFileError(
                    record, f"its <wp:{key}> {value!r} is not a date (YYYY-MM-DD HH:MM:SS)"
                ) from None
            return utc(moment, record)
    raise ImportFileError(record, "it has no <wp:comment_date_gmt> nor <wp:comment_date>")
