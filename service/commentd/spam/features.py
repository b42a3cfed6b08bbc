"""A comment -> the set of features the learning filter counts: words, link domains, shape.

Pure and deterministic: the same comment always gives the same features, so a lesson can be
untaught exactly by recomputing them from the stored comment.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import pairwise
from urllib.parse import urlsplit

FEATURE_MAX = 100  # characters (the column's width); words are cut to 40, so pairs fit
WORD_MAX = 40
TEXT_SCAN = 2000  # characters of the body looked at: enough to judge, and scoring stays fast
WORDS_MAX = 300  # words of the body counted (and the pairs between them), for the same reason

_WORD = re.compile(r"[^\W_]+(?:['\u2019.][^\W_]+)*")  # keeps "don't" and "example.com" whole


def _combining_marks() -> str:
    """The combining marks (Unicode categories Mn and Mc) of the Basic Multilingual Plane, as
    the ranges of a character class; not the variation selectors, which follow emoji."""
    ranges: list[list[int]] = []
    for code in range(0x300, 0x10000):
        if unicodedata.category(chr(code)) in ("Mn", "Mc") and not 0xFE00 <= code <= 0xFE0F:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(f"{chr(first)}-{chr(last)}" for first, last in ranges)


# In Hindi, Bengali, Thai … vowel signs are combining marks, not letters, so _WORD breaks
# "बहुत" into "बह" and "त". A word here keeps its marks; these whole words are added to _WORD's
# (which stay, so lessons taught before are untaught whole).
_MARKS = _combining_marks()
_HAS_MARK = re.compile(f"[{_MARKS}]")
_MARKED_PART = f"[^\\W_][\\w{_MARKS}]*"  # "_" inside: one class is twice as fast
_MARKED_WORD = re.compile(f"{_MARKED_PART}(?:['\u2019.]{_MARKED_PART})*")
_URL = re.compile(r"(?:https?://|www\.)([^\s/?#<>\"')\]]+)", re.IGNORECASE)
# Amounts: a currency sign before, or a currency after ("300元", "500块", "1000円", "5 usd").
_MONEY = re.compile(r"[$£€¥₿]\s?\d|\d\s?(?:(?:usd|eur|gbp|btc|eth)\b|[元块円원])", re.IGNORECASE)
_PHONE = re.compile(r"\+?\d[\d\s().-]{8,}\d")
_SITE_WORD = re.compile(r"[a-z]{2,}")
_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK_CHARS}]+")
# Writing systems beyond plain Latin, one feature each when the text uses it ("script:cyrillic"):
# every comment in a language shares its script, so a lesson or two teach it, long before its
# words recur. With a few hundred lessons, a Polish reader's words are all unknown and only
# who-features (has a website, email on its domain) spoke: they held her comment.
_SCRIPTS = {
    "latin-ext": "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff",  # é ą ß ş ...
    "greek": "\u0370-\u03ff",
    "cyrillic": "\u0400-\u052f",
    "hebrew": "\u0590-\u05ff",
    "arabic": "\u0600-\u06ff\u0750-\u077f",
    "devanagari": "\u0900-\u097f",
    "thai": "\u0e00-\u0e7f",
    "hangul": "\u1100-\u11ff\uac00-\ud7af",
    "kana": "\u3040-\u30ff",
    "han": "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff",
}
_SCRIPT_PATTERNS = [(f"script:{name}", re.compile(f"[{cs}]")) for name, cs in _SCRIPTS.items()]
# Pictographs and symbols (emoji), one feature each: _WORD skips them, so "☀️🥵💦" had no words.
_EMOJI = re.compile("[\u2600-\u27bf\U0001f000-\U0001faff]")
EMOJI_MAX = 20


def _domain(host: str) -> str:
    """The registrable-looking part of a host: the last two labels (three for co.uk-like)."""
    labels = host.lower().strip(".").split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-2]) <= 3 and len(labels[-1]) == 2 else 2
    return ".".join(labels[-keep:])


def _character_pairs(text: str) -> list[str]:
    """The overlapping pairs of characters of the text's runs of Chinese or Japanese (written
    without spaces, a run is a whole phrase: too rare to learn from as one word)."""
    pairs: list[str] = []
    for run in _CJK_RUN.findall(text):
        pairs.extend(run[i : i + 2] for i in range(max(len(run) - 1, 1)))
        if len(pairs) >= WORDS_MAX:
            break
    return pairs[:WORDS_MAX]


def _beyond_ascii(text: str) -> set[str]:
    """What a text that is not plain ASCII adds to its words: whole words with their
    combining marks, the writing systems it uses, and its emoji."""
    # Its distinct characters beyond ASCII, in order: a few dozen to search, not 2000.
    distinct = "".join(sorted(char for char in set(text) if not char.isascii()))
    found = {name for name, letters in _SCRIPT_PATTERNS if letters.search(distinct)}
    found.update(_EMOJI.findall(distinct)[:EMOJI_MAX])
    if _HAS_MARK.search(distinct):
        words = _MARKED_WORD.findall(text.lower())[:WORDS_MAX]
        # Only the words _WORD did not give whole: those with a mark (not letters or digits;
        # an apostrophe's or a dot's words are _WORD's own), leaving "_" joins to _WORD.
        found.update(_word_token(word) for word in words if not word.isalnum() and "_" not in word)
    return found


def _word_token(word: str) -> str:
    if word.isdigit():
        # Numbers by their length: a long number is a phone or a code, whatever its digits.
        return f"#{min(len(word), 12)}"
    return word[:WORD_MAX]


WHO_PREFIXES = (
    "name:",
    "email:",
    "emailuser:",
    "site:",
    "siteword:",
    "has:website",
    "has:no-website",
)


def is_who(feature: str) -> bool:
    """Whether a feature says who wrote (name words, email and website domains, having a
    website) rather than what was written: these never decide spam alone (learned.py)."""
    return feature.startswith(WHO_PREFIXES)


SCRIPT_PREFIX = "script:"


def only_clears(feature: str) -> bool:
    """Whether a feature may only lean a score towards ham: the writing system. That a site's
    readers write Polish or Hindi is worth knowing when their words are new to the filter;
    that spammers wrote Chinese too must not hold a Chinese reader (learned.py)."""
    return feature.startswith(SCRIPT_PREFIX)


def _bucket(value: int, edges: tuple[int, ...]) -> int:
    return sum(value >= edge for edge in edges)


def extract(body: str, name: str = "", website: str | None = None, email: str = "") -> set[str]:
    """The features of one comment: what the filter counts in lessons and weighs in scores."""
    text = body[:TEXT_SCAN]
    words = [_word_token(w) for w in _WORD.findall(text.lower())[:WORDS_MAX]]
    features = set(words)
    features.update(f"{first} {second}" for first, second in pairwise(words))
    # Added to the words, never instead of them: every feature a comment gave before these
    # existed is still extracted, so a lesson taught then is untaught whole (and its words
    # leave the database with it).
    features.update(_character_pairs(text))
    if not text.isascii():
        features.update(_beyond_ascii(text))

    hosts = _URL.findall(text)
    for host in hosts[:20]:
        domain = _domain(host)
        features.add(f"link:{domain[:WORD_MAX]}")
        for word in _SITE_WORD.findall(domain.rpartition(".")[0])[:5]:
            features.add(f"linkword:{word[:WORD_MAX]}")
    features.add(f"links:{min(len(hosts), 4)}")
    for word in _WORD.findall(name.lower())[:5]:
        features.add(f"name:{word[:WORD_MAX]}")
    # A Chinese or Japanese name is one run, so a keyword name ("在家赚钱") would never meet the
    # same words in another ("赚钱"): its pairs of characters too, as in the text.
    for pair in _character_pairs(name)[:10]:
        features.add(f"name:{pair}")
    site = ""
    if website:
        site = _domain(urlsplit(website).hostname or "")
        features.add(f"site:{site[:WORD_MAX]}")
        # The words of the site's name: a spammer's new domain is made of the old words.
        for word in _SITE_WORD.findall(site.rpartition(".")[0])[:5]:
            features.add(f"siteword:{word[:WORD_MAX]}")
        features.add("has:website")
    else:
        features.add("has:no-website")
    if "@" in email:
        user, _, host = email.rpartition("@")
        domain = _domain(host)
        features.add(f"email:{domain[:WORD_MAX]}")
        features.add(f"emailuser:{user.lower()[:WORD_MAX]}")  # office@, seo@ recur; names not
        if user.isdigit():  # a number by its length, as in the text: 10 digits, whatever they are
            features.add(f"emailuser:{_word_token(user)}")
        if domain == site:
            features.add("email:same-as-site")

    letters = sum(map(str.isalpha, text))
    upper = sum(map(str.isupper, text))
    features.add(f"length:{_bucket(len(body), (20, 50, 100, 200, 400, 1000))}")
    features.add(f"caps:{_bucket(100 * upper // max(letters, 1), (10, 25, 50, 80))}")
    if _MONEY.search(text):
        features.add("has:money")
    if _PHONE.search(text):
        features.add("has:phone")
    if "!!" in text:
        features.add("has:!!")
    return features
