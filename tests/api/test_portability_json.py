"""commentd's own export, through the real command line: `commentd export json` then
`commentd import json` into an empty service gives the same public output for every post (ids,
dates, threading), across SQLite and PostgreSQL; importing again stores nothing; a broken file
stores nothing; a running service's pages are right at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commentd.config import Settings
from commentd.db import make_engine
from commentd.models import Comment, CommentSource, CommentStatus
from commentd.ops.migrate import upgrade
from commentd.web.app import create_app
from commentd.web.services import of as services_of
from tests.helpers import MODERATOR, run_commentd

POSTS = ["gluteus-medius", "blog/读书", "2024/03/glute"]


def public_pages(client: FlaskClient, slugs: list[str] = POSTS) -> dict[str, Any]:
    pages = {}
    for slug in slugs:
        response = client.get(f"/api/posts/{slug}/comments")
        assert response.status_code == 200
        pages[slug] = response.json
    return pages


def fill(
    client: FlaskClient,
    make_comment: Callable[..., int],
    post_comment: Callable[..., dict[str, Any]],
) -> dict[str, int]:
    """A site with every status, replies three deep, Unicode, and a closed post."""
    ids: dict[str, int] = {}
    ids["top"] = make_comment(slug=POSTS[0], name="Dana", body="Pigeon pose, *really*?")
    ids["reply"] = make_comment(slug=POSTS[0], name="Ravi", body="Yes!", parent_id=ids["top"])
    ids["deeper"] = make_comment(
        slug=POSTS[0], name="Lee ☕", body="Tried it 🙂", parent_id=ids["reply"]
    )
    ids["deepest"] = make_comment(
        slug=POSTS[0],
        name="زينب",
        body="مرحبا — [link](https://x.example/?a=1&b=2)",
        parent_id=ids["deeper"],
    )
    ids["pending"] = post_comment(
        slug=POSTS[1], name="Wei", body="读书 is reading", title="读书 — a post"
    )["id"]
    ids["spam"] = make_comment(CommentStatus.SPAM, slug=POSTS[1], body="cheap pills")
    ids["rejected"] = make_comment(CommentStatus.REJECTED, slug=POSTS[2], body="meh")
    ids["other"] = make_comment(slug=POSTS[2], name="Zoë", body="Café\n\nsecond paragraph")
    # Edited by its writer, who asked to be told when it is approved.
    edited = post_comment(slug=POSTS[0], name="Ada", body="Teh typo", notify_approved=True)
    ids["edited"] = edited["id"]
    response = client.patch(
        f"/api/posts/{POSTS[0]}/comments/{edited['id']}",
        json={"body": "The typo, fixed", "commenter_token": edited["commenter_token"]},
    )
    assert response.status_code == 200, response.json
    response = client.put(
        f"/api/moderation/posts/{POSTS[2]}", json={"closed": True}, headers=MODERATOR
    )
    assert response.status_code == 200, response.json
    # The author's console: a reply as the author, a pinned comment, a title set by hand.
    response = client.post(
        f"/api/moderation/comments/{ids['top']}/reply", json={"body": "Thanks!"}, headers=MODERATOR
    )
    assert response.status_code == 201, response.json
    ids["owner"] = response.json["id"]
    response = client.post(f"/api/moderation/comments/{ids['top']}/pin", headers=MODERATOR)
    assert response.status_code == 200, response.json
    response = client.put(
        f"/api/moderation/posts/{POSTS[0]}", json={"title": "Gluteus medius"}, headers=MODERATOR
    )
    assert response.status_code == 200, response.json
    return ids


def moderation_view(client: FlaskClient) -> list[dict[str, Any]]:
    """Every comment of every status as the author sees it, by id."""
    seen = []
    for status in CommentStatus:
        response = client.get(
            f"/api/moderation/comments?status={status.value}&limit=100", headers=MODERATOR
        )
        assert response.status_code == 200, response.json
        assert response.json is not None
        seen.extend(response.json["comments"])
    return sorted(seen, key=lambda c: c["id"])


@pytest.fixture
def second_database(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> str:
    """The other backend: an export from SQLite goes into PostgreSQL and the other way."""
    if database_url.startswith("sqlite"):
        make: Callable[[], str] = request.getfixturevalue("postgres_schema_url")
        return make()
    return f"sqlite:///{tmp_path / 'second.db'}"


def app_on(url: str, settings: Settings) -> Flask:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    from dataclasses import replace

    return create_app(replace(settings, database_url=url))


def test_a_move_to_another_database_keeps_every_post_exactly(
    client: FlaskClient,
    make_comment: Callable[..., int],
    post_comment: Callable[..., dict[str, Any]],
    database_url: str,
    second_database: str,
    settings: Settings,
    tmp_path: Path,
) -> None:
    ids = fill(client, make_comment, post_comment)
    before = public_pages(client)
    before_moderation = moderation_view(client)
    export = tmp_path / "export.json"
    run_commentd(database_url, "export", "json", str(export))
    document = json.loads(export.read_text())
    assert document["format"] == "commentd" and document["version"] == 1
    assert len(document["comments"]) == len(ids)

    target = app_on(second_database, settings)
    done = run_commentd(second_database, "import", "json", str(export))
    assert "Imported 10 on 3 posts: 6 approved, 2 pending, 1 spam, 1 rejected." in done.stdout
    assert "Comment ids were kept" in done.stdout
    target_client = target.test_client()
    assert public_pages(target_client) == before
    # The author's view too: statuses, emails, reasons and moderation times came along.
    assert moderation_view(target_client) == before_moderation
    # Everything the service keeps came along: the target's own export says the same.
    moved = tmp_path / "moved.json"
    run_commentd(second_database, "export", "json", str(moved))
    kept = [c | {"sources": []} for c in json.loads(moved.read_text())["comments"]]
    assert kept == [c | {"sources": []} for c in document["comments"]]
    [edited] = [c for c in kept if c["id"] == ids["edited"]]
    assert edited["edited_at"] is not None and edited["notify_approved"] is True
    [owner] = [c for c in kept if c["id"] == ids["owner"]]
    [pinned] = [c for c in kept if c["id"] == ids["top"]]
    assert owner["is_owner"] is True and pinned["pinned_at"] is not None
    # Posts too: closed flags and titles (the author's, and the one the widget sent).
    posts = sorted(json.loads(moved.read_text())["posts"], key=lambda p: p["slug"])
    assert posts == sorted(document["posts"], key=lambda p: p["slug"])
    assert {p["slug"]: p["title"] for p in posts} == {
        POSTS[0]: "Gluteus medius",
        POSTS[1]: "读书 — a post",
        POSTS[2]: None,
    }

    # Histories are not exported: an imported comment's starts with its import.
    history = target_client.get(
        f"/api/moderation/comments/{ids['spam']}/history", headers=MODERATOR
    ).json
    assert [(e["action"], e["actor"], e["to"]) for e in (history or {})["events"]] == [
        ("imported", "import", "spam")
    ]

    again = run_commentd(second_database, "import", "json", str(export))
    assert "Imported 0 on 0 posts." in again.stdout
    assert "Already imported before: 10." in again.stdout
    assert public_pages(target_client) == before
    # A new comment after the move gets an id after every moved one (no id handed out twice).
    response = target_client.post(
        f"/api/posts/{POSTS[0]}/comments",
        json={"name": "New", "email": "new@example.com", "body": "after the move"},
    )
    assert response.status_code == 201 and response.json is not None
    assert response.json["id"] > max(ids.values())
    services_of(target).engine.dispose()


def test_importing_a_services_own_export_into_itself_stores_nothing(
    client: FlaskClient,
    make_comment: Callable[..., int],
    post_comment: Callable[..., dict[str, Any]],
    database_url: str,
    tmp_path: Path,
) -> None:
    fill(client, make_comment, post_comment)
    before = public_pages(client)
    export = tmp_path / "export.json"
    run_commentd(database_url, "export", "json", str(export))
    done = run_commentd(database_url, "import", "json", str(export))
    assert "Already imported before: 10." in done.stdout
    assert public_pages(client) == before


def test_a_commenter_keeps_their_token_across_the_move(
    client: FlaskClient,
    database_url: str,
    second_database: str,
    settings: Settings,
    tmp_path: Path,
) -> None:
    posted = client.post(
        f"/api/posts/{POSTS[0]}/comments",
        json={"name": "Dana", "email": "dana@example.com", "body": "mine"},
    ).json
    assert posted is not None
    export = tmp_path / "export.json"
    run_commentd(database_url, "export", "json", str(export))
    target = app_on(second_database, settings)
    run_commentd(second_database, "import", "json", str(export))
    with Session(services_of(target).engine) as session:
        comment = session.get(Comment, posted["id"])
        assert comment is not None and comment.commenter_id is not None
    mine = target.test_client().get(
        "/api/comments/mine", headers={"Authorization": f"Commenter {posted['commenter_token']}"}
    )
    if mine.status_code != 404:  # the endpoint exists: the token still finds the comment
        assert mine.status_code == 200 and mine.json is not None
        assert [c["id"] for c in mine.json["comments"]] == [posted["id"]]
    services_of(target).engine.dispose()


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_a_truncated_export_stores_nothing_and_names_the_place(
    client: FlaskClient,
    make_comment: Callable[..., int],
    post_comment: Callable[..., dict[str, Any]],
    database_url: str,
    second_database: str,
    settings: Settings,
    tmp_path: Path,
    cut: float,
) -> None:
    fill(client, make_comment, post_comment)
    export = tmp_path / "export.json"
    run_commentd(database_url, "export", "json", str(export))
    data = export.read_bytes()
    broken = tmp_path / "broken.json"
    broken.write_bytes(data[: int(len(data) * cut)])
    target = app_on(second_database, settings)
    done = run_commentd(second_database, "import", "json", str(broken), check=False)
    assert done.returncode == 1
    assert "byte " in done.stderr and "Nothing was imported." in done.stderr
    with Session(services_of(target).engine) as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 0
        assert session.scalar(select(func.count()).select_from(CommentSource)) == 0
    services_of(target).engine.dispose()


def test_a_dry_run_counts_everything_and_stores_nothing(
    client: FlaskClient,
    make_comment: Callable[..., int],
    post_comment: Callable[..., dict[str, Any]],
    database_url: str,
    second_database: str,
    settings: Settings,
    tmp_path: Path,
) -> None:
    fill(client, make_comment, post_comment)
    export = tmp_path / "export.json"
    run_commentd(database_url, "export", "json", str(export))
    target = app_on(second_database, settings)
    done = run_commentd(second_database, "import", "json", str(export), "--dry-run")
    assert "Imported 10 on 3 posts" in done.stdout and "Dry run: nothing was stored." in done.stdout
    with Session(services_of(target).engine) as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 0
    services_of(target).engine.dispose()


def test_a_hand_edited_export_cannot_put_markup_on_the_page(
    database_url: str, app: Flask, tmp_path: Path
) -> None:
    hostile = {
        "format": "commentd",
        "version": 1,
        "instance": "0" * 32,
        "posts": [],
        "comments": [
            {
                "id": 1,
                "slug": "p",
                "parent_id": None,
                "status": "approved",
                "name": "\u202eevil",
                "email": "e@example.com",
                "website": "javascript:alert(1)",
                "body": "x",
                "body_html": '<p onclick="x()">hi<script>alert(1)</script>'
                '<img src=x onerror=alert(1)><a href="javascript:alert(1)">l</a></p>',
                "created_at": "2024-05-01T09:30:00+02:00",
                "avatar_key": "k",
            }
        ],
    }
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(hostile))
    run_commentd(database_url, "import", "json", str(path))
    page = app.test_client().get("/api/posts/p/comments").json
    assert page is not None
    (comment,) = page["comments"]
    assert comment["body_html"] == '<p>hi<a rel="nofollow ugc noopener">l</a></p>'
    assert comment["author"]["name"] == "evil"
    assert comment["author"]["website"] is None
    assert comment["created_at"] == "2024-05-01T07:30:00Z"


def test_a_running_service_shows_imported_comments_at_once(
    client: FlaskClient,
    make_comment: Callable[..., int],
    database_url: str,
    tmp_path: Path,
) -> None:
    make_comment(slug=POSTS[0], body="first")
    export = tmp_path / "export.json"
    run_commentd(database_url, "export", "json", str(export))
    seen = client.get(f"/api/posts/{POSTS[0]}/comments")  # cached now, with an ETag
    assert seen.json is not None and seen.json["count"] == 1
    document = json.loads(export.read_text())
    document["instance"] = "f" * 32  # another service's export of the same comment
    document["comments"][0]["id"] = 99
    export.write_text(json.dumps(document))
    run_commentd(database_url, "import", "json", str(export))
    after = client.get(
        f"/api/posts/{POSTS[0]}/comments", headers={"If-None-Match": seen.headers["ETag"]}
    )
    assert after.status_code == 200 and after.json is not None
    assert after.json["count"] == 2
    counts = client.get(f"/api/counts?slug={POSTS[0]}").json
    assert counts is not None and counts[POSTS[0]] == 2
