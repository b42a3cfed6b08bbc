"""Where `export static` puts a slug's files: inside posts/ whatever the slug, and back."""

from __future__ import annotations

import random

import pytest

from commentd.publishing.slug_paths import (
    SEGMENT_BYTES,
    UnsafeSlug,
    path_for_slug,
    slug_for_path,
)

CASES = {
    "gluteus-medius": "gluteus-medius",
    "2024/03/glute": "2024/03/glute",
    "blog/读书": "blog/读书",
    "..": "%2E%2E",
    ".": "%2E",
    "../../etc/passwd": "%2E%2E/%2E%2E/etc/passwd",
    "a/../b": "a/%2E%2E/b",
    "...": "%2E%2E%2E",
    "a\\..\\b": "a%5C..%5Cb",
    "caf%E9": "caf%25E9",
    "x:y*z?": "x%3Ay%2Az%3F",
    "con": "%63on",
    "AUX.txt/x": "%41UX.txt/x",
    "a.json/x": "a%2Ejson/x",
    "a.HTML/x": "a%2EHTML/x",
    "a.json": "a.json",
    "trailing.": "trailing%2E",
    "space ": "space%20",
    ".hidden": ".hidden",
}


@pytest.mark.parametrize(("slug", "path"), CASES.items())
def test_each_kind_of_slug_has_its_documented_path(slug: str, path: str) -> None:
    assert path_for_slug(slug) == path
    assert slug_for_path(path) == slug


def test_case_folding_escapes_every_character_folding_changes() -> None:
    assert path_for_slug("Post", fold_case=True) == "%50ost"
    assert path_for_slug("post", fold_case=True) == "post"
    assert path_for_slug("Straße", fold_case=True) == "%53tra%C3%9Fe"
    assert slug_for_path("%53tra%C3%9Fe") == "Straße"
    assert path_for_slug("Post") == "Post"  # a case-sensitive file system keeps the case


def test_a_long_segment_is_cut_into_folders_of_bounded_names() -> None:
    slug = "语" * 255  # 765 bytes as UTF-8
    path = path_for_slug(slug)
    components = path.split("/")
    assert len(components) == 4
    assert all(c.endswith("%+") for c in components[:-1])
    assert all(len(c.encode()) <= SEGMENT_BYTES + 2 for c in components)
    assert slug_for_path(path) == slug
    dots = "." * 100 + "a" * 200  # cut: no piece may be dots alone
    pieces = path_for_slug(dots).split("/")
    assert not any(set(p.removesuffix("%+")) <= {"."} for p in pieces)
    assert slug_for_path(path_for_slug(dots)) == dots


def test_empty_segments_have_no_path() -> None:
    for slug in ("", "/lead", "trail/", "a//b"):
        with pytest.raises(UnsafeSlug):
            path_for_slug(slug)


def test_paths_that_no_slug_makes_are_refused() -> None:
    for path in ("a%2", "a%zz", "a%+"):
        with pytest.raises(ValueError):
            slug_for_path(path)


ALPHABET = "aA.\\/%:?*<> -_é语\x01\x7f\u0085ßK" + "\u212a"


def test_random_slugs_stay_inside_and_come_back() -> None:
    generator = random.Random(14)
    seen: dict[str, str] = {}
    folded: dict[str, str] = {}
    for _ in range(5000):
        length = generator.choice([1, 2, 3, 8, 40, 255])
        raw = "".join(generator.choice(ALPHABET) for _ in range(length))
        slug = "/".join(part for part in raw.split("/") if part) or "x"
        for fold_case, table in ((False, seen), (True, folded)):
            path = path_for_slug(slug, fold_case=fold_case)
            components = path.split("/")
            for index, component in enumerate(components):
                assert component not in ("", ".", "..")
                assert len(component.encode()) + len(".json") <= 255
                assert "\\" not in component
                assert not any(ord(c) < 0x20 for c in component)
                if index < len(components) - 1:  # a folder never meets a post's file
                    assert not component.lower().endswith((".json", ".html"))
            key = path.casefold() if fold_case else path
            assert slug_for_path(path) == slug
            assert table.setdefault(key, slug) == slug  # one path, one slug
