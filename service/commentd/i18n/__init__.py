"""The words readers see, in their language: one catalogue per language, shared by the service
(field errors, the no-script pages, the HTML fragment, feeds) and by embed.js.

A catalogue is `catalogues/<language>.json`, a flat JSON object of key → text. Texts hold
`{name}`-style placeholders filled by `translate`. A key that counts something ends in a CLDR
plural category (`_zero` optional, then `_one`, `_two`, `_few`, `_many`, `_other`), which the
widget picks with `Intl.PluralRules`; English (`en.json`) holds every key and is the fallback,
key by key, for every other language. Language names are BCP 47 primary subtags (`de`, `ar`)
or, where a region or script changes the words, a tag with it (`pt-BR`, `zh-Hans`).

A leaf: imports nothing of commentd's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType

DEFAULT = "en"
# Scripts written right to left (Unicode CLDR, characterOrder): the languages of that kind here.
RIGHT_TO_LEFT = frozenset({"ar", "fa", "he", "ur", "ps", "yi", "dv", "ckb", "sd", "ug"})
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_Q_VALUE = re.compile(r"^q=([01](?:\.\d{0,3})?)$")


@cache
def languages() -> tuple[str, ...]:
    """Every language with a catalogue, as file names give them (`("ar", "de", "en", …)`)."""
    folder = resources.files(__package__) / "catalogues"
    return tuple(
        sorted(
            entry.name.removesuffix(".json")
            for entry in folder.iterdir()
            if entry.name.endswith(".json")
        )
    )


@cache
def catalogue(language: str) -> Mapping[str, str]:
    """The texts of one language exactly as its file holds them (English for an unknown one).

    Raises ValueError when the file is not a JSON object of strings (a broken catalogue is a
    packaging fault, found by tests, never a reader's).
    """
    if language not in languages():
        language = DEFAULT
    text = (resources.files(__package__) / "catalogues" / f"{language}.json").read_text("utf-8")
    data = json.loads(text)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"catalogues/{language}.json must be an object of strings")
    return MappingProxyType(data)


def resolve(tag: str | None) -> str:
    """The supported language nearest to a BCP 47 tag: the tag itself (`pt-BR`), else its
    primary subtag (`de-AT` → `de`), else English. Case and `_` for `-` are forgiven."""
    if not tag:
        return DEFAULT
    known = {name.lower(): name for name in languages()}
    parts = tag.strip().replace("_", "-").lower().split("-")
    for length in range(len(parts), 0, -1):
        found = known.get("-".join(parts[:length]))
        if found:
            return found
    return DEFAULT


def negotiate(accept_language: str | None) -> str:
    """The best supported language for an `Accept-Language` header (RFC 9110 §12.5.4):
    the highest q-value whose tag `resolve`s to a language of ours, earlier first on ties;
    English when none does. A malformed entry is skipped, never an error."""
    best, best_q = DEFAULT, 0.0
    for entry in (accept_language or "")[:1000].split(",")[:30]:
        tag, _, params = entry.strip().partition(";")
        q = 1.0
        if params:
            match = _Q_VALUE.match(params.strip().replace(" ", ""))
            if match is None:
                continue
            q = float(match.group(1))
        if q <= best_q or not tag or tag == "*":
            continue
        language = resolve(tag)
        if language != DEFAULT or tag.lower().split("-")[0] == DEFAULT:
            best, best_q = language, q
    return best


def direction(language: str) -> str:
    """`"rtl"` for a language written right to left, else `"ltr"` (for `dir=` attributes)."""
    return "rtl" if language.split("-")[0].lower() in RIGHT_TO_LEFT else "ltr"


def translate(language: str, key: str, /, **params: object) -> str:
    """The text of `key` in `language` (English where that catalogue lacks it), with its
    `{placeholders}` filled from `params`; one without a value stays as written.

    Raises KeyError for a key that not even English has (a programming error).
    """
    text = catalogue(language).get(key)
    if text is None:
        text = catalogue(DEFAULT)[key]
    return _PLACEHOLDER.sub(
        lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), text
    )
