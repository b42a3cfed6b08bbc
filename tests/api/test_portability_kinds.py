"""What an import keeps of a source's fields, by kind: addresses that are not addresses, one id
given twice, a site address that is not one; each through the command line or the API."""

from __future__ import annotations

import json
from pathlib import Path

from flask.testing import FlaskClient

from tests.helpers import MODERATOR, run_commentd


def artrans(*comments: dict[str, str]) -> str:
    base = {
        "page_key": "/kinds/",
        "nick": "A",
        "content": "hello",
        "created_at": "2024-01-01 10:00:00 +0000",
    }
    return json.dumps([base | c for c in comments])


def test_an_address_with_spaces_or_two_ats_is_no_address(
    client: FlaskClient, database_url: str, migrated_engine: object, tmp_path: Path
) -> None:
    path = tmp_path / "a.json"
    path.write_text(
        artrans(
            {"id": "1", "email": "a b@example.org"},
            {"id": "2", "email": "a@b@example.org"},
            {"id": "3", "email": " ok@example.org "},
        )
    )
    run_commentd(database_url, "import", "artalk", str(path))
    queue = client.get("/api/moderation/comments?status=approved", headers=MODERATOR).json
    assert queue is not None
    emails = sorted(c["email"] for c in queue["comments"])
    assert emails == ["", "", "ok@example.org"]


def test_one_id_given_twice_in_a_file_is_counted_not_taken_for_an_earlier_import(
    client: FlaskClient, database_url: str, migrated_engine: object, tmp_path: Path
) -> None:
    path = tmp_path / "twice.json"
    path.write_text(
        artrans(
            {"id": "1", "content": "first"},
            {"id": "1", "content": "second, same id", "page_key": "/other/"},
        )
    )
    done = run_commentd(database_url, "import", "artalk", str(path))
    assert "Imported 1 on 1 post: 1 approved." in done.stdout
    assert "Already imported before: 0." in done.stdout
    assert "Skipped 1: 1 duplicate id." in done.stdout
    again = run_commentd(database_url, "import", "artalk", str(path))
    assert "Already imported before: 1." in again.stdout and "1 duplicate id" in again.stdout


def test_a_site_address_must_be_an_http_url(
    client: FlaskClient, database_url: str, migrated_engine: object, tmp_path: Path
) -> None:
    for bad in ("javascript:alert(1)", "blog.example", "https://", "https://blog.example/?q=1"):
        answer = client.get(
            "/api/moderation/export/wordpress", query_string={"site_url": bad}, headers=MODERATOR
        )
        assert answer.status_code == 400, bad
        assert answer.json is not None and "site_url" in answer.json["message"]
        done = run_commentd(
            database_url, "export", "wordpress", str(tmp_path / "x.xml"), "--site-url", bad,
            check=False,
        )  # fmt: skip
        assert done.returncode == 2 and "--site-url" in done.stderr, bad


def test_replies_that_loop_or_predate_their_parent_come_in_top_level(
    client: FlaskClient, database_url: str, migrated_engine: object, tmp_path: Path
) -> None:
    path = tmp_path / "loop.json"
    path.write_text(
        artrans(
            {"id": "1", "rid": "2", "created_at": "2024-01-01 10:00:00 +0000"},  # a loop: 1 ↔ 2
            {"id": "2", "rid": "1", "created_at": "2024-01-01 11:00:00 +0000"},
            {"id": "3", "rid": "3", "created_at": "2024-01-01 12:00:00 +0000"},  # its own parent
            {"id": "4", "rid": "5", "created_at": "2024-01-01 09:00:00 +0000"},  # before its parent
            {"id": "5", "created_at": "2024-01-01 13:00:00 +0000"},
        )
    )
    done = run_commentd(database_url, "import", "artalk", str(path))
    assert "Imported 5 on 1 post: 5 approved." in done.stdout
    # 2 keeps 1, the older, as its parent; 1 and 4 point at none older: top-level (the
    # reader already reads 3, its own parent, as top-level).
    assert "Replies whose parent is missing, now top-level: 2." in done.stdout
    page = client.get("/api/posts/kinds/comments").json
    assert page is not None and page["count"] == 5
    assert sum(1 for c in page["comments"] if c["parent_id"] is None) == 4


def test_a_comment_whose_rendering_shows_nothing_is_skipped_as_empty(
    client: FlaskClient, database_url: str, migrated_engine: object, tmp_path: Path
) -> None:
    path = tmp_path / "blank.json"
    blank = ["&#8203;", "&nbsp; &zwnj;", "&#x2800;", "[](https://example.com)", "`` ``", "  "]
    path.write_text(
        artrans(
            *({"id": str(n), "content": text} for n, text in enumerate(blank, 1)),
            {"id": "99", "content": "&amp;"},
        )
    )
    done = run_commentd(database_url, "import", "artalk", str(path))
    assert "Imported 1 on 1 post: 1 approved." in done.stdout
    assert f"Skipped {len(blank)}: {len(blank)} empty." in done.stdout, done.stdout
