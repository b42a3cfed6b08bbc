"""Each spam layer over HTTP: what it does to a comment, and the reason it records in words."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest
from flask import Flask
from flask.testing import FlaskClient

from commentd.config import ModerationMode
from tests.helpers import MODERATOR, SLUG, comment_fields, post_comment, signals

# Posts as the widget sends them (with a fresh form token).
submit = partial(post_comment, widget=True)


@pytest.fixture
def open_client(make_app: Callable[..., Flask]) -> FlaskClient:
    """COMMENTD_MODERATION=none: whatever a layer holds or catches shows in the status."""
    return make_app(moderation=ModerationMode.NONE, duplicate_window_seconds=86400).test_client()


def test_a_clean_comment_passes_every_layer(open_client: FlaskClient) -> None:
    created = submit(open_client, body="Pigeon pose helped my hip.")

    assert signals(open_client, created["id"]) == {"status": "approved", "reasons": []}


def test_a_filled_honeypot_sends_the_comment_to_spam(open_client: FlaskClient) -> None:
    created = submit(open_client, url2="https://bot.example")

    assert created["status"] == "spam"
    assert signals(open_client, created["id"]) == {
        "status": "spam",
        "reasons": ["honeypot filled"],
    }


def test_a_comment_without_form_token_is_held_not_refused(open_client: FlaskClient) -> None:
    response = open_client.post(f"/api/posts/{SLUG}/comments", json=comment_fields())

    assert response.status_code == 201
    assert signals(open_client, response.json["id"]) == {  # type: ignore[index]
        "status": "pending",
        "reasons": ["no form token (not sent from the comment form)"],
    }


def test_a_comment_with_too_many_links_is_held_with_the_count(open_client: FlaskClient) -> None:
    created = submit(open_client, body="https://a.example https://b.example https://c.example")

    assert signals(open_client, created["id"]) == {
        "status": "pending",
        "reasons": ["3 links, limit 2"],
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"body": "Try the Casino tonight"},
        {"name": "casino king"},
        {"website": "https://casino.example"},
        {"email": "win@casino.example"},
    ],
    ids=["text", "name", "website", "email"],
)
def test_a_moderation_keyword_holds_the_comment_wherever_it_appears(
    make_app: Callable[..., Flask], fields: dict[str, str]
) -> None:
    client = make_app(moderation=ModerationMode.NONE, moderation_keywords=("casino",)).test_client()

    created = submit(client, **fields)

    assert signals(client, created["id"]) == {
        "status": "pending",
        "reasons": ["matched keyword 'casino'"],
    }


def test_a_disallowed_keyword_sends_the_comment_to_spam(make_app: Callable[..., Flask]) -> None:
    client = make_app(
        moderation=ModerationMode.NONE, disallowed_keywords=("cheap pills", "viagra*")
    ).test_client()

    phrase = submit(client, body="Buy CHEAP   pills here")
    prefix = submit(client, body="viagras for all")

    assert signals(client, phrase["id"]) == {
        "status": "spam",
        "reasons": ["matched disallowed keyword 'cheap pills'"],
    }
    assert signals(client, prefix["id"])["reasons"] == ["matched disallowed keyword 'viagra*'"]


def test_keywords_match_whole_words_unless_starred(make_app: Callable[..., Flask]) -> None:
    client = make_app(
        moderation=ModerationMode.NONE, disallowed_keywords=("cialis", "*casino*")
    ).test_client()

    whole_word = submit(client, body="My specialist recommended clamshells.")
    starred = submit(client, body="Visit onlinecasinos now", email="other@example.com")

    assert signals(client, whole_word["id"]) == {"status": "approved", "reasons": []}
    assert signals(client, starred["id"])["status"] == "spam"


def test_the_same_text_again_is_held_as_a_duplicate(open_client: FlaskClient) -> None:
    first = submit(open_client, body="Great  post about hips!")
    again = submit(open_client, slug="another-post", body="great post about HIPS!")

    assert signals(open_client, first["id"]) == {"status": "approved", "reasons": []}
    assert signals(open_client, again["id"]) == {
        "status": "pending",
        "reasons": [f"same text as comment {first['id']}"],
    }


def test_the_text_of_a_spam_comment_again_goes_to_spam(open_client: FlaskClient) -> None:
    first = submit(open_client, body="Visit my page for deals")
    open_client.post(f"/api/moderation/comments/{first['id']}/spam", headers=MODERATOR)

    again = submit(open_client, body="Visit my page for deals")

    assert signals(open_client, again["id"]) == {
        "status": "spam",
        "reasons": [f"same text as spam comment {first['id']}"],
    }


def test_duplicates_outside_the_window_are_not_held(make_app: Callable[..., Flask]) -> None:
    client = make_app(moderation=ModerationMode.NONE, duplicate_window_seconds=0).test_client()

    submit(client, body="Thanks!")
    again = submit(client, body="Thanks!")

    assert signals(client, again["id"]) == {"status": "approved", "reasons": []}


def test_every_reason_is_kept_when_several_layers_object(make_app: Callable[..., Flask]) -> None:
    client = make_app(
        moderation=ModerationMode.NONE,
        moderation_keywords=("pills",),
        disallowed_keywords=("viagra",),
    ).test_client()

    created = submit(client, body="viagra pills https://a.example https://b.example", url2="x")

    assert signals(client, created["id"]) == {
        "status": "spam",
        "reasons": [
            "honeypot filled",
            "matched disallowed keyword 'viagra'",
            "2 links, limit 2",
            "matched keyword 'pills'",
        ],
    }


def test_a_closed_post_refuses_new_comments_and_can_reopen(client: FlaskClient) -> None:
    submit(client)

    closed = client.put(f"/api/moderation/posts/{SLUG}", json={"closed": True}, headers=MODERATOR)
    refused = client.post(f"/api/posts/{SLUG}/comments", json=comment_fields())
    reopened = client.put(
        f"/api/moderation/posts/{SLUG}", json={"closed": False}, headers=MODERATOR
    )
    accepted = client.post(f"/api/posts/{SLUG}/comments", json=comment_fields())

    assert closed.json == {"slug": SLUG, "closed": True, "count": 0, "title": None}
    assert refused.status_code == 403
    assert refused.json == {
        "error": "comments_closed",
        "message": "Comments on this post are closed.",
    }
    assert reopened.json == {"slug": SLUG, "closed": False, "count": 0, "title": None}
    assert accepted.status_code == 201


def test_a_post_not_yet_commented_on_can_be_closed(client: FlaskClient) -> None:
    closed = client.put("/api/moderation/posts/new/post/", json={"closed": True}, headers=MODERATOR)
    refused = client.post("/api/posts/new/post/comments", json=comment_fields())

    assert closed.json == {"slug": "new/post", "closed": True, "count": 0, "title": None}
    assert refused.status_code == 403


@pytest.mark.parametrize("body", [{"closed": "yes"}, {}, [True], None])
def test_closing_a_post_needs_a_boolean(client: FlaskClient, body: object) -> None:
    response = client.put(f"/api/moderation/posts/{SLUG}", json=body, headers=MODERATOR)

    assert response.status_code in (400, 422)
    assert response.json is not None and response.json["error"] in ("validation", "bad_request")
