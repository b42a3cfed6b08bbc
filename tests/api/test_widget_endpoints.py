"""What the widgets ask of the service beyond API.md: a reader's own comments
(`GET /api/posts/<slug>/comments/mine`) and the hosted `/moderate` page's configuration."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import MODERATOR

PostComment = Callable[..., dict[str, Any]]
SLUG = "gluteus-medius"


def mine(
    client: FlaskClient, ids: list[Any], token: str | None, slug: str = SLUG, **headers: str
) -> Any:
    query = "&".join(f"id={i}" for i in ids)
    if token is not None:
        headers.setdefault("Authorization", f"Commenter {token}")
    return client.get(f"/api/posts/{slug}/comments/mine?{query}", headers=headers)


def moderate(client: FlaskClient, comment_id: int, action: str) -> None:
    url = f"/api/moderation/comments/{comment_id}"
    response = (
        client.delete(url, headers=MODERATOR)
        if action == "delete"
        else client.post(f"{url}/{action}", headers=MODERATOR)
    )
    assert response.status_code in (200, 204)


def test_a_reader_learns_which_of_their_comments_wait_are_published_or_are_gone(
    client: FlaskClient, post_comment: PostComment
) -> None:
    first = post_comment(body="One")
    token = first["commenter_token"]
    ids = [first["id"]] + [
        post_comment(body=text, commenter_token=token)["id"]
        for text in ("Two", "Three", "Four", "Five")
    ]
    waiting, approved, rejected, spam, deleted = ids
    moderate(client, approved, "approve")
    moderate(client, rejected, "reject")
    moderate(client, spam, "spam")
    moderate(client, deleted, "delete")

    response = mine(client, ids, token)

    assert response.status_code == 200
    assert response.json == {
        "comments": [
            {"id": waiting, "status": "pending"},
            {"id": approved, "status": "approved"},
        ]
    }
    assert response.headers["Cache-Control"] == "private, no-store"


def test_the_slug_is_read_like_every_other_slug(
    client: FlaskClient, post_comment: PostComment
) -> None:
    posted = post_comment(slug="2024/03/glute")
    token = posted["commenter_token"]

    for spelled in ("2024/03/glute", "/2024/03/glute/", "2024%2F03%2Fglute"):
        assert mine(client, [posted["id"]], token, slug=spelled).json == {
            "comments": [{"id": posted["id"], "status": "pending"}]
        }
    # Another post's page learns nothing of this comment.
    assert mine(client, [posted["id"]], token, slug="elsewhere").json == {"comments": []}


def test_a_stranger_learns_nothing_of_anyones_comments(
    client: FlaskClient, post_comment: PostComment
) -> None:
    dana = post_comment(email="dana@example.com")
    sam = post_comment(email="sam@example.com", body="Sam's")
    # Sam, with his own valid token, asks about Dana's comment: it is not his, so not there.
    assert mine(client, [dana["id"], sam["id"]], sam["commenter_token"]).json == {
        "comments": [{"id": sam["id"], "status": "pending"}]
    }
    # A token nobody holds, or none at all: 401, and the same whether the ids exist or not.
    for token, headers in [
        ("not-a-real-token", {}),
        (None, {}),
        (None, {"Authorization": f"Bearer {dana['commenter_token']}"}),
        (None, {"Authorization": "Commenter "}),
        (None, MODERATOR),
    ]:
        for ids in ([dana["id"]], [999_999]):
            response = mine(client, ids, token, **headers)
            assert response.status_code == 401, (token, headers)
            assert response.json is not None and response.json["error"] == "unauthorized"
            assert "pending" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "ids",
    [[], ["x"], ["0"], ["-1"], ["1.5"], ["1e3"], ["2147483648"], ["9" * 40], [" 1"], ["1"] * 51],
    ids=[
        "none",
        "word",
        "zero",
        "negative",
        "fraction",
        "exponent",
        "too-big",
        "huge",
        "space",
        "too-many",
    ],
)
def test_bad_ids_get_400_not_500(
    client: FlaskClient, post_comment: PostComment, ids: list[str]
) -> None:
    token = post_comment()["commenter_token"]

    response = mine(client, ids, token)

    assert response.status_code == 400
    assert response.json is not None and response.json["error"] == "bad_request"
    assert response.json["message"]


def test_asking_changes_nothing_and_head_and_preflight_work(
    client: FlaskClient, post_comment: PostComment
) -> None:
    posted = post_comment()
    token = posted["commenter_token"]
    before = client.get(f"/api/moderation/comments/{posted['id']}", headers=MODERATOR).json

    head = client.head(
        f"/api/posts/{SLUG}/comments/mine?id={posted['id']}",
        headers={"Authorization": f"Commenter {token}"},
    )
    preflight = client.options(
        f"/api/posts/{SLUG}/comments/mine?id={posted['id']}",
        headers={
            "Origin": "https://blog.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    cross = mine(client, [posted["id"]], token, Origin="https://any.example")

    assert head.status_code == 200
    assert preflight.status_code == 200
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert preflight.headers["Access-Control-Allow-Origin"] in ("*", "https://blog.example")
    assert cross.headers["Access-Control-Allow-Origin"] == "*"
    after = client.get(f"/api/moderation/comments/{posted['id']}", headers=MODERATOR).json
    assert after == before
    # The token never shows in what the service answers.
    assert token not in cross.get_data(as_text=True)


# --- /moderate: which places its links may lead to ----------------------------------------


def moderation_root(app: Flask) -> dict[str, str]:
    page = app.test_client().get("/moderate")
    assert page.status_code == 200
    found = re.search(r'<div id="moderation"([^>]*)>', page.get_data(as_text=True))
    assert found is not None
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'([\w-]+)="([^"]*)"', found.group(1))
    }


def test_the_hosted_page_names_the_configured_places_its_links_may_lead(
    make_app: Callable[..., Flask],
) -> None:
    plain = moderation_root(make_app())
    configured = moderation_root(
        make_app(
            allowed_origins=("https://blog.example", "http://127.0.0.1:8000"),
            post_url="https://posts.example:8443/p/{slug}/?a=1&b=2",
        )
    )

    assert plain == {
        "data-session": "cookie",  # the console signs in with the session cookie here
        "data-link-origins": "https://blog.example https://comments.example",
    }
    assert configured == {
        "data-session": "cookie",
        "data-post-url": "https://posts.example:8443/p/{slug}/?a=1&b=2",
        "data-link-origins": (
            "http://127.0.0.1:8000 https://blog.example https://comments.example "
            "https://posts.example:8443"
        ),
    }
