"""The catalogue mechanism: language choice from tags and Accept-Language, fallback, direction."""

from __future__ import annotations

import pytest

from commentd import i18n


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("xx-YY, en;q=0.5", "en"),
        ("*", "en"),
        ("en;q=abc, *;q=0.1", "en"),
    ],
)
def test_negotiate_falls_back_to_english(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


def test_translate_fills_placeholders_and_keeps_unknown_ones() -> None:
    assert i18n.translate("en", "replyTo", name="Ann") == "Reply to Ann"
    assert i18n.translate("en", "replyTo") == "Reply to {name}"
    assert i18n.translate("zz", "submit") == "Post comment"  # unknown language → English


def test_unknown_key_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        i18n.translate("en", "no such key")


@pytest.mark.parametrize(("tag", "expected"), [("ar", "rtl"), ("he-IL", "rtl"), ("en", "ltr")])
def test_direction(tag: str, expected: str) -> None:
    assert i18n.direction(tag) == expected
