"""Artrans, the JSON interchange format of Artalk, which its converters write from Waline,
Twikoo, Valine, Commento, Typecho, WordPress and Disqus.

Artrans (https://artalk.js.org/guide/transfer.html; Artalk's internal/entity/artran.go and
internal/artransfer/exporter.go, importer.go) is a JSON array of objects, one per comment:

    [{"id", "rid" (the id of the comment it replies to; "" or "0": none), "content",
      "ua", "ip", "is_collapsed", "is_pending", "is_pinned", "vote_up", "vote_down",
      "created_at", "updated_at", "nick", "email", "link", "badge_name", "badge_color",
      "page_key" (a path, or a full URL), "page_title", "page_admin_only",
      "site_name", "site_urls"}, ...]

Artalk writes every value as a string and reads any JSON value as its text, so converters'
booleans and numbers (Artransfer's web tool writes `"is_pending": true`) are read the same.
Booleans are true when "true" or "1", as Artalk reads them.

Dates: Artalk writes "2006-01-02 15:04:05 -0700" (since 2.9; before, Go's time.String():
"2021-10-28 20:50:15 +0800 CST"), Artransfer-CLI's Waline converter time.String() too, and
the web tool's converters (Twikoo, Valine, Commento, ...) JavaScript's toJSON()
("2021-02-04T06:49:46.000Z"). A date without a zone is taken as UTC (jsonfiles.parse_date).

Artrans has no spam or deleted flags: Artalk's anti-spam holds a comment as pending, its
deleted comments are not exported, and the converters map their sources' spam flags
(Twikoo's and Valine's isSpam, Waline's "waiting") to `is_pending`: PENDING. A page with
`page_admin_only` takes no comments from readers: closed.

Markup: Artalk's comments are Markdown. Converters from systems that store HTML (Twikoo,
Valine, WordPress, Disqus) put that HTML in `content`: a text that is one or more HTML block
elements (`<p>…</p>`) is read as HTML, anything else as Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from commentd.models import CommentStatus
from commentd.portability.readers.jsonfiles import (
    first_character,
    items,
    open_json,
    parse_date,
    text,
    wrong_start,
)
from commentd.portability.records import (
    ImportFileError,
    Markup,
    Progress,
    SourceComment,
)

_FORMAT = "an Artrans file (a JSON array of comments)"
_NO_PARENT = frozenset({"", "0"})
_TRUE = frozenset({"true", "1"})
# A text that starts with an HTML block element and ends with a tag: a converter's HTML.
_HTML_BLOCK = re.compile(
    r"\A\s*<(?:p|div|blockquote|pre|ul|ol|table|figure|section|h[1-6])[\s>].*>\s*\Z",
    re.IGNORECASE | re.DOTALL,
)


def read(path: Path, progress: Progress) -> Iterator[SourceComment]:
    """The comments of the Artrans file at `path` (JSON, plain or gzipped), in file order,
    one element of the array at a time. Raises ImportFileError naming the record (its
    number in the array, from 1) when the file is not an array, is malformed or cut short,
    or a record is not an object or lacks its id, page_key or created_at."""
    with open_json(path, progress) as stream:
        start = first_character(stream)
        if start != "[":
            message = wrong_start(start, _FORMAT)
            if start == "{":
                message += " (a Commento export? use `commentd import commento`)"
            raise ImportFileError("byte 0", message)
        for place, record in items(stream, "item", "record"):
            if not isinstance(record, dict):
                raise ImportFileError(place, "an Artrans record is a JSON object")
            yield _comment(record, place)


def _comment(record: dict[str, object], place: str) -> SourceComment:
    comment_id = text(record, "id", place, required=True).strip()
    parent = text(record, "rid", place).strip()
    # Artalk 1 (PHP) and some converters name the date "date".
    date_key = "created_at" if text(record, "created_at", place).strip() else "date"
    content = text(record, "content", place)
    return SourceComment(
        source_id=comment_id,
        parent_id=None if parent in _NO_PARENT or parent == comment_id else parent,
        page=text(record, "page_key", place, required=True).strip(),
        name=text(record, "nick", place).strip(),
        email=text(record, "email", place).strip(),
        website=text(record, "link", place).strip() or None,
        text=content,
        markup=Markup.HTML if _HTML_BLOCK.match(content) else Markup.MARKDOWN,
        created_at=parse_date(text(record, date_key, place, required=True), place, date_key),
        status=(
            CommentStatus.PENDING
            if text(record, "is_pending", place).strip().lower() in _TRUE
            else CommentStatus.APPROVED
        ),
        ip=text(record, "ip", place).strip() or None,
        record=place,
        closed=text(record, "page_admin_only", place).strip().lower() in _TRUE,
    )
