"""What every reader hands the importer: one SourceComment per comment of the source file.

A reader knows its format and nothing of the database; the importer (importing.py) knows the
database and nothing of formats. Between them is this module.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Protocol

from commentd.models import CommentStatus


class Markup(StrEnum):
    """How a source stored a comment's text, so the importer renders it the right way."""

    HTML = "html"  # sanitised to what a rendered comment may contain (Disqus, Remark42's text)
    WORDPRESS = "wordpress"  # HTML whose bare line breaks are paragraphs (wpautop), then as HTML
    MARKDOWN = "markdown"  # rendered like a new comment (Isso, Commento, Artalk)
    PLAIN = "plain"  # text, shown as typed: escaped, line breaks kept (rendered as Markdown)


class Skip(StrEnum):
    """Why a source comment is not imported (counted in the summary under this value)."""

    DELETED = "deleted"  # deleted or trashed at the source
    PINGBACK = "pingback"
    TRACKBACK = "trackback"
    EMPTY = "empty"  # no visible text at all
    NOT_A_COMMENT = "not_a_comment"  # a record the source keeps among comments that is none


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceComment:
    """One comment as the source file has it, in the source's own terms.

    `source_id` is unique within one source system (a Disqus post id, a WordPress
    comment_ID, ...): the importer remembers it, so the same file imported twice stores nothing
    new. `parent_id` is the source id of the comment this one answers (None: top level).
    `page` is the URL or path of the page the comment is on (Isso: the thread's `uri`); the
    importer turns it into the slug embed.js uses there (slugs.slug_for_page).
    `status` is where the source had it, or `skip` why it is not imported (then status is
    ignored). `created_at` is aware UTC. `ip` is the address the source recorded, if any:
    it is stored only as a keyed hash, like a new comment's. `record` names where in the file
    the comment is, for messages ("line 12", "post 4567").
    """

    source_id: str
    parent_id: str | None
    page: str
    name: str
    email: str  # "" when the source has none
    website: str | None
    text: str
    markup: Markup
    created_at: datetime
    status: CommentStatus = CommentStatus.APPROVED
    skip: Skip | None = None
    ip: str | None = None
    record: str = ""
    closed: bool = False  # the source had the page closed to new comments
    extra: dict[str, object] = field(default_factory=dict)  # commentd's own export only


@dataclass(frozen=True, slots=True, kw_only=True)
class SourcePost:
    """A page the source knew even without comments (commentd's own export: a post closed
    before its first comment). The importer creates its post if it has none."""

    page: str
    closed: bool = False
    created_at: datetime | None = None
    record: str = ""
    title: str | None = None  # the post's title, kept where the post here has none


class ImportFileError(Exception):
    """The file cannot be read as its format: nothing is stored. `place` names where ("line
    12", "record 4567", "byte 1024"); str() is the whole message, place first."""

    def __init__(self, place: str, message: str) -> None:
        super().__init__(f"{place}: {message}" if place else message)
        self.place = place
        self.message = message

    def __reduce__(self) -> tuple[type[ImportFileError], tuple[str, str]]:
        """Pickled as (place, message): it crosses from the reading process to the importing
        one."""
        return (ImportFileError, (self.place, self.message))


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # Unix time 0: nothing before it is a real date here
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def utc(moment: datetime, place: str) -> datetime:
    """`moment` as aware UTC (a naive one is taken as UTC). Raises ImportFileError naming
    `place` when it cannot be one (an offset past year 1 or 9999) or is not a date a comment
    can have: before 1970, or after 9000 (Go's zero time, 0001-01-01, is a missing date)."""
    try:
        converted = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise ImportFileError(place, f"its date {moment.isoformat()} is out of range") from None
    if not EARLIEST <= converted < LATEST:
        raise ImportFileError(
            place,
            f"its date {moment.isoformat()} is not one a comment can have "
            "(before 1970 or after 9000)",
        )
    return converted


class Progress(Protocol):
    """Where a reader reports how far it is (a progress bar on a terminal, or nothing)."""

    def start(self, total: int | None, unit: str) -> None:
        """The work ahead: `total` units of `unit` ("B" for bytes of the file, "comments")."""

    def advance(self, amount: int) -> None:
        """`amount` more units are done."""


class NoProgress:
    """A Progress that shows nothing (tests, --quiet, standard error not a terminal)."""

    def start(self, total: int | None, unit: str) -> None:
        """Ignored."""

    def advance(self, amount: int) -> None:
        """Ignored."""


class _CountingReader(io.RawIOBase):
    """A binary file that tells `advance` how many bytes each read returned."""

    def __init__(self, raw: BinaryIO, advance: Callable[[int], None]) -> None:
        self._raw = raw
        self._advance = advance
        self._position = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        """Bytes read so far (the buffered reader above subtracts what it has not handed on)."""
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self._position += len(data)
        self._advance(len(data))
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_counted(path: Path, progress: Progress) -> BinaryIO:
    """`path` opened for reading bytes, buffered, each byte read reported to `progress` (whose
    total is the file's size in bytes); its tell() is the byte offset reached (for messages).
    Raises OSError as open() does."""
    raw = path.open("rb", buffering=0)
    progress.start(path.stat().st_size, "B")
    return io.BufferedReader(_CountingReader(raw, progress.advance), buffer_size=1 << 16)


Reader = Callable[[Path, Progress], Iterator[SourceComment | SourcePost]]
"""A format's reader: the file at the path → its comments in file order, streaming (memory
bounded whatever the file's size). Raises ImportFileError naming the place when the file is
not that format or is cut short, OSError when it cannot be opened."""
