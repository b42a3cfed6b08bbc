"""Keyword lists as WordPress authors write them: whole words by default, `*` for inside words."""

from __future__ import annotations

import random
import re
import time

import pytest

from commentd.spam.keywords import KeywordList, clean


@pytest.mark.parametrize(
    ("entries", "text", "expected"),
    [
        (["casino"], "Best CASINO in town", "casino"),
        (["casino"], "casinos everywhere", None),
        (["casino*"], "casinos everywhere", "casino*"),
        (["*casino*"], "onlinecasinos.example", "*casino*"),
        (["cialis"], "my specialist said so", None),
        (["free money"], "get FREE\n  money", "free money"),
        (["free money"], "freemoney", None),
        (["spam.example"], "me@spam.example", "spam.example"),
        (["spam.example"], "me@spamxexample.org", None),
        (["c++"], "I write c++ daily", "c++"),
        (["pills", "cheap"], "cheap pills", "pills"),
        ([], "anything", None),
    ],
)
def test_an_entry_matches_as_documented(
    entries: list[str], text: str, expected: str | None
) -> None:
    assert KeywordList(entries).first_match(text) == expected


def test_every_field_is_searched_and_empty_ones_are_skipped() -> None:
    keywords = KeywordList(["dealz"])

    assert keywords.first_match("hello", None, "https://dealz.example", "") == "dealz"


def test_entries_are_cleaned_of_case_spaces_repeats_and_bare_stars() -> None:
    assert clean(["  Casino ", "casino", "free   money", "*", " ", "**"]) == (
        "casino",
        "free money",
    )


@pytest.mark.parametrize("hostile", ["(", "[a-", "\\", "a|b", ".*", "(?i)x"])
def test_regex_characters_are_literal(hostile: str) -> None:
    keywords = KeywordList([hostile])

    assert keywords.first_match("nothing here") is None
    assert keywords.first_match(f"say {hostile} now") == hostile


@pytest.mark.parametrize(
    ("entries", "text", "expected"),
    [
        (["казино"], "Лучшее КАЗИНО!", "казино"),  # case-folding beyond ASCII
        (["казино"], "казинопром", None),  # a word boundary in any script
        (["读书"], "我爱读书", None),  # CJK letters are word characters, as `\w` says
        (["*读书*"], "我爱读书。", "*读书*"),
        (["读书"], "读书。", "读书"),
        (["spam"], "spam_bot", None),  # `_` is a word character
        (["spam"], "(spam)", "spam"),
        (["free money"], "free\u00a0money", "free money"),  # any white space between words
        (["free money"], "free\t\r\n money", "free money"),
        (["free money"], "free-money", None),
        (["casino", "*casino*"], "onlinecasinos", "*casino*"),  # same words, other form
        (["*casino*", "casino"], "casino", "*casino*"),  # the list's order decides
        (["money", "free money"], "free money", "money"),
        (["free money", "money"], "free money", "free money"),
        (["free", "free money"], "freemoney money", None),
        (["aa"], "aaa aa", "aa"),  # overlapping places: a later whole word still counts
        (["*ab"], "xab abx", "*ab"),
        (["ab*"], "xab abx", "ab*"),
        (["ab*"], "xab", None),
        (["x"], "x", "x"),
    ],
)
def test_words_phrases_and_stars_match_in_every_script(
    entries: list[str], text: str, expected: str | None
) -> None:
    assert KeywordList(entries).first_match(text) == expected


def test_a_phrase_may_run_from_one_field_into_the_next() -> None:
    # The fields are searched as one text, one field per line (as they always were).
    assert KeywordList(["dana casino"]).first_match("Dana", "casino") == "dana casino"


def _reference_match(entries: list[str], *texts: str) -> str | None:
    """The lists' documented meaning, as the regular expressions that used to implement it."""

    def pattern(entry: str) -> str:
        starts_inside, ends_inside = entry.startswith("*"), entry.endswith("*")
        body = r"\s+".join(re.escape(part) for part in entry.strip("*").split())
        return ("" if starts_inside else r"(?<!\w)") + body + ("" if ends_inside else r"(?!\w)")

    lowered = "\n".join(text.lower() for text in texts if text)
    return next((e for e in clean(entries) if re.search(pattern(e), lowered)), None)


def test_matching_agrees_with_the_regular_expressions_on_random_texts() -> None:
    rng = random.Random(12)
    alphabet = "ab _.\n\u00a0É读-"
    for _ in range(3000):
        entries = [
            rng.choice(["", "*"])
            + "".join(rng.choices(alphabet[:-1], k=rng.randint(1, 4))).strip()
            + rng.choice(["", "*"])
            for _ in range(rng.randint(1, 6))
        ]
        texts = ["".join(rng.choices(alphabet, k=rng.randint(0, 30))) for _ in range(2)]
        assert KeywordList(entries).first_match(*texts) == _reference_match(entries, *texts), (
            entries,
            texts,
        )


def _seconds(keywords: KeywordList, text: str) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        keywords.first_match(text, "Dana", "dana@example.com")
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize(
    "text",
    ["a" * 5000, "ab" * 2500, ("a" * 99 + " ") * 50],
    ids=["one-word", "no-whole-word", "words"],
)
def test_entries_inside_one_another_cost_what_one_entry_costs(text: str) -> None:
    """100 entries each inside the next ("a", "aa", … 100 a's) end at every letter of a long
    word: one pass over the text must not look at each of those places for each entry (it took
    0.8 s for a comment of the longest length, 100 times what one entry took)."""
    nested = KeywordList("a" * n for n in range(1, 101))
    single = KeywordList(["a" * 101])

    assert _seconds(nested, text) < 5 * _seconds(single, text) + 0.002
