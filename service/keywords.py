"""Keyword lists as WordPress authors know them, matched against a comment's fields.

An entry matches case-insensitively as a whole word or phrase ("cialis" does not match
"specialist"; "free money" matches "FREE  money"); a `*` at either end lets it match inside
words ("*casino*" matches "onlinecasinos", "viagra*" matches "viagras"). Dots and other
characters are literal, so "spam.example" matches a website or email on that domain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ENTRY_MAX = 100  # characters per entry
ENTRIES_MAX = 5000  # entries per list


def _pattern(entry: str) -> str:
    starts_inside, ends_inside = entry.startswith("*"), entry.endswith("*")
    core = entry.strip("*").strip()
    body = r"\s+".join(re.escape(part) for part in core.split())
    return ("" if starts_inside else r"(?<!\w)") + body + ("" if ends_inside else r"(?!\w)")


def clean(entries: Iterable[str]) -> tuple[str, ...]:
    """Entries trimmed, lower case, without blanks or repeats, in their given order."""
    seen: dict[str, None] = {}
    for entry in entries:
        entry = " ".join(entry.split()).lower()
        if entry.strip("*").strip():
            seen.setdefault(entry, None)
    return tuple(seen)


class KeywordList:
    """A compiled list: one combined pattern answers "any match?" fast; the rare hit then
    finds which entry matched, for the reason shown to the author."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = clean(entries)
        self._patterns = [(entry, re.compile(_pattern(entry))) for entry in self.entries]
        combined = "|".join(f"(?:{_pattern(entry)})" for entry in self.entries)
        self._any = re.compile(combined) if combined else None

    def first_match(self, *texts: str | None) -> str | None:
        """The first entry found in any of `texts` (searched lower-cased), or None."""
        if self._any is None:
            return None
        lowered = "\n".join(text.lower() for text in texts if text)
        if not self._any.search(lowered):
            return None
        return next(entry for entry, pattern in self._patterns if pattern.search(lowered))
