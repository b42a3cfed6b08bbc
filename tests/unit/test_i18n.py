"""The catalogue mechanism: language choice from tags and Accept-Language, fallback, direction."""

from __future__ import annotations

import copy
import json
import pickle
import re
from pathlib import Path

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


# ---- the catalogues (docs/languages.md) -------------------------------------------------------

CATALOGUES = Path(i18n.__file__).parent / "catalogues"
ENGLISH = json.loads((CATALOGUES / "en.json").read_text(encoding="utf-8"))
OTHERS = [name for name in i18n.languages() if name != "en"]
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Counted texts: the stems of English's plural keys (heading_one … → heading).
STEMS = sorted({key.rpartition("_")[0] for key in ENGLISH if i18n.is_plural_key(key)})
PLAIN = [key for key in ENGLISH if not i18n.is_plural_key(key)]


def cldr_categories(language: str) -> set[str]:
    """The plural categories CLDR gives a language's cardinal numbers, from Babel's copy of the
    CLDR data (`other` is implicit there)."""
    babel = pytest.importorskip("babel")
    return set(babel.Locale.parse(language.replace("-", "_")).plural_form.tags) | {"other"}


def strict_json(path: Path) -> object:
    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), f"{path.name}: a key twice"
        return dict(pairs)

    return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_duplicates)


def test_at_least_32_languages_besides_english_ship_including_rtl_and_cjk() -> None:
    assert len(OTHERS) >= 32
    wanted = (
        "ar he fa zh-Hans zh-Hant ja ko de fr es it pt pt-BR nl pl ru uk cs sv da fi nb tr el "
        "hu ro id vi th hi bn"
    )
    assert set(wanted.split()) <= set(OTHERS)


@pytest.mark.parametrize("language", i18n.languages())
def test_a_catalogue_is_a_json_object_of_non_empty_strings(language: str) -> None:
    data = strict_json(CATALOGUES / f"{language}.json")
    assert isinstance(data, dict)
    assert all(isinstance(text, str) and text.strip() for text in data.values())
    assert all(text == text.strip() for text in data.values())  # no stray spaces or newlines


@pytest.mark.parametrize("language", OTHERS)
def test_a_catalogue_has_every_english_key_and_no_other(language: str) -> None:
    data = dict(i18n.catalogue(language))
    plain = [key for key in data if not i18n.is_plural_key(key)]
    assert sorted(plain) == sorted(PLAIN)
    assert {key.rpartition("_")[0] for key in data if i18n.is_plural_key(key)} == set(STEMS)


@pytest.mark.parametrize("language", OTHERS)
def test_counted_texts_have_exactly_the_plural_categories_of_cldr(language: str) -> None:
    wanted = cldr_categories(language)
    data = i18n.catalogue(language)
    for stem in STEMS:
        # English's extra "_zero" (no number at all: "No comments") is said in every language.
        expected = wanted | ({"zero"} if f"{stem}_zero" in ENGLISH else set())
        have = {key.rpartition("_")[2] for key in data if key.rpartition("_")[0] == stem}
        assert have == expected, f"{language} {stem}"


def test_english_counted_texts_follow_cldr_too() -> None:
    for stem in STEMS:
        have = {key.rpartition("_")[2] for key in ENGLISH if key.rpartition("_")[0] == stem}
        assert have - {"zero"} == cldr_categories("en")


@pytest.mark.parametrize("language", OTHERS)
def test_placeholders_are_exactly_englishs(language: str) -> None:
    data = i18n.catalogue(language)
    for key, text in data.items():
        said = set(PLACEHOLDER.findall(text))
        if i18n.is_plural_key(key):
            # A form may spell its number out ("1 comment"); the general one must show it.
            other = set(PLACEHOLDER.findall(ENGLISH[key.rpartition("_")[0] + "_other"]))
            assert said <= other, (key, text)
            if key.endswith("_other"):
                assert said == other, (key, text)
        else:
            assert said == set(PLACEHOLDER.findall(ENGLISH[key])), (key, text)
        assert text.count("{") == text.count("}"), (key, text)  # no broken placeholder


@pytest.mark.parametrize("language", OTHERS)
def test_a_catalogue_is_translated(language: str) -> None:
    """Not English copied: nearly every text differs (a few words, "Email", "November", may
    be the same in both)."""
    data = i18n.catalogue(language)
    same = [key for key in PLAIN if data[key] == ENGLISH[key]]
    assert len(same) <= len(PLAIN) // 10, same


@pytest.mark.parametrize("language", OTHERS)
def test_a_catalogue_name_is_a_language_cldr_knows(language: str) -> None:
    babel = pytest.importorskip("babel")
    locale = babel.Locale.parse(language.replace("-", "_"))
    assert locale.language == language.split("-")[0]
    assert i18n.resolve(language) == language


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("de", "de"),
        ("de-AT", "de"),
        ("DE_at", "de"),
        ("pt-PT", "pt"),
        ("pt", "pt"),
        ("pt-BR", "pt-BR"),
        ("pt-br", "pt-BR"),
        ("zh", "zh-Hans"),
        ("zh-CN", "zh-Hans"),
        ("zh-SG", "zh-Hans"),
        ("zh-TW", "zh-Hant"),
        ("zh-HK", "zh-Hant"),
        ("zh-Hant", "zh-Hant"),
        ("zh-Hant-HK", "zh-Hant"),
        ("zh-Hans-CN", "zh-Hans"),
        ("no", "nb"),
        ("nb-NO", "nb"),
        ("iw", "he"),
        ("ar-EG", "ar"),
        ("xx", "en"),
        ("", "en"),
        (None, "en"),
        ("en-GB", "en"),
    ],
)
def test_resolve(tag: str | None, expected: str) -> None:
    assert i18n.resolve(tag) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr", "fr"),
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr"),
        ("en;q=0.5, de;q=0.9", "de"),
        ("de;q=0.9, ru;q=0.9", "de"),  # a tie: the earlier
        ("xx, pt-PT;q=0.3", "pt"),
        ("zh-TW,zh;q=0.9", "zh-Hant"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"),
        ("ar;q=0, he", "he"),  # q=0: "not acceptable"
        ("en-US,en;q=0.9,ar;q=0.8", "en"),
        ("ja;q=1.5, ko", "ko"),  # a q-value out of range is skipped
    ],
)
def test_negotiate_picks_the_best_language_we_have(header: str, expected: str) -> None:
    assert i18n.negotiate(header) == expected


@pytest.mark.parametrize("language", ["ar", "he", "fa"])
def test_the_right_to_left_languages_shipped_are_rtl(language: str) -> None:
    assert language in OTHERS and i18n.direction(language) == "rtl"


def test_a_text_is_its_english_and_localises_by_key() -> None:
    made = i18n.text("refused_name_long", max=80)
    assert made == "Please keep your name to 80 characters."
    assert i18n.localise(made, "en") == made
    assert i18n.localise(made, "de") == "Bitte beschränke deinen Namen auf 80 Zeichen."
    assert i18n.localise({"name": made, "n": 3}, "fr") == {
        "name": "Votre nom ne doit pas dépasser 80 caractères.",
        "n": 3,
    }
    # A library's English sentence stays word for word in English only.
    said = i18n.text("emailInvalid", english="The email address is not valid ASCII.")
    assert i18n.localise(said, "en") == "The email address is not valid ASCII."
    assert i18n.localise(said, "es") == i18n.translate("es", "emailInvalid")
    assert copy.deepcopy(made).key == "refused_name_long"  # copies keep the key
    assert pickle.loads(pickle.dumps(made)).params == {"max": 80}


def test_widget_data_has_english_and_a_version_of_every_other_language() -> None:
    data = i18n.widget_data()
    assert data["en"] == ENGLISH
    assert data["languages"] == {name: i18n.version(name) for name in OTHERS}
    assert data["aliases"] == i18n.ALIASES
    assert "ar" in data["rtl"]  # type: ignore[operator]


def test_the_languages_page_lists_every_language_shipped() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "languages.md").read_text("utf-8")
    listed = re.findall(r"^\| `([\w-]+)` \|", page, re.MULTILINE)
    assert listed == list(i18n.languages())
    assert f"{len(OTHERS)} languages ship besides English" in page
