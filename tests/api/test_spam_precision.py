"""Issue 17 through the API: after a few hundred of the author's decisions, readers' comments
that the filter is unsure of are held or published, never sent to the spam folder; strong
spam still is."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from commentd.config import ModerationMode
from tests.helpers import MODERATOR, moderate, post_comment
from tests.spam_lessons import lessons

submit = partial(post_comment, widget=True)  # as the widget posts: with a fresh form token
UNLIMITED = "1000000 per minute"


def taught(make_app: Callable[..., Flask]) -> FlaskClient:
    """A service with moderation on, taught 240 decisions through the moderation API, then
    the same database served with moderation off (the issue's replay)."""
    limits = {
        "post_rate_limit": UNLIMITED,
        "site_rate_limit": UNLIMITED,
        "email_rate_limit": UNLIMITED,
        "slug_rate_limit": UNLIMITED,
    }
    author = make_app(moderation=ModerationMode.ALL, **limits).test_client()
    for number, lesson in enumerate(lessons(240)):
        fields: dict[str, Any] = {"name": lesson.name, "email": lesson.email, "body": lesson.body}
        if lesson.website:
            fields["website"] = lesson.website
        created = submit(author, f"lesson-{number % 7}", **fields)
        if lesson.is_spam:
            moderate(author, created["id"], "spam")
        else:
            action = "not-spam" if created["status"] == "spam" else "approve"
            moderate(author, created["id"], action)
    return make_app(moderation=ModerationMode.NONE, **limits).test_client()


READERS = [
    {"body": "Thank you, this helped"},
    {"body": "Is this safe after knee surgery?"},
    {"body": "Obrigada! Fiz a receita ontem e ficou ótima.", "name": "Luíza Almeida"},
    {"body": "¿Se puede congelar la masa madre? Gracias.", "name": "Lucía García"},
    {"body": "とても分かりやすい記事でした。週末に試してみます\uff01", "name": "佐藤 美咲"},
    {"body": "did it today 💪 thx", "name": "runnergirl88"},
    {"body": "The stretch in motion: https://www.youtube.com/watch?v=dQw4w9WgXcQ"},
    {"body": "Thanks, my starter finally doubled.", "email": "x1234@freemail.example"},
    {"body": "Lovely post", "email": "sam@inbox.example", "website": "https://sam-blog.example"},
]


def fate(client: FlaskClient, created: dict[str, Any]) -> tuple[str, list[str]]:
    shown = client.get(f"/api/moderation/comments/{created['id']}", headers=MODERATOR).json
    assert shown is not None
    return shown["status"], shown["reasons"]


def test_after_a_few_hundred_decisions_readers_are_never_sent_to_spam_and_spam_is(
    make_app: Callable[..., Flask],
) -> None:
    client = taught(make_app)

    readers = {
        fields["body"]: fate(client, submit(client, "a-new-post", **fields)) for fields in READERS
    }
    spam = fate(
        client,
        submit(
            client,
            "a-new-post",
            name="Cheap Pills Online",
            email="sales@cheap-pills-shop.example",
            website="https://cheap-pills-shop.example",
            body="Buy cheap viagra and cialis online without prescription, discreet shipping. "
            "Order today at cheap-pills-shop.example and save $50",
        ),
    )

    sent_to_spam = {body: why for body, (status, why) in readers.items() if status == "spam"}
    assert sent_to_spam == {}
    assert spam[0] == "spam"
    assert len(spam[1]) == 1 and spam[1][0].endswith(", spam from 0.84")
