"""commentd's own export (`commentd export json`), read back: the format is defined in
docs/export-format.md and written by portability/exporting.py.

Streamed with ijson: one post or comment object is in memory at a time. Each comment keeps
everything the service kept (its id, status, both texts, keys, moderation time, commenter),
in `SourceComment.extra`; its source id is "<instance>/<id>", the instance being the exporting
service's, so importing the same export twice stores nothing new.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import ijson

from commentd.comments.validation import page_title
from commentd.models import CommentStatus
from commentd.portability.readers.jsonfiles import parse
from commentd.portability.records import (
    ImportFileError,
    Markup,
    Progress,
    SourceComment,
    SourcePost,
    open_counted,
    utc,
)

FORMAT = "commentd"
VERSIONS = (1,)
_ITEMS = {"posts.item": "post", "comments.item": "comment"}


def read(path: Path, progress: Progress) -> Iterator[SourceComment | SourcePost]:
    """The posts, then the comments, of a commentd export at `path`. Raises ImportFileError
    for a file that is not one (naming the byte where the JSON broke, or the record)."""
    with open_counted(path, progress) as file:
        instance = ""
        counts = {"post": 0, "comment": 0}
        builder: ijson.ObjectBuilder | None = None
        current = ""
        events = parse(file, use_float=True)
        try:
            for prefix, event, value in events:
                if builder is not None:
                    builder.event(event, value)
                    if prefix == current and event in ("end_map", "end_array"):
                        kind = _ITEMS[current]
                        counts[kind] += 1
                        place = f"{kind} {counts[kind]}"
                        if kind == "post":
                            yield _post(builder.value, place)
                        else:
                            yield _comment(builder.value, instance, place)
                        builder = None
                    continue
                if prefix in _ITEMS and event in ("start_map", "start_array"):
                    if not instance:
                        raise ImportFileError("", "this is not a commentd export (no header)")
                    builder, current = ijson.ObjectBuilder(), prefix
                    builder.event(event, value)
                elif prefix == "format" and value != FORMAT:
                    raise ImportFileError("", f"this is not a commentd export (format {value!r})")
                elif prefix == "version" and value not in VERSIONS:
                    raise ImportFileError(
                        "", f"export version {value!r} is not one this commentd reads {VERSIONS}"
                    )
                elif prefix == "instance" and event == "string":
                    instance = str(value)
        except ijson.JSONError as error:
            raise ImportFileError(
                f"byte {file.tell()}", f"the file is not complete JSON ({error})"
            ) from None
        if not instance:
            raise ImportFileError("", "this is not a commentd export (no header)")


def _post(item: Any, place: str) -> SourcePost:
    if not isinstance(item, dict) or not isinstance(item.get("slug"), str):
        raise ImportFileError(place, "a post is an object with a slug")
    created_at = _time(item["created_at"], place) if item.get("created_at") else None
    return SourcePost(
        page=item["slug"],
        closed=item.get("closed") is True,
        created_at=created_at,
        record=place,
        title=page_title(item.get("title")),
    )


_TEXTS = ("name", "email", "body", "body_html")
MAX_ID = 2**31 - 1  # PostgreSQL's integer, and far from SQLite's last id (a sequence at its
# end would refuse every new comment)
_KEY = re.compile("[0-9a-f]{32}")
_TOKEN_HASH = re.compile("[0-9a-f]{64}")
REASON_MAX, REASONS_MAX = 200, 50
SOURCE_MAX, SOURCE_ID_MAX = 64, 255


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def _comment(item: Any, instance: str, place: str) -> SourceComment:
    if not isinstance(item, dict):
        raise ImportFileError(place, "a comment is an object")
    missing = [k for k in ("id", "slug", "status", "created_at", *_TEXTS) if k not in item]
    if missing:
        raise ImportFileError(place, f"missing {', '.join(missing)}")
    comment_id, parent_id = item["id"], item.get("parent_id")
    if not _is_id(comment_id) or not (parent_id is None or _is_id(parent_id)):
        raise ImportFileError(place, f"id and parent_id are whole numbers from 1 to {MAX_ID}")
    bad = [k for k in (*_TEXTS, "slug") if not isinstance(item[k], str)]
    if bad:
        raise ImportFileError(place, f"{', '.join(bad)} must be text")
    try:
        status = CommentStatus(item["status"])
    except ValueError:
        raise ImportFileError(place, f"unknown status {item['status']!r}") from None
    reasons = item.get("reasons")
    reasons = reasons if isinstance(reasons, list) else []
    extra: dict[str, object] = {
        "id": comment_id,
        "slug": item["slug"],
        "body_html": item["body_html"],
        "notify": item.get("notify") is True,
        "notify_approved": item.get("notify_approved") is True,
        "is_owner": item.get("is_owner") is True,
        "reasons": [
            r[:REASON_MAX]
            for r in (reasons if isinstance(reasons, list) else [])
            if isinstance(r, str)
        ][:REASONS_MAX],
    }
    # Keys are kept only as this service makes them (32 hex characters); any other value is
    # not one (a hand-edited file), and the importer makes the avatar's again.
    for key in ("avatar_key", "client_key", "body_key"):
        if isinstance(item.get(key), str) and _KEY.fullmatch(item[key]):
            extra[key] = item[key]
    score = item.get("spam_score")
    if isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score):
        extra["spam_score"] = float(score)
    for moment in ("moderated_at", "edited_at", "pinned_at"):
        if item.get(moment):
            extra[moment] = _time(item[moment], place)
    commenter = item.get("commenter")
    if (
        isinstance(commenter, dict)
        and isinstance(commenter.get("token_hash"), str)
        and _TOKEN_HASH.fullmatch(commenter["token_hash"])
    ):
        extra["commenter"] = {
            "token_hash": commenter["token_hash"],
            "email": str(commenter.get("email") or ""),
            "created_at": _time(commenter.get("created_at"), place),
            "confirmed_at": (
                _time(commenter["confirmed_at"], place) if commenter.get("confirmed_at") else None
            ),
        }
    sources = item.get("sources")
    extra["sources"] = [
        (s["source"], s["id"])
        for s in (sources if isinstance(sources, list) else [])
        if isinstance(s, dict)
        and isinstance(s.get("source"), str)
        and isinstance(s.get("id"), str)
        and 0 < len(s["source"]) <= SOURCE_MAX
        and 0 < len(s["id"]) <= SOURCE_ID_MAX
    ]
    try:
        markup = Markup(item.get("markup") or Markup.MARKDOWN)
    except ValueError:
        raise ImportFileError(place, f"unknown markup {item['markup']!r}") from None
    return SourceComment(
        source_id=f"{instance}/{comment_id}",
        parent_id=f"{instance}/{parent_id}" if parent_id is not None else None,
        page=item["slug"],
        name=item["name"],
        email=item["email"],
        website=item.get("website") if isinstance(item.get("website"), str) else None,
        text=item["body"],
        markup=markup,
        created_at=_time(item["created_at"], place),
        status=status,
        record=place,
        extra=extra,
    )


def _time(value: object, place: str) -> datetime:
    """An ISO 8601 time with its offset, as aware UTC."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ImportFileError(place, f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ImportFileError(place, f"{value!r} has no time zone")
    return utc(moment, place)
