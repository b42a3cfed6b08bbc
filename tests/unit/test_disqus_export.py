"""The import benchmark's generated Disqus export: well-formed, and what it says it holds."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

from defusedxml.ElementTree import iterparse

from bench.disqus_export import write_export

NS = "{http://disqus.com}"
DSQ = "{http://disqus.com/disqus-internals}"


def _read(path: Path) -> tuple[Counter[str], list[tuple[str, str, str | None, str]]]:
    """Counts, and (post id, thread id, parent id, createdAt) of each post in file order."""
    counts: Counter[str] = Counter()
    posts = []
    with path.open("rb") as source:
        for _, element in iterparse(
            source,
            events=("end",),
            forbid_dtd=False,
            forbid_entities=True,
            forbid_external=True,
        ):
            if element.tag == NS + "thread" and element.find(NS + "link") is not None:
                counts["threads"] += 1
                element.clear()
            elif element.tag == NS + "post":
                deleted = element.findtext(NS + "isDeleted") == "true"
                counts["deleted"] += deleted
                counts["spam"] += element.findtext(NS + "isSpam") == "true" and not deleted
                parent = element.find(NS + "parent")
                message = element.findtext(NS + "message") or ""
                counts["short"] += len(message) < 200
                counts["split_cdata"] += "]]>" in message
                posts.append(
                    (
                        element.get(DSQ + "id") or "",
                        element.find(NS + "thread").get(DSQ + "id") or "",  # type: ignore[union-attr]
                        None if parent is None else parent.get(DSQ + "id"),
                        element.findtext(NS + "createdAt") or "",
                    )
                )
                element.clear()
    return counts, posts


def test_the_export_holds_what_the_generator_says_replies_answer_earlier_posts_of_their_thread(
    tmp_path: Path,
) -> None:
    path = tmp_path / "export.xml"
    written = write_export(path, comments=5000, threads=500, seed=3)
    counts, posts = _read(path)

    assert (counts["threads"], len(posts)) == (written.threads, written.posts) == (500, 5000)
    assert (counts["deleted"], counts["spam"]) == (written.deleted, written.spam)
    assert 50 < written.deleted < 200 and 150 < written.spam < 400  # ~2% and ~5%
    assert counts["short"] == 0
    seen: dict[str, str] = {}
    replies = 0
    for post_id, thread_id, parent_id, _ in posts:
        if parent_id is not None:
            replies += 1
            assert seen[parent_id] == thread_id
        seen[post_id] = thread_id
    assert replies == written.replies
    assert 0.35 < replies / len(posts) < 0.45
    assert [p[3] for p in posts] == sorted(p[3] for p in posts)


def test_the_same_seed_writes_the_same_bytes_and_gz_is_the_same_export_packed(
    tmp_path: Path,
) -> None:
    write_export(tmp_path / "a.xml", comments=3000, threads=300, seed=7)
    write_export(tmp_path / "b.xml.gz", comments=3000, threads=300, seed=7)
    write_export(tmp_path / "c.xml", comments=3000, threads=300, seed=8)

    plain = (tmp_path / "a.xml").read_bytes()
    assert gzip.decompress((tmp_path / "b.xml.gz").read_bytes()) == plain
    assert (tmp_path / "c.xml").read_bytes() != plain
