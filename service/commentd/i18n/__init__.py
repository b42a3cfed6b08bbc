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

import hashlib
import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType

DEFAULT = "en"
# Scripts written right to left (Unicode CLDR, characterOrder): the languages of that kind here.
RIGHT_TO_LEFT = frozenset({"ar", "fa", "he", "ur", "ps", "yi", "dv", "ckb", "sd", "ug"})
# Tags whose words are another catalogue's (lower case): Chinese by region where no script is
# given (CLDR likely subtags: zh → zh-Hans-CN, zh-TW → zh-Hant-TW), Norwegian as Bokmål, and
# the deprecated codes of IANA's language subtag registry (iw → he, in → id).
ALIASES = {
    "zh": "zh-Hans",
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "zh-my": "zh-Hans",
    "zh-tw": "zh-Hant",
    "zh-hk": "zh-Hant",
    "zh-mo": "zh-Hant",
    "no": "nb",
    "iw": "he",
    "in": "id",
}
# CLDR's plural categories (Unicode TR 35, "Language Plural Rules"), the suffixes of counted keys.
PLURAL_CATEGORIES = ("zero", "one", "two", "few", "many", "other")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_Q_VALUE = re.compile(r"^q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")  # RFC 9110 §12.4.2


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


def load_all() -> None:
    """Read every catalogue now (the app calls it at start), so that no request opens a file
    for its words: a process out of open files still answers in every language."""
    for language in languages():
        catalogue(language)


def resolve(tag: str | None) -> str:
    """The supported language nearest to a BCP 47 tag: the tag itself (`pt-BR`), else the tag
    with its last subtags dropped one by one (`de-AT` → `de`, `zh-Hant-HK` → `zh-Hant`), each
    step also looked up in ALIASES (`zh-TW` → `zh-Hant`, `zh-CN` and `zh` → `zh-Hans`,
    `no` → `nb`), else English. Case and `_` for `-` are forgiven. embed.js does the same
    (static/src/common.js, from `widget_data`)."""
    if not tag:
        return DEFAULT
    known = {name.lower(): name for name in languages()}
    parts = tag.strip().replace("_", "-").lower().split("-")
    for length in range(len(parts), 0, -1):
        prefix = "-".join(parts[:length])
        found = known.get(prefix) or known.get(ALIASES.get(prefix, "").lower())
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


def is_plural_key(key: str) -> bool:
    """Whether `key` is one form of a counted text (`heading_one`): it ends in a CLDR plural
    category and English has the same text's `_other` form."""
    stem, _, category = key.rpartition("_")
    return category in PLURAL_CATEGORIES and f"{stem}_other" in catalogue(DEFAULT)


@cache
def catalogue_json(language: str) -> bytes:
    """One language's catalogue as served to embed.js (`GET /api/i18n/<language>.json`):
    compact UTF-8 JSON of the object `catalogue(language)` gives, keys in file order."""
    return json.dumps(dict(catalogue(language)), ensure_ascii=False, separators=(",", ":")).encode()


@cache
def version(language: str) -> str:
    """A short hash of `catalogue_json(language)` (12 hex digits of SHA-256): embed.js asks
    for `/api/i18n/<language>.json?v=<version>`, so a changed catalogue is a new URL and the
    old one can be cached for a year."""
    return hashlib.sha256(catalogue_json(language)).hexdigest()[:12]


def widget_data() -> dict[str, object]:
    """What embed.js is built with (web/widgets.py injects it): `en`, English's catalogue (the
    widget's built-in words); `languages`, every other language → its `version`; `aliases`
    (ALIASES); `rtl`, the RIGHT_TO_LEFT primary subtags. Enough to `resolve` a page's tag and
    fetch only its own catalogue."""
    return {
        "en": dict(catalogue(DEFAULT)),
        "languages": {name: version(name) for name in languages() if name != DEFAULT},
        "aliases": ALIASES,
        "rtl": sorted(RIGHT_TO_LEFT),
    }


class Text(str):
    """A reader-facing text that can be said in every language: the English text (the `str`
    itself, as callers and tests have always seen it), the catalogue `key` it comes from and the
    `params` that fill its placeholders. Made by `text`; turned into another language by
    `localise`. Lower layers raise errors with these, the web layer localises them."""

    key: str
    params: Mapping[str, object]

    def __new__(
        cls, english: str, key: str = "", params: Mapping[str, object] | None = None
    ) -> Text:
        """`english` as a str carrying `key` and `params` (use `text` instead)."""
        made = super().__new__(cls, english)
        made.key, made.params = key, MappingProxyType(dict(params or {}))
        return made

    def __reduce__(self) -> tuple[type[Text], tuple[str, str, dict[str, object]]]:
        """Copies and pickles keep the key and params."""
        return Text, (str(self), self.key, dict(self.params))


def text(key: str, /, *, english: str | None = None, **params: object) -> Text:
    """The English text of `key` with `params` filled in, remembering both for `localise`.

    `english` replaces the catalogue's English wording when a library wrote the English
    sentence (email-validator's reasons): other languages still say the key's text.
    Raises KeyError for a key that en.json lacks.
    """
    return Text(translate(DEFAULT, key, **params) if english is None else english, key, params)


def localise(value: object, language: str) -> object:
    """`value` in `language`: a `Text` translated (`translate(language, key, **params)`; in
    English, the text exactly as made), a dict or list with each member localised, and
    anything else as it is."""
    if isinstance(value, Text):
        if language == DEFAULT:
            return str(value)
        return translate(language, value.key, **value.params)
    if isinstance(value, dict):
        return {k: localise(v, language) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [localise(v, language) for v in value]
    return value
