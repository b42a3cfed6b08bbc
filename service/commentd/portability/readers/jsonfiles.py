"""What the JSON readers (commento, artalk) share: a JSON file opened as a stream (plain or
gzipped), its parse errors as ImportFileError, and the dates their exporters write.

The JSON is parsed by ijson's C backend (yajl2_c) as it is read, so memory stays bounded
whatever the file's size; nothing here loads a whole file.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Protocol, cast

import ijson  # ijson ships no type information

from commentd.portability.records import ImportFileError, Progress, open_counted, utc

_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"

# Errors while reading: ijson's (malformed or cut-short JSON), gzip's (corrupt or cut-short
# compressed data: BadGzipFile is an OSError, the others are not).
READ_ERRORS = (ijson.JSONError, gzip.BadGzipFile, EOFError, zlib.error, UnicodeDecodeError)


class JsonStream(Protocol):
    """A binary stream that can show what comes next without consuming it."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to `size` bytes (all that are left when negative)."""

    def peek(self, size: int, /) -> bytes:
        """At least one byte still to come unless at the end, not consumed."""


class SharedProgress:
    """A Progress that forwards bytes read to another one and ignores `start`: a reader that
    reads its file more than once starts the real Progress itself, on all passes' bytes."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def start(self, total: int | None, unit: str) -> None:
        """Ignored: the reader started the shared Progress."""

    def advance(self, amount: int) -> None:
        """Forwarded."""
        self._progress.advance(amount)


@contextmanager
def open_json(path: Path, progress: Progress) -> Iterator[JsonStream]:
    """The JSON text of the file at `path` as a binary stream: gunzipped when the file is
    gzip data (Commento and Comentario send their exports gzipped; `artalk export | gzip` is
    the documented backup), a UTF-8 byte order mark skipped. Progress counts the file's own
    bytes. Raises OSError as open() does."""
    counted = open_counted(path, progress)
    try:
        stream: JsonStream = cast(io.BufferedReader, counted)  # what open_counted returns
        if stream.peek(2)[:2] == _GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=counted, mode="rb")
        try:
            if stream.peek(3)[:3] == _UTF8_BOM:
                stream.read(3)
        except READ_ERRORS as error:
            raise ImportFileError("byte 0", f"cannot be read: {describe(error)}") from None
        yield stream
    finally:
        counted.close()


def first_character(stream: JsonStream) -> str:
    """The first character of the JSON text that is not white space ("" for an empty file),
    without consuming it: `[` for an array, `{` for an object, `<` for XML given by mistake."""
    try:
        while True:
            head = stream.peek(1)
            if not head:
                return ""
            stripped = head.lstrip(b" \t\r\n")
            if stripped:
                return chr(stripped[0])
            stream.read(len(head))
    except READ_ERRORS as error:
        raise ImportFileError("byte 0", f"cannot be read: {describe(error)}") from None


def wrong_start(character: str, expected: str) -> str:
    """Why a file whose JSON text starts with `character` is not the `expected` file."""
    if character == "":
        return "the file is empty"
    if character == "<":
        return f"this is XML (a Disqus or WordPress export?), not {expected}"
    if character == "[":
        return (
            f"this is a JSON array (an Artrans file? use `commentd import artalk`), not {expected}"
        )
    if character == "{":
        return f"this is a JSON object, not {expected}"
    return f"this is not JSON, not {expected}"


MAX_DEPTH = 64  # an export's records are a few levels deep; this is far past any


class TooDeep(ijson.JSONError):  # type: ignore[misc]
    """The JSON nests deeper than MAX_DEPTH: refused before it costs memory."""


def parse(
    stream: IO[bytes] | JsonStream, *, use_float: bool = False
) -> Iterator[tuple[str, str, Any]]:
    """ijson.parse's (prefix, event, value) events, made here from ijson.basic_parse's so
    that nesting past MAX_DEPTH is refused at once (TooDeep). ijson's own parse builds every
    event's prefix in its C backend: 30,000 levels of "[" (60 KB) took 2.2 GB before a single
    event came out. Feed these to ijson.items or ijson.ObjectBuilder as ijson.parse's."""
    stack: list[tuple[str, str]] = []  # each open container's prefix, and its value's
    for event, value in ijson.basic_parse(stream, use_float=use_float):
        here = stack[-1][1] if stack else ""
        if event == "map_key":
            prefix = stack[-1][0]
            stack[-1] = (prefix, f"{prefix}.{value}" if prefix else str(value))
            yield prefix, event, value
        elif event in ("start_map", "start_array"):
            if len(stack) >= MAX_DEPTH:
                raise TooDeep(f"the JSON nests deeper than {MAX_DEPTH} levels")
            yield here, event, value
            child = (f"{here}.item" if here else "item") if event == "start_array" else ""
            stack.append((here, child))
        elif event in ("end_map", "end_array"):
            prefix = stack.pop()[0]
            yield prefix, event, value
        else:
            yield here, event, value


def items(stream: JsonStream, prefix: str, place: str) -> Iterator[tuple[str, object]]:
    """The values at ijson `prefix` in `stream` ("item": each element of a top-level array),
    each with its place (`place` and its number from 1: "record 3"), one at a time. Raises
    ImportFileError when the JSON is malformed or cut short, naming the value after the
    last one read whole: the one the fault is in, or just before."""
    number = 0
    try:
        for number, value in enumerate(ijson.items(parse(stream), prefix), start=1):
            yield f"{place} {number}", value
    except READ_ERRORS as error:
        raise ImportFileError(f"{place} {number + 1}", describe(error)) from None


def describe(error: BaseException) -> str:
    """A one-line account of a read error: yajl's message and the text near the fault."""
    if isinstance(error, ijson.IncompleteJSONError | ijson.JSONError):
        lines = [line.strip() for line in str(error).splitlines()]
        message = lines[0] if lines else "malformed JSON"
        near = lines[1] if len(lines) > 2 and lines[1] else ""
        if "premature EOF" in message:
            return "the JSON ends too early: the file is cut short"
        return f"malformed JSON: {message}" + (f" near {near[:80]!r}" if near else "")
    if isinstance(error, EOFError):
        return "the gzip data ends too early: the file is cut short"
    if isinstance(error, UnicodeDecodeError):
        return "the text is not UTF-8"
    return f"the gzip data is corrupt ({error})"


def text(record: dict[str, object], key: str, place: str, *, required: bool = False) -> str:
    """The record's `key` as a string: a number or boolean as its JSON text (Artalk reads
    every field as a string), null or absent as "". Raises ImportFileError naming `place` when
    a required key is absent or empty, or the value is an array or object."""
    value = record.get(key)
    if isinstance(value, bool):
        result = "true" if value else "false"
    elif isinstance(value, str):
        result = value
    elif isinstance(value, int | Decimal | float):
        result = str(value)
    elif value is None:
        result = ""
    else:
        raise ImportFileError(place, f"{key!r} is not a string")
    if required and not result.strip():
        raise ImportFileError(place, f"{key!r} is missing")
    return result


# The dates the exporters write: RFC 3339 (Go's encoding/json, JavaScript's Date.toJSON:
# "2021-10-28T12:50:15.123Z"), Artalk's "2021-10-28 20:50:15 +0800", and Go's
# time.Time.String() (older Artalk, Artransfer-CLI): "2021-10-28 20:50:15.5 +0800 CST".
_DATE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?)?"
    r"\s*(?P<offset>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
    r"(?P<zone>\s+(?:[A-Za-z][A-Za-z0-9+-]{1,5}|[+-]\d{2}:?\d{2}))?"  # String()'s zone name
    r"(?:\s+m=[+-][\d.]+)?",  # String()'s monotonic clock reading
    re.IGNORECASE,
)


def parse_date(value: str, place: str, key: str) -> datetime:
    """An exporter's date → aware UTC. A date without a time zone is taken as UTC: Artalk
    reads one in its server's local zone, which the file does not say. Digits alone are a
    Unix time, in milliseconds from 12 digits (JavaScript's), else seconds. Raises
    ImportFileError naming `place` when `value` is none of these."""
    value = value.strip()
    if value.isdigit():
        number = int(value)
        seconds = number / 1000 if len(value) >= 12 else number
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ImportFileError(place, f"{key!r} is not a date: {value!r}") from None
    match = _DATE.fullmatch(value)
    if match is None or (match["zone"] and not match["offset"]):
        raise ImportFileError(place, f"{key!r} is not a date: {value!r}")
    try:
        moment = datetime.fromisoformat(match["date"]).replace(
            hour=int(match["hour"] or 0),
            minute=int(match["minute"] or 0),
            second=int(match["second"] or 0),
            microsecond=int((match["fraction"] or "0")[:6].ljust(6, "0")),
            tzinfo=_zone(match["offset"]),
        )
    except (ValueError, OverflowError):
        raise ImportFileError(place, f"{key!r} is not a date: {value!r}") from None
    return utc(moment, place)


def _zone(offset: str | None) -> timezone:
    if offset is None or offset.upper() in {"Z", "UTC", "GMT"}:
        return UTC
    digits = offset[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
    return timezone(timedelta(minutes=-minutes if offset[0] == "-" else minutes))
