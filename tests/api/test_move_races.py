"""Post moves (`POST /api/moderation/posts/<slug>/move`) racing each other and first comments:
no 500, no deadlock's 503, no comment left behind. On SQLite and PostgreSQL, through the Flask
client; another transaction holds its place in the race open while the moves queue up."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from commentd.comments.events import NO_EVENTS
from commentd.comments.fast_path import insert_comment
from commentd.comments.moderation import moderate
from commentd.comments.posts import find_post, move_post, open_post
from commentd.comments.queries import get_comment
from commentd.db import writer
from commentd.models import CommentStatus, Post
from commentd.web.services import of as services_of
from tests.api.test_console_authoring import MakeComment, public, shown, stored_comment_values
from tests.helpers import MODERATOR, waits_behind


def move(client: FlaskClient, source: str, target: str) -> Any:
    return client.post(
        f"/api/moderation/posts/{source}/move", json={"to": target}, headers=MODERATOR
    )


def test_moves_both_ways_at_once_each_wait_their_turn(
    app: Flask, client: FlaskClient, make_comment: MakeComment
) -> None:
    # a→b and b→a queue behind a transaction holding a's row. Locking the source and then the
    # target, b→a held b and waited for a while a→b held a and waited for b: PostgreSQL broke
    # the deadlock by failing one (a 503 "database unavailable").
    first = make_comment(slug="a")
    second = make_comment(slug="b")
    with Session(writer(services_of(app).engine)) as holder:
        assert find_post(holder, "a", lock=True) is not None
        with ThreadPoolExecutor(max_workers=2) as pool:
            there = pool.submit(move, client, "a", "b")
            time.sleep(0.3)
            back = pool.submit(move, client, "b", "a")
            time.sleep(0.5)
            waited = not there.done() and not back.done()
            holder.rollback()
            answers = [there.result(timeout=30), back.result(timeout=30)]

    assert waited
    assert [a.status_code for a in answers] == [200, 200], [a.json for a in answers]
    # Whichever ran second took everything along: both comments are on one post, counted.
    slugs = {shown(client, first)["slug"], shown(client, second)["slug"]}
    assert len(slugs) == 1
    (slug,) = slugs
    assert public(client, slug)["count"] == 2
    assert public(client, "b" if slug == "a" else "a")["count"] == 0


def test_a_move_onto_a_slug_whose_first_comment_is_being_stored_joins_that_post(
    app: Flask, client: FlaskClient, make_comment: MakeComment
) -> None:
    # The target has no post when the move looks, but a reader's first comment is creating it
    # (not committed yet: no row to lock). The rename then met the unique slug: a 500.
    moved = make_comment(slug="old")
    with Session(writer(services_of(app).engine)) as reader:
        late = insert_comment(reader, stored_comment_values(open_post(reader, "new")))
        waited, answer = waits_behind(reader.commit, lambda: move(client, "old", "new"))

    assert waited
    assert answer.status_code == 200, answer.json
    assert (answer.json or {})["merged"] is True
    assert (answer.json or {})["moved"] == 1
    assert shown(client, moved)["slug"] == shown(client, late.id)["slug"] == "new"
    assert public(client, "new")["count"] == 1  # the reader's comment waits for moderation
    assert move(client, "old", "elsewhere").status_code == 404


def test_a_decision_under_way_on_a_moved_comment_and_the_move_both_finish(
    app: Flask, client: FlaskClient, make_comment: MakeComment
) -> None:
    # The author approves a comment (its row locked, then its post's bumped) while a move of
    # its post starts. The move locked the posts and then waited for the comment, the approval
    # waited for the post: a deadlock, one of the two failed. Now the move waits its turn.
    waiting = make_comment(CommentStatus.PENDING, slug="old")
    make_comment(slug="new")
    with Session(writer(services_of(app).engine)) as author:
        get_comment(author, waiting, lock=True)
        with ThreadPoolExecutor(max_workers=1) as pool:
            moving = pool.submit(move, client, "old", "new")
            time.sleep(0.5)
            waited = not moving.done()
            moderate(author, waiting, CommentStatus.APPROVED, events=NO_EVENTS, actor="test")
            author.commit()
            answer = moving.result(timeout=30)

    assert waited
    assert answer.status_code == 200, answer.json
    assert shown(client, waiting)["slug"] == "new"
    assert public(client, "new")["count"] == 2


def test_a_decision_that_waited_for_a_move_finds_the_comment_where_it_went(
    app: Flask, client: FlaskClient, make_comment: MakeComment
) -> None:
    # Approving a comment that a merge is moving: the approval waits for the move, then finds
    # the comment on its new post. Locked together with the post it was joined to, it was
    # re-read after the wait against its old, deleted post and answered 404.
    waiting = make_comment(CommentStatus.PENDING, slug="old")
    make_comment(slug="new")
    with Session(writer(services_of(app).engine)) as holder:
        get_comment(holder, waiting, lock=True)
        with ThreadPoolExecutor(max_workers=2) as pool:
            moving = pool.submit(move, client, "old", "new")
            time.sleep(0.4)
            approving = pool.submit(
                client.post, f"/api/moderation/comments/{waiting}/approve", headers=MODERATOR
            )
            time.sleep(0.4)
            waited = not moving.done() and not approving.done()
            holder.rollback()
            moved, approved = moving.result(timeout=30), approving.result(timeout=30)

    assert waited
    assert moved.status_code == 200, moved.json
    assert approved.status_code == 200, approved.json
    assert (approved.json or {})["slug"] == "new"
    assert public(client, "new")["count"] == 2


def test_an_edit_that_waited_for_a_move_moves_the_version_of_the_post_it_is_on(
    app: Flask, client: FlaskClient, make_comment: MakeComment
) -> None:
    # The author edits a published comment while a merge moves it: the edit waits for the
    # move's lock, then must bump the post the comment is on now. Read without a lock, the
    # comment still named its old post, whose row the merge had deleted: no version moved,
    # and every cached copy of the new post kept the old text.
    edited = make_comment(slug="old")
    make_comment(slug="new")
    with Session(writer(services_of(app).engine)) as mover:
        move_post(mover, "old", "new", actor="test")
        moved_version = mover.scalars(select(Post.version).where(Post.slug == "new")).one()
        waited, answer = waits_behind(
            mover.commit,
            lambda: client.patch(
                f"/api/moderation/comments/{edited}",
                json={"body": "Edited while moving"},
                headers=MODERATOR,
            ),
        )

    assert waited
    assert answer.status_code == 200, answer.json
    assert (answer.json or {})["slug"] == "new"
    with Session(services_of(app).engine) as session:
        version = session.scalars(select(Post.version).where(Post.slug == "new")).one()
    assert version != moved_version
    bodies = [c["body_html"] for c in public(client, "new")["comments"]]
    assert "<p>Edited while moving</p>" in bodies


def test_a_bulk_decision_and_a_move_of_the_same_comments_both_finish(
    app: Flask, client: FlaskClient, make_comment: MakeComment
) -> None:
    # A move waits for the first of the post's comments (another decision holds it); a bulk
    # approval given the ids newest first then took the second and waited for the first,
    # which the move took next before waiting for the second: a deadlock (a 503).
    first = make_comment(CommentStatus.PENDING, slug="old")
    second = make_comment(CommentStatus.PENDING, slug="old")
    make_comment(slug="new")
    with Session(writer(services_of(app).engine)) as holder:
        get_comment(holder, first, lock=True)
        with ThreadPoolExecutor(max_workers=2) as pool:
            moving = pool.submit(move, client, "old", "new")
            time.sleep(0.4)
            bulk = pool.submit(
                client.post,
                "/api/moderation/comments/bulk",
                json={"action": "approve", "ids": [second, first, 10**6]},
                headers=MODERATOR,
            )
            time.sleep(0.4)
            waited = not moving.done() and not bulk.done()
            holder.rollback()
            moved, approved = moving.result(timeout=30), bulk.result(timeout=30)

    assert waited
    assert moved.status_code == 200, moved.json
    assert approved.status_code == 200, approved.json
    assert approved.json == {"done": [second, first], "missing": [10**6]}
    assert public(client, "new")["count"] == 3
