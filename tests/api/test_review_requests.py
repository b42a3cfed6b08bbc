"""A reader whose comment the spam defences caught asks the author to review it, from the
browser that posted it (issue 17): POST /api/posts/<slug>/comments/<id>/review with the
commenter_token. Through the app, on SQLite and PostgreSQL, with a real SMTP server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from commentd.config import ModerationMode
from commentd.models import Comment, SpamFilterState
from commentd.web.services import of as services_of
from tests.helpers import (
    MODERATOR,
    SLUG,
    deliver,
    moderate,
    post_comment,
    status_of,
    text_of,
)
from tests.receivers import Mailbox, WebhookReceiver

AUTHOR = "author@blog.example"


@pytest.fixture(params=[ModerationMode.KNOWN, ModerationMode.NONE])
def review_app(
    request: pytest.FixtureRequest, make_app: Callable[..., Flask], mailbox: Mailbox
) -> Flask:
    """ "casino" is caught as spam; the author's mail on; known mode and no moderation."""
    return make_app(
        smtp_url=mailbox.url,
        notify_email=AUTHOR,
        moderation=request.param,
        disallowed_keywords=("casino",),
        delivery_timeout=5,
        review_rate_limit="1000 per minute",  # one test below checks the limit itself
    )


@pytest.fixture
def client(review_app: Flask) -> FlaskClient:
    return review_app.test_client()


def send(client: FlaskClient, slug: str = SLUG, **fields: Any) -> dict[str, Any]:
    return post_comment(client, slug, widget=True, **fields)


def ask(
    client: FlaskClient,
    comment_id: int,
    token: str | None,
    slug: str = SLUG,
    *,
    header: bool = False,
    **kwargs: Any,
) -> Any:
    path = f"/api/posts/{slug}/comments/{comment_id}/review"
    if header and token is not None:
        return client.post(path, headers={"Authorization": f"Commenter {token}"}, **kwargs)
    body = {"commenter_token": token} if token is not None else {}
    return client.post(path, json=body, **kwargs)


def stored(engine: Engine, comment_id: int) -> Comment:
    with Session(engine) as session:
        comment = session.get(Comment, comment_id)
        assert comment is not None
        return comment


def filter_generation(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(SpamFilterState.generation)) or 0)


def test_a_caught_reader_asks_for_review_once_and_the_author_is_told(
    client: FlaskClient, review_app: Flask, mailbox: Mailbox
) -> None:
    engine = services_of(review_app).engine
    caught = send(client, name="Ana", body="Is this safe after knee surgery? casino")
    assert caught["status"] == "spam"
    deliver(review_app)
    assert mailbox.messages == []  # the spam folder is no news by itself
    generation = filter_generation(engine)

    asked = ask(client, caught["id"], caught["commenter_token"])
    deliver(review_app)
    again = ask(client, caught["id"], caught["commenter_token"])

    assert asked.status_code == 200
    assert asked.json == {"id": caught["id"], "status": "pending"}
    assert asked.headers["Cache-Control"] == "no-store"
    assert status_of(client, caught["id"]) == "pending"
    comment = stored(engine, caught["id"])
    assert comment.reasons[-1] == "review_requested"
    assert comment.lesson is None and filter_generation(engine) == generation  # no lesson
    [notice] = mailbox.messages
    assert notice["To"] == AUTHOR
    assert notice["Subject"].startswith("Review asked for a comment caught as spam: Ana")
    assert "review_requested" in text_of(notice)
    assert "Approve: https://comments.example/email/moderate/" in text_of(notice)
    assert again.status_code == 409
    assert again.json["error"] == "review_already_requested"

    # Marked spam again by the author, it cannot be sent back: that decision stands.
    moderate(client, caught["id"], "spam")
    assert ask(client, caught["id"], caught["commenter_token"]).status_code == 409


def test_the_token_may_come_in_the_authorization_header(client: FlaskClient) -> None:
    caught = send(client, body="casino")

    asked = ask(client, caught["id"], caught["commenter_token"], header=True)

    assert asked.status_code == 200
    assert status_of(client, caught["id"]) == "pending"


def test_not_yours_is_one_answer_whatever_the_reason(client: FlaskClient) -> None:
    caught = send(client, email="ana@example.com", body="casino")
    other = send(client, email="bo@example.com", body="casino too")
    fine = send(client, email="cy@example.com", body="Thank you, this helped", slug="knees")

    answers = [
        ask(client, caught["id"], None),  # no token
        ask(client, caught["id"], "not-a-token-we-issued"),
        ask(client, caught["id"], other["commenter_token"]),  # someone else's
        ask(client, caught["id"], caught["commenter_token"], slug="knees"),  # another post
        ask(client, 999999, caught["commenter_token"]),  # no such comment
        ask(client, fine["id"], caught["commenter_token"], slug="knees"),  # not spam, not theirs
    ]

    assert {(a.status_code, a.get_data(as_text=True)) for a in answers} == {
        (answers[0].status_code, answers[0].get_data(as_text=True))
    }
    assert answers[0].status_code == 403 and answers[0].json["error"] == "not_yours"
    assert status_of(client, caught["id"]) == "spam"


def test_only_the_defences_catch_may_be_sent_for_review(
    client: FlaskClient, review_app: Flask
) -> None:
    waiting_or_public = send(client, body="Thank you, this helped")
    filed = send(client, body="Great post")
    moderate(client, filed["id"], "spam")  # the author's decision
    bot = send(client, body="casino", url2="https://filled.example")  # the honeypot

    for posted in (waiting_or_public, filed, bot):
        answer = ask(client, posted["id"], posted["commenter_token"])
        assert answer.status_code == 409, answer.json
        assert answer.json["error"] == "review_unavailable"
    assert status_of(client, filed["id"]) == "spam"
    assert status_of(client, bot["id"]) == "spam"


def test_requests_are_rate_limited_per_client(
    make_app: Callable[..., Flask], mailbox: Mailbox
) -> None:
    client = make_app(
        moderation=ModerationMode.NONE,
        disallowed_keywords=("casino",),
        review_rate_limit="2 per hour",
    ).test_client()
    caught = [send(client, body=f"casino {n}") for n in range(3)]

    answers = [ask(client, c["id"], c["commenter_token"]).status_code for c in caught]

    assert answers == [200, 200, 429]
    assert status_of(client, caught[2]["id"]) == "spam"


def test_a_foreign_origin_is_refused(client: FlaskClient) -> None:
    caught = send(client, body="casino")

    answer = ask(
        client, caught["id"], caught["commenter_token"], headers={"Origin": "https://evil.example"}
    )

    assert answer.status_code == 403
    assert status_of(client, caught["id"]) == "spam"


def test_the_moderation_queue_shows_the_request(client: FlaskClient) -> None:
    caught = send(client, body="casino")
    ask(client, caught["id"], caught["commenter_token"])

    queue = client.get("/api/moderation/comments?status=pending", headers=MODERATOR).json

    [shown] = [c for c in queue["comments"] if c["id"] == caught["id"]]
    assert "review_requested" in shown["reasons"]
    history = client.get(f"/api/moderation/comments/{caught['id']}/history", headers=MODERATOR)
    assert [(e["action"], e["actor"], e["from"], e["to"]) for e in history.json["events"]] == [
        ("submitted", "rules", None, "spam"),
        ("review_requested", "reader", "spam", "pending"),
    ]


def test_two_requests_at_once_move_it_once_and_tell_the_author_once(
    make_app: Callable[..., Flask], review_app: Flask, client: FlaskClient, mailbox: Mailbox
) -> None:
    other = make_app(
        smtp_url=mailbox.url, notify_email=AUTHOR, review_rate_limit="1000 per minute"
    ).test_client()
    caught = send(client, body="casino")
    start = threading.Barrier(2)
    answers: list[int] = []

    def work(each: FlaskClient) -> None:
        start.wait()
        answers.append(ask(each, caught["id"], caught["commenter_token"]).status_code)

    threads = [threading.Thread(target=work, args=(c,)) for c in (client, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deliver(review_app)

    assert sorted(answers) == [200, 409]
    assert (
        stored(services_of(review_app).engine, caught["id"]).reasons.count("review_requested") == 1
    )
    assert len(mailbox.messages) == 1


def test_sites_with_webhooks_hear_of_the_comment_now_waiting(
    make_app: Callable[..., Flask], receiver: WebhookReceiver
) -> None:
    app = make_app(
        moderation=ModerationMode.NONE,
        disallowed_keywords=("casino",),
        webhook_urls=(receiver.url,),
        webhook_secret="whsec-0123456789",
    )
    client = app.test_client()
    caught = send(client, body="casino")
    deliver(app)
    assert receiver.requests == []  # spam is never announced

    ask(client, caught["id"], caught["commenter_token"])
    deliver(app)

    [hook] = receiver.payloads()
    assert hook["event"] == "comment.created"
    assert hook["comment"]["id"] == caught["id"]
