"""Keyword lists as WordPress authors know them, matched against a comment's fields.

An entry matches case-insensitively as a whole word or phrase ("cialis" does not match
"specialist"; "free money" matches "FREE  money"); a `*` at either end lets it match inside
words ("*casino*" matches "onlinecasinos", "viagra*" matches "viagras"). Dots and other
characters are literal, so "spam.example" matches a website or email on that domain.

A list is one Aho-Corasick automaton (pyahocorasick) of the entries' words: one pass over
the text finds every entry it holds, so the time to search a comment grows with the comment,
never with the list (5,000 entries cost what 10 do). "Whole word" is part of what the
automaton matches, not checked at each place found: the text is searched with a mark on both
sides of each of its characters that is not a word character (Python's `\\w`: letters, digits,
`_`, in any script) and at its two ends; an entry's words are written the same way, between
the marks its whole-word ends need. A mark next to a word character is always the mark of a
character that is not one (or of an end), so the marks say exactly where words begin and end.
"a", "aa", … nested inside one another are then found only where a whole word ends, not at
every letter of a long word (each place found costs Python code: 100 such entries made a
comment of 5,000 letters take 0.8 s).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import ahocorasick

ENTRY_MAX = 100  # characters per entry
ENTRIES_MAX = 5000  # entries per list
_SPACES = re.compile(r"\s+")  # what separates a phrase's words: any run of white space
# The mark on both sides of every character that is not a word character, and at the text's
# two ends (see the module's docstring). It cannot be in a comment (validation refuses control
# characters); in an entry or a text it is read as a space.
_MARK = "\x00"
_NOT_WORD = re.compile(r"(\W)")  # captured: re.split keeps each one between the parts


def clean(entries: Iterable[str]) -> tuple[str, ...]:
    """Entries trimmed, lower case, without blanks or repeats, in their given order."""
    seen: dict[str, None] = {}
    for entry in entries:
        entry = " ".join(entry.split()).lower()
        if entry.strip("*").strip():
            seen.setdefault(entry, None)
    return tuple(seen)


def _marked(text: str) -> str:
    """`text` with _MARK on both sides of each character that is not a word character
    ("a.b" -> "a<M>.<M>b"): one split and one join, both in C."""
    return _MARK.join(_NOT_WORD.split(text.replace(_MARK, " ")))


class KeywordList:
    """A compiled list: one pass of an Aho-Corasick automaton finds the entries a text holds;
    the first of them in the list's order is the reason shown to the author."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = clean(entries)
        # One key per way of writing an entry: its marked words, with the mark before it when
        # it must start a word and the mark after it when it must end one. Entries that share
        # a key ("casino" written twice over fields) keep their indexes in the list's order.
        keys: dict[str, list[int]] = {}
        for index, entry in enumerate(self.entries):
            words = _marked(" ".join(entry.strip("*").split()))
            key = (
                ("" if entry.startswith("*") else _MARK)
                + words
                + ("" if entry.endswith("*") else _MARK)
            )
            keys.setdefault(key, []).append(index)
        self._automaton: ahocorasick.Automaton | None = None
        if keys:
            automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_STRING)
            for key, indexes in keys.items():
                automaton.add_word(key, min(indexes))
            automaton.make_automaton()
            self._automaton = automaton

    def first_match(self, *texts: str | None) -> str | None:
        """The first entry (in the list's order) found in any of `texts`, searched lower-cased
        with every run of white space read as one space; None when no entry is found."""
        if self._automaton is None:
            return None
        text = _SPACES.sub(" ", "\n".join(text.lower() for text in texts if text))
        # The text's two ends count as the marks of a character that is not a word character.
        marked = _MARK + _marked(text) + _MARK
        first: int | None = None
        for _end, index in self._automaton.iter(marked):
            if first is None or index < first:
                first = index
                if first == 0:
                    break
        return None if first is None else self.entries[first]
