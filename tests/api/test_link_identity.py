"""Ids are never reused, and email links name the very comment they were made for: an old
Approve, Confirm or Unsubscribe link never acts on a later, different comment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

from commentd.config import ModerationMode
from commentd.db import make_engine
from commentd.models import Comment, Commenter, CommentStatus, OutboxEvent, Post, utcnow
from commentd.ops.migrate import alembic_config, upgrade
from commentd.web.services import of as services_of
from tests.helpers import MODERATOR, deliver, link, moderate, post_comment
from tests.receivers import Mailbox

AUTHOR = "author@blog.example"


submit = partial(post_comment, widget=True, body="Hi")  # as the widget sends it


@pytest.fixture
def site(make_app: Callable[..., Flask], mailbox: Mailbox) -> Flask:
    return make_app(smtp_url=mailbox.url, notify_email=AUTHOR, moderation=ModerationMode.KNOWN)


def erase(client: FlaskClient, comment_id: int) -> None:
    response = client.delete(f"/api/moderation/comments/{comment_id}", headers=MODERATOR)
    assert response.status_code == 204


def shown(client: FlaskClient, comment_id: int) -> dict[str, Any]:
    response = client.get(f"/api/moderation/comments/{comment_id}", headers=MODERATOR)
    assert response.status_code == 200 and response.json is not None
    return dict(response.json)


def give_id_to_another_comment(engine: Engine, comment_id: int, **changes: Any) -> None:
    """What SQLite did before ids were AUTOINCREMENT (and what a restore may still do): a new
    comment stored under the id of an erased one."""
    with Session(engine) as session:
        post_id = session.scalars(select(Post.id).limit(1)).one()
        values: dict[str, Any] = {
            "id": comment_id,
            "post_id": post_id,
            "status": CommentStatus.PENDING,
            "name": "Erin",
            "email": "erin@example.com",
            "body": "Someone else entirely",
            "body_html": "<p>Someone else entirely</p>",
            "avatar_key": "0" * 32,
            "notify": False,
            "spam_score": 0.0,
            "reasons": [],
            "created_at": utcnow(),
        }
        session.execute(insert(Comment).values(**(values | changes)))
        session.commit()


# --- ids are never given twice ------------------------------------------------------------


def test_the_id_of_an_erased_newest_comment_commenter_and_event_is_never_given_again(
    site: Flask, migrated_engine: Engine
) -> None:
    client = site.test_client()
    submit(client, name="First", email="first@example.com")
    newest = submit(client, name="Newest", email="newest@example.com")
    with Session(migrated_engine) as session:
        newest_commenter = session.scalars(select(func_max(Commenter.id))).one()
        newest_event = session.scalars(select(func_max(OutboxEvent.id))).one()
    erase(client, newest["id"])  # its identity goes with it: no other comment uses it
    with migrated_engine.begin() as connection:
        connection.execute(text("DELETE FROM outbox_events WHERE id = :id"), {"id": newest_event})

    later = submit(client, name="Later", email="later@example.com")
    with Session(migrated_engine) as session:
        later_commenter = session.scalars(select(func_max(Commenter.id))).one()
        later_event = session.scalars(select(func_max(OutboxEvent.id))).one()

    assert later["id"] > newest["id"]
    assert later_commenter > newest_commenter
    assert later_event > newest_event


def func_max(column: Any) -> Any:
    from sqlalchemy import func

    return func.max(column)


# --- an old link refuses a different comment ------------------------------------------------


@pytest.mark.parametrize("label", ["Approve", "Reject", "Spam"])
def test_a_notice_link_refuses_the_comment_that_took_over_its_id(
    site: Flask, mailbox: Mailbox, migrated_engine: Engine, label: str
) -> None:
    client = site.test_client()
    mailed = submit(client, body="Mailed about")
    deliver(site)
    [notice] = mailbox.to(AUTHOR)
    erase(client, mailed["id"])
    give_id_to_another_comment(migrated_engine, mailed["id"])

    for method in ("GET", "POST"):
        response = client.open(link(notice, label), method=method)
        assert response.status_code == 410, (method, response.text)
        assert "no longer exists" in response.text and "nothing was changed" in response.text
    as_json = client.post(link(notice, label), headers={"Accept": "application/json"})

    assert as_json.json is not None and as_json.json["error"] == "link_stale"
    assert shown(client, mailed["id"])["status"] == "pending"
    assert shown(client, mailed["id"])["body"] == "Someone else entirely"


def test_a_confirmation_link_refuses_the_comment_that_took_over_its_id(
    site: Flask, mailbox: Mailbox, migrated_engine: Engine
) -> None:
    client = site.test_client()
    first = submit(client)
    moderate(client, first["id"], "approve")
    phone = submit(client, body="From my phone")
    deliver(site)
    [confirmation] = [m for m in mailbox.to("dana@example.com") if "Confirm" in m["Subject"]]
    erase(client, phone["id"])
    with Session(migrated_engine) as session:
        commenter_id = session.scalars(select(Comment.commenter_id).limit(1)).one()
    give_id_to_another_comment(
        migrated_engine, phone["id"], body="Not what Dana saw", commenter_id=commenter_id
    )

    response = client.post(link(confirmation, "Confirm"))

    assert response.status_code == 410
    assert shown(client, phone["id"])["status"] == "pending"


def subscribe(site: Flask, client: FlaskClient, mailbox: Mailbox) -> tuple[dict[str, Any], str]:
    """Dana asks for reply notices; returns her comment and the double opt-in link."""
    subscribed = submit(client, body="Tell me", notify=True)
    deliver(site)
    [optin] = [m for m in mailbox.to("dana@example.com") if "reply notices" in m["Subject"]]
    return subscribed, link(optin, "Confirm")


def test_an_unsubscribe_link_refuses_the_comment_that_took_over_its_id(
    site: Flask, mailbox: Mailbox, migrated_engine: Engine
) -> None:
    client = site.test_client()
    subscribed, optin = subscribe(site, client, mailbox)
    assert client.post(optin).status_code == 200
    moderate(client, subscribed["id"], "approve")
    reply = submit(client, name="Bob", email="bob@example.com", parent_id=subscribed["id"])
    moderate(client, reply["id"], "approve")
    deliver(site)
    [notice] = [m for m in mailbox.to("dana@example.com") if "replied" in m["Subject"]]
    erase(client, subscribed["id"])
    give_id_to_another_comment(
        migrated_engine, subscribed["id"], email="erin@example.com", notify=True
    )

    response = client.post(link(notice, "Unsubscribe"))

    assert response.status_code == 410
    assert shown(client, subscribed["id"])["notify"] is True  # Erin still gets her notices


def test_a_reply_notices_confirmation_refuses_the_comment_that_took_over_its_id(
    site: Flask, mailbox: Mailbox, migrated_engine: Engine
) -> None:
    client = site.test_client()
    subscribed, optin = subscribe(site, client, mailbox)
    erase(client, subscribed["id"])
    with Session(migrated_engine) as session:
        commenter_id = session.scalars(select(func_max(Commenter.id))).one()
    give_id_to_another_comment(
        migrated_engine, subscribed["id"], notify=True, commenter_id=commenter_id
    )

    assert client.get(optin).status_code == 410
    assert client.post(optin).status_code == 410


# --- links made before they carried a stamp ---------------------------------------------------


def legacy_moderation_token(secret: str, comment_id: int, action: str) -> str:
    return URLSafeTimedSerializer(secret, salt="commentd.email-moderate").dumps(
        [comment_id, action, "0123456789abcdef0123456789abcdef"]
    )


def test_a_link_made_before_stamps_acts_on_its_comment_and_refuses_a_later_one(
    site: Flask, migrated_engine: Engine
) -> None:
    client = site.test_client()
    secret = services_of(site).secret_key
    older = submit(client, body="Before the upgrade")
    works = legacy_moderation_token(secret, older["id"], "approve")
    assert client.post(f"/email/moderate/{works}").status_code == 200
    assert shown(client, older["id"])["status"] == "approved"

    replaced = submit(client, body="Mailed before the upgrade")
    stale = legacy_moderation_token(secret, replaced["id"], "approve")
    erase(client, replaced["id"])
    later = utcnow() + timedelta(seconds=2)  # made after the link: another comment
    give_id_to_another_comment(migrated_engine, replaced["id"], created_at=later)

    assert client.post(f"/email/moderate/{stale}").status_code == 410
    assert shown(client, replaced["id"])["status"] == "pending"


def test_an_unsubscribe_link_made_before_stamps_still_works(site: Flask) -> None:
    client = site.test_client()
    subscribed = submit(client, notify=True)
    old = URLSafeSerializer(services_of(site).secret_key, salt="commentd.email-unsubscribe")

    response = client.post(f"/email/unsubscribe/{old.dumps(subscribed['id'])}")

    assert response.status_code == 200
    assert shown(client, subscribed["id"])["notify"] is False


# --- the migration -------------------------------------------------------------------------


def test_migrating_an_sqlite_database_keeps_every_row_and_reference_and_never_reuses_ids(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003_outbox")
    now = "2026-01-01 00:00:00.000000"
    comment = (
        "INSERT INTO comments (id, post_id, parent_id, commenter_id, status, name, email, body, "
        "body_html, avatar_key, notify, spam_score, reasons, created_at) VALUES "
        "(:id, 1, :parent, :commenter, 'approved', 'N', 'n@example.com', 'b', '<p>b</p>', 'k', "
        "0, 0, '[]', :now)"
    )
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO posts VALUES (1, 'p', 3, 'v', 0, :now)"), {"now": now})
        connection.execute(
            text("INSERT INTO commenters VALUES (1, 'n@example.com', 'h1', :now)"), {"now": now}
        )
        connection.execute(
            text("INSERT INTO commenters VALUES (2, 'm@example.com', 'h2', :now)"), {"now": now}
        )
        for id_, parent, commenter in [(1, None, 1), (2, 1, 2), (3, 2, 1), (4, None, 2)]:
            connection.execute(
                text(comment), {"id": id_, "parent": parent, "commenter": commenter, "now": now}
            )
        # The author's notice of comment 5, since erased (SQLite would give 5 again).
        connection.execute(
            text(
                "INSERT INTO outbox_events (id, kind, payload, state, attempts, available_at, "
                "created_at) VALUES (1, 'author_notice', '{\"comment_id\": 5}', 'sent', 1, "
                ":now, :now)"
            ),
            {"now": now},
        )
        links_before = connection.execute(
            text("SELECT id, parent_id, commenter_id FROM comments ORDER BY id")
        ).all()

    upgrade(engine)
    with engine.begin() as connection:
        links_after = connection.execute(
            text("SELECT id, parent_id, commenter_id FROM comments ORDER BY id")
        ).all()
        schema = dict(
            connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type='table'")).all()
        )
        connection.execute(text("DELETE FROM comments WHERE id = 4"))
        connection.execute(
            text(comment.replace(":id", "NULL")), {"parent": None, "commenter": 1, "now": now}
        )
        newest = connection.execute(text("SELECT max(id) FROM comments")).scalar()
        problems = connection.execute(text("PRAGMA foreign_key_check")).all()
    engine.dispose()

    assert links_after == links_before
    assert problems == []
    for table in ("comments", "commenters", "outbox_events"):
        assert "AUTOINCREMENT" in schema[table]
    assert newest == 6  # not 4 (erased) nor 5 (named by the outbox)


def test_upgrading_a_database_with_replies_and_imports_past_0008_keeps_them_and_autoincrement(
    tmp_path: Path,
) -> None:
    # 0008 (own comments) once rebuilt `comments` in a batch: the rebuild lost AUTOINCREMENT,
    # its DROP TABLE failed on any reply, and it would have nulled comment_sources.comment_id.
    engine = make_engine(f"sqlite:///{tmp_path / 'at-0007.db'}")
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007_comment_sources")
    now = "2026-01-01 00:00:00.000000"
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO posts VALUES (1, 'p', 2, 'v', 0, :now)"), {"now": now})
        for id_, parent in [(1, None), (2, 1), (3, None)]:
            connection.execute(
                text(
                    "INSERT INTO comments (id, post_id, parent_id, status, name, email, body, "
                    "body_html, avatar_key, notify, spam_score, reasons, created_at) VALUES "
                    "(:id, 1, :parent, 'approved', 'N', 'n@example.com', 'b', '<p>b</p>', 'k', "
                    "0, 0, '[]', :now)"
                ),
                {"id": id_, "parent": parent, "now": now},
            )
        connection.execute(
            text(
                "INSERT INTO comment_sources (id, source, source_id, comment_id, markup, "
                "imported_at) VALUES (1, 'disqus', 'd-1', 1, 'html', :now)"
            ),
            {"now": now},
        )
        connection.execute(text("DELETE FROM comments WHERE id = 3"))  # the newest, erased

    upgrade(engine)
    with engine.begin() as connection:
        links = connection.execute(text("SELECT id, parent_id FROM comments ORDER BY id")).all()
        sources = connection.execute(text("SELECT id, comment_id FROM comment_sources")).all()
        schema = connection.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'comments'")
        ).scalar_one()
        connection.execute(
            text(
                "INSERT INTO comments (post_id, status, name, email, body, body_html, "
                "avatar_key, notify, spam_score, reasons, created_at) VALUES "
                "(1, 'approved', 'L', 'l@example.com', 'b', '<p>b</p>', 'k', 0, 0, '[]', :now)"
            ),
            {"now": now},
        )
        newest = connection.execute(text("SELECT max(id) FROM comments")).scalar()
    engine.dispose()

    assert links == [(1, None), (2, 1)]
    assert sources == [(1, 1)]
    assert "AUTOINCREMENT" in schema
    assert newest == 4  # not 3, the erased comment's
