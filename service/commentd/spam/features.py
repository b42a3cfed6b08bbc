"""A comment -> the set of features the learning filter counts: words, link domains, shape.

Pure and deterministic: the same comment always gives the same features, so a lesson can be
untaught exactly by recomputing them from the stored comment.
"""

from __future__ import annotations

import re
from itertools import pairwise
from urllib.parse import urlsplit

FEATURE_MAX = 100  # characters (the column's width); words are cut to 40, so pairs fit
WORD_MAX = 40
TEXT_SCAN = 2000  # characters of the body looked at: enough to judge, and scoring stays fast
WORDS_MAX = 300  # words of the body counted (and the pairs between them), for the same reason

_WORD = re.compile(r"[^\W_]+(?:['\u2019.][^\W_]+)*")  # keeps "don't" and "example.com" whole
_URL = re.compile(r"(?:https?://|www\.)([^\s/?#<>\"')\]]+)", re.IGNORECASE)
_MONEY = re.compile(r"[$£€¥₿]\s?\d|\d\s?(?:usd|eur|gbp|btc|eth)\b", re.IGNORECASE)
_PHONE = re.compile(r"\+?\d[\d\s().-]{8,}\d")
_SITE_WORD = re.compile(r"[a-z]{2,}")
_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK_CHARS}]+")


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

    hosts = _URL.findall(text)
    for host in hosts[:20]:
        domain = _domain(host)
        features.add(f"link:{domain[:WORD_MAX]}")
        for word in _SITE_WORD.findall(domain.rpartition(".")[0])[:5]:
            features.add(f"linkword:{word[:WORD_MAX]}")
    features.add(f"links:{min(len(hosts), 4)}")
    for word in _WORD.findall(name.lower())[:5]:
        features.add(f"name:{word[:WORD_MAX]}")
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
