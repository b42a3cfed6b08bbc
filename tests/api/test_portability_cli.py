"""`commentd import` and `commentd export` as an operator meets them: the author's map of
changed URLs, teaching the filter only when asked, no notices or webhooks, a progress bar only
on a terminal, clear refusals, and a WordPress export that WordPress's structure and our own
reader both accept."""

from __future__ import annotations

import os
from pathlib import Path

from defusedxml.ElementTree import parse as parse_xml
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from commentd.models import CommentStatus, OutboxEvent, SpamFilterState
from commentd.portability.exporting import WXR_NAMESPACES
from tests.helpers import MODERATOR, run_commentd, run_with_terminal_stderr

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
DISQUS = FIXTURES / "disqus" / "sample.xml"
WP = "{" + WXR_NAMESPACES["wp"] + "}"


def test_the_authors_map_moves_changed_urls_to_their_new_slugs(
    client: FlaskClient, database_url: str, tmp_path: Path
) -> None:
    mapping = tmp_path / "moved.csv"
    mapping.write_text(
        "old,slug\n"
        "https://blog.example/2024/03/glute/,exercises/glute-medius\n"  # a whole old URL
        "/blog/%E8%AF%BB%E4%B9%A6/,books\n",  # an old path, percent-encoded
        encoding="utf-8",
    )
    run_commentd(database_url, "import", "disqus", str(DISQUS), "--map", str(mapping))
    counts = client.get("/api/counts?slug=exercises/glute-medius&slug=books&slug=about").json
    assert counts == {"exercises/glute-medius": 7, "books": 3, "about": 1}
    assert client.get("/api/counts?slug=2024/03/glute").json == {"2024/03/glute": 0}


def test_a_map_row_that_is_not_two_columns_is_refused_by_line(
    database_url: str, tmp_path: Path, migrated_engine: Engine
) -> None:
    mapping = tmp_path / "moved.csv"
    mapping.write_text("old,slug\n/a/,b\n/c/\n", encoding="utf-8")
    done = run_commentd(
        database_url, "import", "disqus", str(DISQUS), "--map", str(mapping), check=False
    )
    assert done.returncode == 1
    assert "moved.csv line 3" in done.stderr and "Nothing was imported." in done.stderr


def test_imports_tell_nobody_and_teach_the_filter_only_when_asked(
    database_url: str, migrated_engine: Engine
) -> None:
    run_commentd(database_url, "import", "disqus", str(DISQUS))
    with Session(migrated_engine) as session:
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0
        state = session.get(SpamFilterState, 1)
        assert state is None or state.spam_lessons + state.ham_lessons == 0

    wxr = FIXTURES / "wordpress" / "sample-wxr-1.2.xml"
    run_commentd(database_url, "import", "wordpress", str(wxr), "--teach")
    with Session(migrated_engine) as session:
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0
        state = session.get(SpamFilterState, 1)
        assert state is not None and state.ham_lessons > 0 and state.spam_lessons > 0


def test_a_progress_bar_shows_on_a_terminal_and_never_in_a_pipe(
    database_url: str, migrated_engine: Engine
) -> None:
    environment = os.environ | {"COMMENTD_DATABASE_URL": database_url}
    returncode, seen, output = run_with_terminal_stderr(
        ["import", "disqus", str(DISQUS), "--dry-run"], environment, 60
    )
    assert returncode == 0, seen
    assert b"sample.xml" in seen and b"%|" in seen  # tqdm's bar, on standard error
    assert b"Dry run: nothing was stored." in output

    piped = run_commentd(database_url, "import", "disqus", str(DISQUS), "--dry-run")
    assert "%|" not in piped.stderr


def test_refusals_are_clear(database_url: str, migrated_engine: Engine, tmp_path: Path) -> None:
    unknown = run_commentd(database_url, "import", "blogger", str(DISQUS), check=False)
    assert unknown.returncode == 2 and "'blogger' is not one of" in unknown.stderr
    missing = run_commentd(database_url, "import", "disqus", str(tmp_path / "no.xml"), check=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    wrong = run_commentd(
        database_url, "import", "wordpress", str(DISQUS), check=False
    )  # a Disqus file given as WordPress's
    assert wrong.returncode == 1 and "not a WordPress export" in wrong.stderr


def test_the_wordpress_export_has_wxrs_structure_and_reads_back(
    client: FlaskClient,
    database_url: str,
    tmp_path: Path,
    request: object,
) -> None:
    run_commentd(database_url, "import", "disqus", str(DISQUS))
    hidden = client.get("/api/moderation/comments?status=pending&limit=1", headers=MODERATOR)
    assert hidden.json is not None
    rejected_id = hidden.json["comments"][0]["id"]
    client.post(f"/api/moderation/comments/{rejected_id}/reject", headers=MODERATOR)
    wxr = tmp_path / "out.xml"
    run_commentd(
        database_url, "export", "wordpress", str(wxr), "--site-url", "https://blog.example"
    )

    # WXR 1.2's structure (wp-admin/includes/export.php): rss > channel with wp:wxr_version
    # and base URLs, items with a link, wp:post_type and wp:comment children whose fields
    # the WordPress importer reads (wordpress-importer's WXR_Parser_SimpleXML).
    root = parse_xml(wxr).getroot()
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext(f"{WP}wxr_version") == "1.2"
    assert channel.findtext(f"{WP}base_site_url") == "https://blog.example"
    items = channel.findall("item")
    assert {i.findtext("link") for i in items} >= {
        "https://blog.example/2024/03/glute/",
        "https://blog.example/blog/读书/",
    }
    fields = {
        "comment_id", "comment_author", "comment_author_email", "comment_author_url",
        "comment_author_IP", "comment_date", "comment_date_gmt", "comment_content",
        "comment_approved", "comment_type", "comment_parent", "comment_user_id",
    }  # fmt: skip
    statuses = []
    for item in items:
        assert item.findtext(f"{WP}post_type") == "post"
        assert item.findtext(f"{WP}status") == "publish"
        for comment in item.findall(f"{WP}comment"):
            assert {child.tag.removeprefix(WP) for child in comment} == fields
            statuses.append(comment.findtext(f"{WP}comment_approved"))
    assert sorted(set(statuses)) == ["0", "1", "spam", "trash"]

    # Our own reader takes it back: every approved, pending and spam comment with its
    # threading; the rejected one went out as trash, which an import skips as deleted.
    target = f"sqlite:///{tmp_path / 'back.db'}"
    run_commentd(target, "migrate")
    back = run_commentd(target, "import", "wordpress", str(wxr))
    assert "Imported 14 on 3 posts: 11 approved, 1 pending, 2 spam." in back.stdout
    assert "Skipped 1: 1 deleted." in back.stdout
    before = client.get("/api/posts/2024/03/glute/comments").json
    assert before is not None
    names = [c["author"]["name"] for c in before["comments"]]
    from commentd.config import Settings
    from commentd.web.app import create_app

    other = create_app(Settings(database_url=target, public_url="https://comments.example"))
    after = other.test_client().get("/api/posts/2024/03/glute/comments").json
    assert after is not None
    assert [c["author"]["name"] for c in after["comments"]] == names
    assert [c["body_html"] for c in after["comments"]] == [
        c["body_html"] for c in before["comments"]
    ]
    depth = {c["id"]: (c["parent_id"] is not None) for c in after["comments"]}
    assert depth == {
        c_after["id"]: (c_before["parent_id"] is not None)
        for c_before, c_after in zip(before["comments"], after["comments"], strict=True)
    }
    del request
    assert CommentStatus.REJECTED.value == "rejected"
