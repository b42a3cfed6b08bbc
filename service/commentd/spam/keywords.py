"""Keyword lists as WordPress authors know them, matched against a comment's fields.

An entry matches case-insensitively as a whole word or phrase ("cialis" does not match
"specialist"; "free money" matches "FREE  money"); a `*` at either end lets it match inside
words ("*casino*" matches "onlinecasinos", "viagra*" matches "viagras"). Dots and other
characters are literal, so "spam.example" matches a website or email on that domain.

A list is one Aho-Corasick automaton (pyahocorasick) of the entries' words: one pass over
the text finds every entry it holds, so the time to search a comment grows with the comment,
never with the list (5,000 entries cost what 10 do). "Whole word" is then checked at each
place found, with the regex module's idea of a word character (letters, digits, `_`, in any
script), as the lists were matched before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import ahocorasick

ENTRY_MAX = 100  # characters per entry
ENTRIES_MAX = 5000  # entries per list
_SPACES = re.compile(r"\s+")  # what separates a phrase's words: any run of white space

# One way to write an entry's words: (its index in the list, `*` at the start, `*` at the end).
Form = tuple[int, bool, bool]


def clean(entries: Iterable[str]) -> tuple[str, ...]:
    """Entries trimmed, lower case, without blanks or repeats, in their given order."""
    seen: dict[str, None] = {}
    for entry in entries:
        entry = " ".join(entry.split()).lower()
        if entry.strip("*").strip():
            seen.setdefault(entry, None)
    return tuple(seen)


def _is_word_character(character: str) -> bool:
    """`\\w` of Python's `re` on text: alphanumeric in any script, or `_`."""
    return character.isalnum() or character == "_"


class KeywordList:
    """A compiled list: one pass of an Aho-Corasick automaton finds the entries a text holds;
    the first of them in the list's order is the reason shown to the author."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = clean(entries)
        # "casino", "casino*" and "*casino*" share their words: one key, several forms.
        forms: dict[str, list[Form]] = {}
        for index, entry in enumerate(self.entries):
            words = " ".join(entry.strip("*").split())
            forms.setdefault(words, []).append((index, entry.startswith("*"), entry.endswith("*")))
        self._automaton: ahocorasick.Automaton | None = None
        if forms:
            automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_STRING)
            for words, its_forms in forms.items():
                automaton.add_word(words, (len(words), tuple(its_forms)))
            automaton.make_automaton()
            self._automaton = automaton

    def first_match(self, *texts: str | None) -> str | None:
        """The first entry (in the list's order) found in any of `texts`, searched lower-cased
        with every run of white space read as one space; None when no entry is found."""
        if self._automaton is None:
            return None
        text = _SPACES.sub(" ", "\n".join(text.lower() for text in texts if text))
        first: int | None = None
        for end, (length, forms) in self._automaton.iter(text):
            start = end - length + 1
            whole_start = start == 0 or not _is_word_character(text[start - 1])
            whole_end = end + 1 == len(text) or not _is_word_character(text[end + 1])
            for index, starts_inside, ends_inside in forms:
                if first is not None and index >= first:
                    break  # forms are in the list's order: none after this one is earlier
                if (starts_inside or whole_start) and (ends_inside or whole_end):
                    first = index
                    break
            if first == 0:
                break
        return None if first is None else self.entries[first]
