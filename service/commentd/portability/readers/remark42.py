"""A Remark42 backup file (plain or gzipped) → SourceComment records.

The format is what Remark42's exporter writes (umputun/remark42,
backend/app/migrator/native.go, Native.Export; the automatic backups of
backend/app/migrator/backup.go are the same stream gzipped, named backup-SITE-YYYYMMDD.gz):

- line 1, the meta: {"version": 1, "users": [UserMetaData...], "posts": [PostMetaData...]}
  (backend/app/store/service/service.go). A user's "details" may hold the "email" the
  user subscribed to replies with (backend/app/store/engine/engine.go, UserDetailEntry);
  a post with "read_only": true is closed to new comments. Remark42 imports version 0 too.
- then one comment per line, a store.Comment (backend/app/store/comment.go): "id", "pid"
  (the parent's id, "" for none), "text" (HTML, rendered from Markdown and sanitised),
  "orig" (the Markdown as typed; absent on comments Remark42 itself imported from Disqus
  or WordPress, which carry "imported": true), "user" {"name", "id", "picture", "ip" (an
  HMAC of the address, not an address), "admin", "block"...}, "locator" {"site", "url"},
  "time" (RFC 3339, any offset, up to nanoseconds), "delete" (true: deleted; its text is
  blanked), "edit", "pin", "title".

Text: `orig` as Markdown when it is there, else `text` as HTML. `orig` is what the person
wrote, so commentd renders it exactly as it renders its own new comments; `text` is
Remark42's rendering of it, with Remark42's own additions (image links through its
/api/v1/img proxy on the old server, shortened link texts, smart quotes), which would
outlive the old server as broken or foreign markup.

Status: Remark42 has no moderation queue and no spam state: a comment is published or
deleted. A comment whose author is blocked ("user": {"block": true}) is shown collapsed
under "Blocked" by Remark42's widget, so it comes in PENDING for the moderator to decide
rather than in full view. Email: comments carry none; the meta's user details give it
for users who subscribed to replies, else "". The hashed IP is not passed on as `ip`:
it identifies no address, and commentd's own hash of it would match nothing.

Memory: the meta line is held while reading (the users who have an email, the pages that
are read-only); comments are read one line at a time.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from commentd.models import CommentStatus
from commentd.portability.records import (
    ImportFileError,
    Markup,
    Progress,
    Skip,
    SourceComment,
    open_counted,
    utc,
)

_GZIP_MAGIC = b"\x1f\x8b"
_VERSIONS = (0, 1)  # what Remark42's Native.Import accepts


class _Meta:
    """What the meta line says that the comments need: emails by user id, read-only URLs."""

    def __init__(self, emails: dict[str, str], read_only: set[str]) -> None:
        self.emails = emails
        self.read_only = read_only


def read(path: Path, progress: Progress) -> Iterator[SourceComment]:
    """The comments of the Remark42 backup at `path`, in file order (Remark42 writes a
    page's comments oldest first, so parents come before their replies), one line in memory
    at a time. A gzipped file is recognised by its first two bytes, whatever its name.

    Progress is reported in bytes of the file as stored (compressed, when it is). Raises
    OSError when the file cannot be opened, ImportFileError("line N", ...) when a line is
    not what Remark42 writes there (not UTF-8, not JSON, a field missing or of the wrong
    type, a meta version other than 0 or 1) or the file has no meta line, and
    ImportFileError naming the line being read when the gzip stream is damaged or cut short.
    """
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(open_counted(path, progress))
        assert isinstance(raw, io.BufferedReader)  # what open_counted gives: it has peek()
        stream: io.BufferedIOBase = raw
        if raw.peek(len(_GZIP_MAGIC))[: len(_GZIP_MAGIC)] == _GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=raw, mode="rb")
            stack.callback(stream.close)
        meta: _Meta | None = None
        number = 0
        while True:
            number += 1
            try:
                line = stream.readline()
            except (EOFError, gzip.BadGzipFile, zlib.error) as error:
                raise ImportFileError(
                    f"line {number}", f"the gzip stream is damaged or cut short: {error}"
                ) from error
            if not line:
                break
            if not line.strip():
                continue
            value = _json(line, number)
            if meta is None:
                meta = _meta(value, number)
            else:
                yield _comment(value, number, meta)
        if meta is None:
            raise ImportFileError("line 1", "the file is empty: no Remark42 meta line")


def _json(line: bytes, number: int) -> dict[str, object]:
    """One line → its JSON object; ImportFileError("line N") when it is not one."""
    try:
        value = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as error:
        message = f"not UTF-8 (byte {error.start} of the line)"
        raise ImportFileError(f"line {number}", message) from error
    except json.JSONDecodeError as error:
        message = f"not JSON: {error.msg} (column {error.colno})"
        raise ImportFileError(f"line {number}", message) from error
    except RecursionError:
        raise ImportFileError(f"line {number}", "its JSON nests too deeply") from None
    if not isinstance(value, dict):
        raise ImportFileError(f"line {number}", "not a JSON object")
    return value


def _meta(value: dict[str, object], number: int) -> _Meta:
    """The first line: {"version", "users", "posts"}."""
    place = f"line {number}"
    if "version" not in value:
        raise ImportFileError(place, 'not a Remark42 backup: its first line has no "version"')
    version = value["version"]
    if version not in _VERSIONS or isinstance(version, bool):
        message = f"Remark42 backup version {version!r}: only 0 and 1 are known"
        raise ImportFileError(place, message)
    emails: dict[str, str] = {}
    for user in _list(value.get("users"), place, "users"):
        details = user.get("details")
        if isinstance(user.get("id"), str) and isinstance(details, dict):
            email = details.get("email")
            if isinstance(email, str) and email.strip():
                emails[str(user["id"])] = email.strip()
    read_only = {
        str(post["url"])
        for post in _list(value.get("posts"), place, "posts")
        if post.get("read_only") is True and isinstance(post.get("url"), str)
    }
    return _Meta(emails, read_only)


def _list(value: object, place: str, name: str) -> list[dict[str, object]]:
    """The meta's list `name` (null or absent: empty), each item an object."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ImportFileError(place, f'"{name}" is not a list of objects')
    return value


def _comment(value: dict[str, object], number: int, meta: _Meta) -> SourceComment:
    """A comment line → its SourceComment."""
    place = f"line {number}"
    cid = _str(value, "id", place)
    if not cid:
        raise ImportFileError(place, 'the comment has an empty "id"')
    user = _object(value, "user", place)
    locator = _object(value, "locator", place)
    url = _str(locator, "url", place)
    orig = value.get("orig")
    if isinstance(orig, str) and orig:
        text, markup = orig, Markup.MARKDOWN
    else:
        text, markup = _str(value, "text", place, default=""), Markup.HTML
    deleted = value.get("delete") is True
    blocked = user.get("block") is True
    return SourceComment(
        source_id=cid,
        parent_id=_str(value, "pid", place, default="") or None,
        page=url,
        name=_str(user, "name", place, default="").strip(),
        email=meta.emails.get(_str(user, "id", place, default=""), ""),
        website=None,  # Remark42 keeps none: users come from login providers
        text=text,
        markup=markup,
        created_at=_time(value.get("time"), place),
        status=CommentStatus.PENDING if blocked else CommentStatus.APPROVED,
        skip=Skip.DELETED if deleted else None,
        ip=None,
        record=place,
        closed=url in meta.read_only,
    )


def _str(value: dict[str, object], key: str, place: str, *, default: str | None = None) -> str:
    """value[key], a string; `default` when absent or null (ImportFileError without one)."""
    item = value.get(key)
    if item is None and default is not None:
        return default
    if not isinstance(item, str):
        raise ImportFileError(place, f'"{key}" is not a string: {item!r}'[:200])
    return item


def _object(value: dict[str, object], key: str, place: str) -> dict[str, object]:
    item = value.get(key)
    if not isinstance(item, dict):
        raise ImportFileError(place, f'"{key}" is not an object')
    return item


def _time(value: object, place: str) -> datetime:
    """An RFC 3339 time as Go writes it (offset or Z, 0 to 9 fraction digits) → aware UTC."""
    if not isinstance(value, str):
        raise ImportFileError(place, f'"time" is not a string: {value!r}')
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise ImportFileError(place, f'"time" {value!r} is not an RFC 3339 time') from error
    if parsed.tzinfo is None:
        raise ImportFileError(place, f'"time" {value!r} has no time zone')
    return utc(parsed, place)
