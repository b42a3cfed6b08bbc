"""Every source format's realistic sample (tests/fixtures/import/<format>/, each with the
`<sample>.expected.json` it must give), imported through `commentd import` as an operator runs
it: counts by status and skip reason, orphans, posts and their public comments, reply chains.
Importing again stores nothing; a comment erased since stays erased; a file cut short stores
nothing and says where."""

from __future__ import annotations

import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from commentd.comments.rendering import ALLOWED_TAGS
from commentd.models import Comment
from tests.helpers import MODERATOR, run_commentd

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"


def samples() -> list[tuple[str, Path, Path]]:
    """(format, sample file, expected file) for every sample with an expected.json."""
    found = []
    for expected in sorted(FIXTURES.glob("*/*.expected.json")):
        stem = expected.name.removesuffix(".expected.json")
        candidates = [
            p
            for p in expected.parent.iterdir()
            if p.name.startswith(stem + ".") and p != expected and p.suffix != ".py"
        ]
        assert len(candidates) == 1, f"{expected}: which sample? {candidates}"
        found.append((json.loads(expected.read_text())["format"], candidates[0], expected))
    return found


SAMPLES = samples()
IDS = [f"{fmt}:{sample.name}" for fmt, sample, _ in SAMPLES]


def summary_of(stdout: str) -> dict[str, Any]:
    """The numbers of `commentd import`'s summary lines."""
    read = re.search(r"^Read (\d+) comments", stdout, re.M)
    imported = re.search(r"^Imported (\d+) on (\d+) posts?(?:: (.*))?\.$", stdout, re.M)
    already = re.search(r"^Already imported before: (\d+)\.$", stdout, re.M)
    skipped = re.search(r"^Skipped \d+: (.*)\.$", stdout, re.M)
    orphans = re.search(r"^Replies whose parent is missing, now top-level: (\d+)\.$", stdout, re.M)
    assert read and imported and already, stdout
    by_status: Counter[str] = Counter()
    for part in (imported.group(3) or "").split(", "):
        if part:
            number, status = part.split(" ", 1)
            by_status[status] = int(number)
    reasons: Counter[str] = Counter()
    for part in (skipped.group(1) if skipped else "").split(", "):
        if part:
            number, reason = part.split(" ", 1)
            reasons[reason.replace(" ", "_")] = int(number)
    return {
        "read": int(read.group(1)),
        "imported": by_status,
        "already": int(already.group(1)),
        "skipped": reasons,
        "orphans": int(orphans.group(1)) if orphans else 0,
    }


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, attrs))


def assert_safe(body_html: str) -> None:
    """Only what a rendered comment may contain: the allowed tags, href/title/start/rel
    attributes, and links with no scheme but http(s) or mailto (no javascript:, data:)."""
    parser = _Tags()
    parser.feed(body_html)
    for tag, attrs in parser.seen:
        assert tag in ALLOWED_TAGS, body_html
        for name, value in attrs:
            assert name in {"href", "title", "start", "rel"}, body_html
            if name == "href":
                scheme = urlsplit((value or "").strip()).scheme.lower()
                assert scheme in {"", "http", "https", "mailto"}, body_html


def chain_names(page: dict[str, Any], names: list[str]) -> bool:
    """Whether the public page holds a chain of replies by these authors, top-level first."""
    by_id = {c["id"]: c for c in page["comments"]}
    for comment in page["comments"]:
        chain = [comment]
        while chain[-1]["parent_id"] is not None:
            chain.append(by_id[chain[-1]["parent_id"]])
        if [c["author"]["name"] for c in reversed(chain)] == names:
            return True
    return False


@pytest.mark.parametrize(("source_format", "sample", "expected_file"), SAMPLES, ids=IDS)
def test_a_sample_imports_with_its_counts_threads_and_statuses_once(
    client: FlaskClient,
    database_url: str,
    migrated_engine: Engine,
    source_format: str,
    sample: Path,
    expected_file: Path,
) -> None:
    expected = json.loads(expected_file.read_text())
    done = run_commentd(database_url, "import", source_format, str(sample))
    summary = summary_of(done.stdout)
    assert summary["read"] == expected["records"]
    assert summary["imported"] == Counter({k: v for k, v in expected["imported"].items() if v})
    assert summary["skipped"] == Counter({k: v for k, v in expected["skipped"].items() if v})
    assert summary["orphans"] == expected["orphans"]
    assert summary["already"] == 0

    for slug, approved in expected["posts"].items():
        page = client.get(f"/api/posts/{slug}/comments").json
        assert page is not None
        assert page["count"] == approved, slug
        for comment in page["comments"]:
            assert "email" not in json.dumps(comment["author"])
            assert_safe(comment["body_html"])
    for slug, *names in expected.get("threads", []):
        page = client.get(f"/api/posts/{slug}/comments").json
        assert page is not None and chain_names(page, names), (slug, names)

    with Session(migrated_engine) as session:
        stored = session.scalar(select(func.count()).select_from(Comment))
    again = summary_of(run_commentd(database_url, "import", source_format, str(sample)).stdout)
    assert again["already"] == sum(expected["imported"].values())
    assert sum(again["imported"].values()) == 0
    with Session(migrated_engine) as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == stored


@pytest.mark.parametrize(
    ("source_format", "sample", "expected_file"),
    SAMPLES[:1] + [s for s in SAMPLES if s[0] == "wordpress"][:1],
    ids=lambda v: str(v)[-30:],
)
def test_an_erased_comment_stays_erased_when_the_file_is_imported_again(
    client: FlaskClient,
    database_url: str,
    source_format: str,
    sample: Path,
    expected_file: Path,
) -> None:
    run_commentd(database_url, "import", source_format, str(sample))
    queue = client.get("/api/moderation/comments?status=approved&limit=1", headers=MODERATOR)
    assert queue.json is not None
    (victim,) = queue.json["comments"]
    erased = client.delete(f"/api/moderation/comments/{victim['id']}", headers=MODERATOR)
    assert erased.status_code in (200, 204)
    run_commentd(database_url, "import", source_format, str(sample))
    assert (
        client.get(f"/api/moderation/comments/{victim['id']}", headers=MODERATOR).status_code == 404
    )
    page = client.get(f"/api/posts/{victim['slug']}/comments").json
    assert page is not None
    assert victim["body_html"] not in [c["body_html"] for c in page["comments"]]


@pytest.mark.parametrize(("source_format", "sample", "expected_file"), SAMPLES, ids=IDS)
def test_a_file_cut_short_stores_nothing(
    database_url: str,
    migrated_engine: Engine,
    tmp_path: Path,
    source_format: str,
    sample: Path,
    expected_file: Path,
) -> None:
    data = sample.read_bytes()
    if data[:16] == b"SQLite format 3\x00":
        cut = data[: len(data) // 2]  # a database file cut in half
    else:
        cut = data[: int(len(data) * 0.7)]
    broken = tmp_path / f"broken{''.join(sample.suffixes)}"
    broken.write_bytes(cut)
    done = run_commentd(database_url, "import", source_format, str(broken), check=False)
    assert done.returncode == 1, done.stdout
    assert "Nothing was imported." in done.stderr
    assert re.search(r"(line|byte|record|comment|post|item) \d+|database", done.stderr), done.stderr
    with Session(migrated_engine) as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 0
