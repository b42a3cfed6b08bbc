"""Keyword lists as WordPress authors write them: whole words by default, `*` for inside words."""

from __future__ import annotations

import pytest

from service.keywords import KeywordList, clean


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
