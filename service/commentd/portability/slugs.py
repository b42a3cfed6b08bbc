"""From a source's page URL to the slug embed.js uses on that page (API.md), and the author's
map for pages whose URLs changed (`--map FILE`)."""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path
from urllib.parse import urlsplit

from commentd.comments.validation import normalize_slug
from commentd.errors import BadRequest
from commentd.portability.records import ImportFileError


def page_path(page: str) -> str:
    """The path of a page's URL or path, query and fragment dropped: what embed.js reads from
    location.pathname. `https://blog.example/2024/03/glute/?utm=x` → `/2024/03/glute/`;
    a bare path (`/about/`, Isso's `uri`) is its own path."""
    page = page.strip().replace("\\", "/")  # a browser reads "\\" in a web URL as "/"
    try:
        parts = urlsplit(page)
    except ValueError:  # an unbalanced "[" in a host
        parts = urlsplit("/" + page.split("://", 1)[-1].split("/", 1)[-1])
    return without_dot_segments(parts.path)


_DOT = frozenset({".", "%2e"})
_DOTS = frozenset({"..", ".%2e", "%2e.", "%2e%2e"})


def without_dot_segments(path: str) -> str:
    """`path` with its "." and ".." segments resolved (also written %2E), as a browser does
    before a page sees location.pathname (WHATWG URL standard, path state; RFC 3986 5.2.4):
    `/a/./b/../c/` → `/a/c/`."""
    segments = path.split("/")
    kept: list[str] = []
    for index, segment in enumerate(segments):
        folded = segment.lower()
        last = index == len(segments) - 1
        if folded in _DOTS:
            if len(kept) > 1:
                kept.pop()
            if last:
                kept.append("")
        elif folded in _DOT:
            if last:
                kept.append("")
        else:
            kept.append(segment)
    return "/".join(kept)


def slug_for_page(page: str) -> str:
    """The canonical slug (validation.normalize_slug) of the page at URL or path `page`;
    raises BadRequest when it has none (an empty path: a site's front page)."""
    return normalize_slug(page_path(page))


class SlugMap:
    """The author's map of old page → slug, read from a CSV file of two columns (old URL or
    path, new slug; a header row `old,slug` is allowed). A page is looked up by its whole URL
    first, then by its path's canonical slug, so `https://old.example/p/1/` and `/p/1` are
    one key."""

    def __init__(self, rows: dict[str, str]) -> None:
        self._rows = rows

    @classmethod
    def read(cls, path: Path) -> SlugMap:
        """The map in the CSV file at `path`; raises ImportFileError naming the line of a row
        that is not two columns or whose slug is not a slug, OSError if it cannot be read."""
        rows: dict[str, str] = {}
        with path.open(newline="", encoding="utf-8-sig") as file:
            for number, row in enumerate(csv.reader(file), start=1):
                if not row or (number == 1 and [c.strip().lower() for c in row] == ["old", "slug"]):
                    continue
                if len(row) != 2:
                    raise ImportFileError(
                        f"{path.name} line {number}", "a map row is two columns: old URL, slug"
                    )
                old, new = row[0].strip(), row[1].strip()
                try:
                    slug = normalize_slug(new)
                except BadRequest as error:
                    raise ImportFileError(f"{path.name} line {number}", error.message) from None
                rows[old] = slug
                with contextlib.suppress(BadRequest):
                    rows.setdefault(slug_for_page(old), slug)
        return cls(rows)

    def slug(self, page: str) -> str:
        """The slug for `page`: the map's, else its own (slug_for_page, raising BadRequest)."""
        mapped = self._rows.get(page.strip())
        if mapped is not None:
            return mapped
        own = slug_for_page(page)
        return self._rows.get(own, own)
