"""Shapes of file that cost a naive reader without end, refused at once by every reader of
their kind: JSON nested past any record (artalk, commento, json), and page paths a browser
would resolve differently from a naive slug."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from commentd.portability.readers import READERS
from commentd.portability.records import ImportFileError, NoProgress
from commentd.portability.slugs import page_path, slug_for_page

DEPTH = 30_000  # 60 KB of brackets: 2.2 GB in ijson's own prefix-building parser


@pytest.mark.parametrize(
    ("source", "document"),
    [
        ("artalk", b"[" + b"[" * DEPTH + b"]" * DEPTH + b"]"),
        ("artalk", b'[{"id": "1", "content": ' + b"[" * DEPTH + b"]" * DEPTH + b"}]"),
        ("commento", b'{"version": 1, "comments": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"),
        (
            "commento",
            b'{"version": 1, "commenters": [' + b'{"a":' * DEPTH + b"1" + b"}" * DEPTH + b"]}",
        ),
        (
            "json",
            b'{"format": "commentd", "version": 1, "instance": "'
            + b"a" * 32
            + b'", "comments": '
            + b"[" * DEPTH
            + b"]" * DEPTH
            + b"}",
        ),
    ],
)
def test_json_nested_past_any_record_is_refused_at_once(
    tmp_path: Path, source: str, document: bytes
) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(document)
    started = time.monotonic()
    with pytest.raises(ImportFileError) as refused:
        list(READERS[source](path, NoProgress()))
    assert time.monotonic() - started < 5
    assert "64 levels" in str(refused.value)


@pytest.mark.parametrize(
    ("page", "slug"),
    [
        ("https://blog.example/slugs/a/../b/", "slugs/b"),
        ("/slugs/./dot/", "slugs/dot"),
        ("https://blog.example/slugs\\back\\slash/", "slugs/back/slash"),
        ("/a/%2E%2E/b", "b"),
        ("/a/%2e/b/", "a/b"),
        ("/a/b/..", "a"),
        ("/../../a", "a"),
        ("https://blog.example/2024/03/glute/?utm=x#c", "2024/03/glute"),
        ("/blog/%E8%AF%BB%E4%B9%A6/", "blog/读书"),
        ("/a..b/.c/", "a..b/.c"),  # dots inside a segment are just dots
    ],
)
def test_a_page_path_resolves_as_a_browser_resolves_it(page: str, slug: str) -> None:
    assert slug_for_page(page) == slug
    assert not any(part in (".", "..") for part in page_path(page).split("/"))
