"""Post moves (`POST /api/moderation/posts/<slug>/move`) racing each other and first comments:
no 500, no deadlock's 503, no comment left behind. On SQLite and PostgreSQL, through the Flask
client; another transaction holds its place in the race open while the moves queue up."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from commentd.comments.fast_path import insert_comment
from commentd.comments.posts import find_post, open_post
from commentd.db import writer
from commentd.web.services import of as services_of
from tests.api.test_console_authoring import MakeComment, public, shown, stored_comment_values
from tests.helpers import MODERATOR


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
        with ThreadPoolExecutor(max_workers=1) as pool:
            moving = pool.submit(move, client, "old", "new")
            time.sleep(0.5)
            waited = not moving.done()
            reader.commit()
            answer = moving.result(timeout=30)

    assert waited
    assert answer.status_code == 200, answer.json
    assert (answer.json or {})["merged"] is True
    assert (answer.json or {})["moved"] == 1
    assert shown(client, moved)["slug"] == shown(client, late.id)["slug"] == "new"
    assert public(client, "new")["count"] == 1  # the reader's comment waits for moderation
    assert move(client, "old", "elsewhere").status_code == 404
