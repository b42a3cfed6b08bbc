"""Commento's JSON export and Comentario's, in either of the formats Comentario writes.

Commento (https://gitlab.com/commento/commento, mirrored at github.com/adtac/commento;
api/domain_export.go, api/comment.go, api/commenter.go) sends one domain's export as
`<domain>-<unix time>.json.gz`:

    {"version": 1,
     "comments": [{"commentHex", "domain", "url" (the page's path on the domain),
                   "commenterHex" ("anonymous" for an anonymous comment), "markdown",
                   "html" (empty in exports), "parentHex" ("root": top level), "score",
                   "state" ("approved" | "unapproved" | "flagged"), "creationDate" (RFC 3339),
                   "direction", "deleted"}, ...],
     "commenters": [{"commenterHex", "email", "name", "link" ("undefined": none), "photo",
                     "provider", "joinDate", "isModerator"}, ...]}

Comentario (https://gitlab.com/comentario/comentario, internal/svc/impex_comentario.go)
reads and writes that as its version 1, with the page's path under "path" (and the host
under "host"), "websiteUrl" for "link" and sixty-four zeros for the anonymous commenter; its
own exports since 3.0 are version 3:

    {"version": 3,
     "pages": [{"id", "path", "title", "isReadonly", ...}, ...],
     "comments": [{"id", "parentId" (absent: top level), "pageId", "markdown", "html",
                   "isApproved", "isPending", "isDeleted", "createdTime", "userCreated",
                   "authorName" (an unregistered author's), "authorIP", "url", ...}, ...],
     "commenters": [{"id", "email", "name", "websiteUrl", ...}, ...]}

Statuses. Commento's "unapproved" waits for a moderator: PENDING. "flagged" is what its
Akismet check gives a comment it judges spam (api/comment_new.go): SPAM. Commento deletes by
setting `deleted` and overwriting the text with "[deleted]"; its export does not carry the
flag, so "[deleted]" text is taken as deleted too, as Comentario's own importer does.
Comentario 3: approved → APPROVED, pending → PENDING, neither (a moderator rejected it) →
REJECTED, `isDeleted` → skipped as deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ijson  # ijson ships no type information

from commentd.models import CommentStatus
from commentd.portability.readers.jsonfiles import (
    READ_ERRORS,
    JsonStream,
    SharedProgress,
    describe,
    first_character,
    items,
    open_json,
    parse,
    parse_date,
    text,
    wrong_start,
)
from commentd.portability.records import (
    ImportFileError,
    Markup,
    Progress,
    Skip,
    SourceComment,
)

_FORMAT = "a Commento or Comentario export"
_VERSIONS = (1, 3)
# The commenter hex of anonymous comments: Commento's, and Comentario's version 1.
_ANONYMOUS_HEXES = frozenset({"anonymous", "0" * 64})
_ANONYMOUS_ID = "00000000-0000-0000-0000-000000000000"  # Comentario 3's anonymous user
_STATES = {
    "approved": CommentStatus.APPROVED,
    "": CommentStatus.APPROVED,  # exports from before Commento had moderation
    "unapproved": CommentStatus.PENDING,
    "flagged": CommentStatus.SPAM,
}


@dataclass(frozen=True, slots=True)
class _Author:
    name: str
    email: str
    website: str | None


@dataclass(slots=True)
class _Index:
    """What the first pass keeps: bounded by the numbers of commenters and pages, never of
    comments."""

    version: int | None = None
    authors: dict[str, _Author] = field(default_factory=dict)
    pages: dict[str, tuple[str, bool]] = field(default_factory=dict)  # id → (path, closed)


def read(path: Path, progress: Progress) -> Iterator[SourceComment]:
    """The comments of the Commento or Comentario export at `path` (JSON, plain or gzipped),
    in file order.

    The file is read twice: its commenters (and Comentario 3's pages) may come after the
    comments (Commento writes them last), so the first pass keeps commenter id → name, email
    and website and page id → path, memory bounded by the number of commenters and pages;
    the second yields the comments. Progress counts the bytes of both passes.
    Raises ImportFileError naming the comment, commenter or page when the file is not such
    an export, is malformed or cut short, or a comment lacks its id or date.
    """
    size = path.stat().st_size
    progress.start(2 * size, "B")
    shared = SharedProgress(progress)
    with open_json(path, shared) as stream:
        index = _scan(stream)
    with open_json(path, shared) as stream:
        for place, record in items(stream, "comments.item", "comment"):
            if not isinstance(record, dict):
                raise ImportFileError(place, "a comment is a JSON object")
            if index.version == 1:
                yield _comment_v1(record, place, index)
            else:
                yield _comment_v3(record, place, index)


def _scan(stream: JsonStream) -> _Index:
    """The first pass: the version, the commenters and the pages."""
    start = first_character(stream)
    if start != "{":
        raise ImportFileError("byte 0", wrong_start(start, _FORMAT))
    index = _Index()
    kinds = {"comments.item": "comment", "commenters.item": "commenter", "pages.item": "page"}
    counts = dict.fromkeys(kinds, 0)
    place = ""  # the last element begun, for a parse error's message
    builder: ijson.ObjectBuilder | None = None
    building = ""  # the prefix of the element being built
    try:
        for prefix, event, value in parse(stream):
            if builder is not None:
                builder.event(event, value)
                if prefix == building and event in ("end_map", "end_array"):
                    _keep(index, kinds[building], place, builder.value)
                    builder = None
            elif prefix in kinds and event not in ("end_map", "end_array", "map_key"):
                counts[prefix] += 1
                place = f"{kinds[prefix]} {counts[prefix]}"
                if prefix == "comments.item":
                    continue
                building = prefix
                builder = ijson.ObjectBuilder()
                builder.event(event, value)
                if event not in ("start_map", "start_array"):  # a scalar where an object belongs
                    _keep(index, kinds[prefix], place, builder.value)
                    builder = None
            elif prefix == "version" and event == "number":
                index.version = int(value)
    except READ_ERRORS as error:
        raise ImportFileError(place, describe(error)) from None
    if index.version is None:
        raise ImportFileError("", f'the file has no "version": it is not {_FORMAT}')
    if index.version not in _VERSIONS:
        raise ImportFileError(
            "", f"export version {index.version} is not one this reader knows (1 or 3)"
        )
    return index


def _keep(index: _Index, kind: str, place: str, record: object) -> None:
    if not isinstance(record, dict):
        raise ImportFileError(place, f"a {kind} is a JSON object")
    if kind == "page":
        page_id = text(record, "id", place, required=True)
        closed = record.get("isReadonly") is True
        index.pages[page_id] = (text(record, "path", place), closed)
        return
    # Commento: commenterHex, link; Comentario 1: commenterHex, websiteUrl; 3: id, websiteUrl.
    key = "commenterHex" if "commenterHex" in record else "id"
    author_id = text(record, key, place, required=True)
    website = text(record, "link", place) or text(record, "websiteUrl", place)
    index.authors[author_id] = _Author(
        name=text(record, "name", place).strip(),
        email=_defined(text(record, "email", place)),
        website=_defined(website) or None,
    )


def _defined(value: str) -> str:
    """Commento stores "undefined" for a commenter who gave no email or website."""
    value = value.strip()
    return "" if value == "undefined" else value


def _comment_v1(record: dict[str, object], place: str, index: _Index) -> SourceComment:
    comment_id = text(record, "commentHex", place, required=True)
    parent = text(record, "parentHex", place).strip()
    commenter = text(record, "commenterHex", place).strip()
    author = _author(index, commenter, "", anonymous=commenter in _ANONYMOUS_HEXES or not commenter)
    markdown = text(record, "markdown", place)
    html = text(record, "html", place)
    state = text(record, "state", place).strip()
    deleted = record.get("deleted") is True or markdown.strip() == "[deleted]"
    return SourceComment(
        source_id=comment_id,
        parent_id=None if parent in ("", "root") else parent,
        # Commento files the page's path under "url", Comentario under "path".
        page=text(record, "url", place) or text(record, "path", place),
        name=author.name,
        email=author.email,
        website=author.website,
        text=markdown if markdown or not html else html,
        markup=Markup.MARKDOWN if markdown or not html else Markup.HTML,
        created_at=parse_date(
            text(record, "creationDate", place, required=True), place, "creationDate"
        ),
        status=_STATES.get(state, CommentStatus.PENDING),
        skip=Skip.DELETED if deleted else None,
        record=place,
    )


def _comment_v3(record: dict[str, object], place: str, index: _Index) -> SourceComment:
    comment_id = text(record, "id", place, required=True)
    page_id = text(record, "pageId", place, required=True)
    page, closed = index.pages.get(page_id, ("", False))
    if not page:
        # The comment's own URL ("https://host/path#comentario-<id>") names its page too.
        page = text(record, "url", place)
        if not page:
            raise ImportFileError(place, f"its page {page_id} is not among the file's pages")
    parent = text(record, "parentId", place).strip()
    user = text(record, "userCreated", place).strip()
    author = _author(
        index,
        user,
        text(record, "authorName", place).strip(),
        anonymous=user in ("", _ANONYMOUS_ID),
    )
    if record.get("isApproved") is True:
        status = CommentStatus.APPROVED
    elif record.get("isPending") is True:
        status = CommentStatus.PENDING
    else:
        status = CommentStatus.REJECTED
    markdown = text(record, "markdown", place)
    html = text(record, "html", place)
    return SourceComment(
        source_id=comment_id,
        parent_id=parent or None,
        page=page,
        name=author.name,
        email=author.email,
        website=author.website,
        text=markdown if markdown or not html else html,
        markup=Markup.MARKDOWN if markdown or not html else Markup.HTML,
        created_at=parse_date(
            text(record, "createdTime", place, required=True), place, "createdTime"
        ),
        status=status,
        skip=Skip.DELETED if record.get("isDeleted") is True else None,
        ip=text(record, "authorIP", place).strip() or None,
        record=place,
        closed=closed,
    )


def _author(index: _Index, author_id: str, fallback_name: str, *, anonymous: bool) -> _Author:
    """The commenter the first pass kept; an anonymous author (or one the file does not list)
    has no email, and the name the comment itself gives if any."""
    if not anonymous:
        known = index.authors.get(author_id)
        if known is not None:
            return known
    return _Author(name=fallback_name, email="", website=None)
