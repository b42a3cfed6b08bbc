"""Moderation endpoints of API.md: tokens, the queue, approve / reject / spam / delete."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from commentd.config import ModerationMode
from commentd.db import writer
from commentd.models import Comment, Commenter, CommentStatus, ModerationToken
from commentd.web.auth import create_token
from tests.helpers import MODERATOR, comment_fields, stored_comment

MakeComment = Callable[..., int]
PostComment = Callable[..., dict[str, Any]]


def queue(client: FlaskClient, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/moderation/comments{query}", headers=MODERATOR)
    assert response.status_code == 200, response.json
    assert response.json is not None
    return response.json


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic dGVzdDp0ZXN0"},
        {"Authorization": "Bearer "},
        {"Authorization": "test-admin-token-0123456789"},
    ],
)
def test_without_a_valid_token_the_answer_is_401_and_nothing_else(
    client: FlaskClient, make_comment: MakeComment, headers: dict[str, str]
) -> None:
    comment_id = make_comment(status=CommentStatus.PENDING)

    for method, path in (
        ("GET", "/api/moderation/comments"),
        ("GET", "/api/moderation/counts"),
        ("POST", f"/api/moderation/comments/{comment_id}/approve"),
        ("DELETE", f"/api/moderation/comments/{comment_id}"),
        ("POST", "/api/moderation/comments/999/spam"),
    ):
        response = client.open(path, method=method, headers=headers)
        assert response.status_code == 401
        assert response.json is not None
        assert response.json["error"] == "unauthorized"
        assert set(response.json) == {"error", "message"}
    assert queue(client)["comments"][0]["status"] == "pending"


def test_a_token_made_by_the_command_is_accepted_at_once(
    client: FlaskClient, migrated_engine: Engine
) -> None:
    with Session(writer(migrated_engine)) as session:
        token = create_token(session, "laptop")
        session.commit()
        stored = session.scalars(select(ModerationToken.token_hash)).all()

    response = client.get("/api/moderation/comments", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert token not in stored  # only the hash is kept


def test_the_queue_shows_what_the_author_needs(
    client: FlaskClient, post_comment: PostComment
) -> None:
    created = post_comment(
        email="Dana@Example.com", website="https://dana.example", body="Hi *there*", notify=True
    )

    (comment,) = queue(client)["comments"]

    assert comment == {
        "id": created["id"],
        "parent_id": None,
        "author": {
            "name": "Dana",
            "website": "https://dana.example",
            "avatar": created["comment"]["author"]["avatar"],
            "is_owner": False,
        },
        "body_html": "<p>Hi <em>there</em></p>",
        "created_at": created["comment"]["created_at"],
        "pinned": False,
        "post_title": None,
        "parent": None,
        "slug": "gluteus-medius",
        "status": "pending",
        "email": "Dana@example.com",
        "body": "Hi *there*",
        "notify": True,
        "spam_score": comment["spam_score"],
        "reasons": ["no form token (not sent from the comment form)"],
        "moderated_at": None,
        "edited_at": None,
    }


def test_the_queue_pages_newest_first_by_cursor_and_new_arrivals_do_not_shift_pages(
    client: FlaskClient, post_comment: PostComment
) -> None:
    ids = [post_comment(body=f"comment {n}")["id"] for n in range(7)]

    first = queue(client, "?limit=3")
    for n in range(3):  # arrivals while the author pages
        post_comment(body=f"late {n}")
    second = queue(client, f"?limit=3&cursor={first['next_cursor']}")
    third = queue(client, f"?limit=3&cursor={second['next_cursor']}")

    seen = [c["id"] for page in (first, second, third) for c in page["comments"]]
    assert seen == list(reversed(ids))
    assert third["next_cursor"] is None


@pytest.mark.parametrize(
    "query",
    ["?status=deleted", "?limit=0", "?limit=101", "?limit=ten", "?cursor=%%%", "?cursor=Zm9vOjE"],
)
def test_bad_queue_parameters_are_a_400(client: FlaskClient, query: str) -> None:
    response = client.get(f"/api/moderation/comments{query}", headers=MODERATOR)

    assert response.status_code == 400
    assert response.json is not None and response.json["error"] == "bad_request"


@pytest.mark.parametrize(
    ("action", "status"),
    [("approve", "approved"), ("reject", "rejected"), ("spam", "spam")],
)
def test_an_action_answers_the_comment_in_its_new_state(
    client: FlaskClient, post_comment: PostComment, action: str, status: str
) -> None:
    comment_id = post_comment()["id"]

    response = client.post(f"/api/moderation/comments/{comment_id}/{action}", headers=MODERATOR)

    assert response.status_code == 200
    assert response.json is not None
    assert (response.json["id"], response.json["status"]) == (comment_id, status)
    assert response.json["moderated_at"] is not None
    assert [c["id"] for c in queue(client, f"?status={status}")["comments"]] == [comment_id]
    assert queue(client)["comments"] == []


def test_counts_per_status_follow_the_actions(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment(status=CommentStatus.PENDING)
    make_comment(status=CommentStatus.APPROVED)
    make_comment(status=CommentStatus.APPROVED)
    make_comment(status=CommentStatus.SPAM)

    response = client.get("/api/moderation/counts", headers=MODERATOR)

    assert response.json == {"pending": 1, "approved": 2, "rejected": 0, "spam": 1}


@pytest.mark.parametrize("path", ["/999999/approve", "/999999/reject", "/999999/spam", "/999999"])
def test_an_unknown_comment_is_a_404(client: FlaskClient, path: str) -> None:
    method = "DELETE" if path == "/999999" else "POST"

    response = client.open(f"/api/moderation/comments{path}", method=method, headers=MODERATOR)

    assert response.status_code == 404
    assert response.json is not None and response.json["error"] == "not_found"


@pytest.mark.parametrize("comment_id", ["abc", "99999999999999999999", "-1"])
def test_an_impossible_id_is_a_json_404(client: FlaskClient, comment_id: str) -> None:
    response = client.post(f"/api/moderation/comments/{comment_id}/approve", headers=MODERATOR)

    assert response.status_code == 404
    assert response.mimetype == "application/json"


def test_delete_removes_the_comment_and_its_personal_data_and_lifts_its_replies(
    client: FlaskClient, make_comment: MakeComment, db_session: Session
) -> None:
    top = make_comment(body="top")
    doomed = make_comment(email="doomed@example.com", body="to be deleted", parent_id=top)
    reply = make_comment(body="reply", parent_id=doomed)

    response = client.delete(f"/api/moderation/comments/{doomed}", headers=MODERATOR)

    assert (response.status_code, response.data) == (204, b"")
    assert stored_comment(db_session, doomed) is None
    reply_row = stored_comment(db_session, reply)
    assert reply_row is not None and reply_row.parent_id == top
    assert (
        db_session.scalar(
            select(func.count()).select_from(Comment).where(Comment.email == "doomed@example.com")
        )
        == 0
    )
    assert (
        db_session.scalar(
            select(func.count())
            .select_from(Commenter)
            .where(Commenter.email == "doomed@example.com")
        )
        == 0
    )
    listing = client.get("/api/posts/gluteus-medius/comments").json
    assert listing is not None
    assert [(c["id"], c["parent_id"]) for c in listing["comments"]] == [(top, None), (reply, top)]
    again = client.delete(f"/api/moderation/comments/{doomed}", headers=MODERATOR)
    assert again.status_code == 404


def test_moderation_is_usable_cross_origin_from_the_blog_with_the_token(
    client: FlaskClient,
) -> None:
    preflight = client.options(
        "/api/moderation/comments",
        headers={
            "Origin": "https://blog.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    response = client.get(
        "/api/moderation/comments", headers=MODERATOR | {"Origin": "https://blog.example"}
    )
    stranger = client.options(
        "/api/moderation/comments",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )

    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://blog.example"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert response.headers["Access-Control-Allow-Origin"] == "https://blog.example"
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_failed_logins_are_rate_limited_per_address(make_app: Callable[..., Flask]) -> None:
    client = make_app(auth_failure_limit="3 per minute").test_client()
    wrong = {"Authorization": "Bearer guess"}

    statuses = [client.get("/api/moderation/comments", headers=wrong).status_code for _ in range(4)]
    elsewhere = client.get(
        "/api/moderation/comments", headers=wrong, environ_base={"REMOTE_ADDR": "198.51.100.7"}
    )

    assert statuses == [401, 401, 401, 429]
    assert elsewhere.status_code == 401


def test_successful_logins_do_not_count_against_the_limit(make_app: Callable[..., Flask]) -> None:
    client = make_app(auth_failure_limit="2 per minute").test_client()

    statuses = {
        client.get("/api/moderation/comments", headers=MODERATOR).status_code for _ in range(5)
    }

    assert statuses == {200}


# --- moderation modes ---------------------------------------------------------------------


def test_mode_none_approves_at_once_unless_a_defence_holds_it(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(moderation=ModerationMode.NONE).test_client()
    token = client.get("/api/form-token").json
    assert token is not None

    clean = client.post(
        "/api/posts/p/comments", json=comment_fields(form_token=token["form_token"])
    )
    no_token = client.post("/api/posts/p/comments", json=comment_fields())
    links = client.post(
        "/api/posts/p/comments",
        json=comment_fields(
            form_token=token["form_token"], body="https://a.example https://b.example"
        ),
    )
    trap = client.post(
        "/api/posts/p/comments",
        json=comment_fields(form_token=token["form_token"], url2="http://spam.example"),
    )

    assert [r.json["status"] for r in (clean, no_token, links, trap) if r.json] == [
        "approved",
        "pending",
        "pending",
        "spam",
    ]


def test_mode_known_trusts_the_token_not_the_email_string(make_app: Callable[..., Flask]) -> None:
    client = make_app(moderation=ModerationMode.KNOWN).test_client()
    form_token = (client.get("/api/form-token").json or {})["form_token"]

    def post(**fields: Any) -> dict[str, Any]:
        response = client.post(
            "/api/posts/p/comments", json=comment_fields(form_token=form_token, **fields)
        )
        assert response.status_code == 201 and response.json is not None
        return response.json

    first = post()
    client.post(f"/api/moderation/comments/{first['id']}/approve", headers=MODERATOR)
    proven = post(commenter_token=first["commenter_token"])
    impostor = post()  # same email, no token
    wrong_owner = post(email="eve@example.com", commenter_token=first["commenter_token"])

    assert first["status"] == "pending"
    assert proven["status"] == "approved"
    assert proven["commenter_token"] == first["commenter_token"]
    assert impostor["status"] == "pending"
    assert impostor["commenter_token"] != first["commenter_token"]
    assert wrong_owner["status"] == "pending"


def test_typing_a_known_email_changes_nothing_stored_for_its_owner(
    make_app: Callable[..., Flask], db_session: Session
) -> None:
    client = make_app(moderation=ModerationMode.KNOWN).test_client()
    owner = client.post(
        "/api/posts/p/comments", json=comment_fields(name="Dana", website="https://dana.example")
    ).json
    assert owner is not None
    client.post(f"/api/moderation/comments/{owner['id']}/approve", headers=MODERATOR)

    client.post(
        "/api/posts/p/comments",
        json=comment_fields(name="Not Dana", website="https://evil.example"),
    )

    original = stored_comment(db_session, owner["id"])
    assert original is not None
    assert (original.name, original.website) == ("Dana", "https://dana.example")
    listing = client.get("/api/posts/p/comments").json
    assert listing is not None
    assert [c["author"]["name"] for c in listing["comments"]] == ["Dana"]


# --- failed tokens: one count, and a valid token is never locked out ---------------------------

BEARER_ROUTES = [
    ("GET", "/api/moderation/comments"),
    ("GET", "/api/moderation/counts"),
    ("GET", "/api/moderation/settings"),
    ("GET", "/api/moderation/outbox"),
    ("POST", "/api/moderation/outbox/retry"),
]
WRONG = {"Authorization": "Bearer not-the-token"}


def call(client: FlaskClient, method: str, path: str, headers: dict[str, str]) -> TestResponse:
    return client.open(path, method=method, headers=headers)


@pytest.mark.parametrize(("method", "path"), BEARER_ROUTES)
def test_after_a_flood_of_wrong_tokens_the_valid_token_still_works(
    make_app: Callable[..., Flask], method: str, path: str
) -> None:
    client = make_app(auth_failure_limit="10 per minute").test_client()

    failures = [call(client, "GET", "/api/moderation/comments", WRONG) for _ in range(12)]
    author = call(client, method, path, MODERATOR)
    still_wrong = call(client, method, path, WRONG)

    assert [r.status_code for r in failures] == [401] * 10 + [429] * 2
    assert author.status_code == 200, author.json
    assert still_wrong.status_code == 429
    assert still_wrong.headers["Retry-After"].isdigit()


def test_moderation_and_outbox_routes_share_one_failure_count(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(auth_failure_limit="4 per minute").test_client()

    statuses = [
        call(client, method, path, WRONG).status_code
        for method, path in [*BEARER_ROUTES, ("GET", "/api/moderation/outbox")]
    ]

    assert statuses == [401, 401, 401, 401, 429, 429]


def test_missing_and_malformed_tokens_count_as_failures(make_app: Callable[..., Flask]) -> None:
    client = make_app(auth_failure_limit="3 per minute").test_client()
    attempts: list[dict[str, str]] = [
        {},
        {"Authorization": "Basic eDp5"},
        {"Authorization": "Bearer"},
    ]

    statuses = [call(client, "GET", "/api/moderation/outbox", h).status_code for h in attempts]
    fourth = call(client, "GET", "/api/moderation/comments", {"Authorization": "Bearer x"})

    assert statuses == [401, 401, 401]
    assert fourth.status_code == 429


# --- every query parameter of every route: hostile values get 4xx, never a 500 ----------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


HOSTILE = [
    "",
    "0",
    "-1",
    "+5",
    " 7",
    "1.5",
    "1e3",
    "0x10",
    "2147483647",
    "2147483648",
    "9223372036854775808",
    "9" * 400,
    "²",
    "١٢",
    "NaN",
    "null",
    "[]",
    "' OR 1=1 --",
    "%",
    "%00",
    "\x00",
    "\u202e",
    "💥" * 50,
    "a" * 5000,
    _b64(b"before:9999999999999999999999"),
    _b64(b"before:2147483648"),
    _b64(b"before:-5"),
    _b64(b"before:0"),
    _b64(b"before:\xb2"),
    _b64("before:²".encode()),
    _b64(b"before:"),
    _b64(b"\xff\xfe\x00garbage"),
    _b64(b"after:5"),
    "=" * 8,
]
# (method, path, parameter): every parameter a route reads from the query string, and one
# that no route reads (it must be ignored).
PARAMETERS = [
    ("GET", "/api/moderation/comments", "cursor"),
    ("GET", "/api/moderation/comments", "limit"),
    ("GET", "/api/moderation/comments", "status"),
    ("GET", "/api/moderation/counts", "junk"),
    ("GET", "/api/moderation/outbox", "junk"),
    ("GET", "/api/moderation/settings", "junk"),
    ("GET", "/api/counts", "slug"),
    ("GET", "/api/posts/p/comments", "junk"),
    ("GET", "/api/form-token", "junk"),
    ("GET", "/healthz", "junk"),
    ("GET", "/embed.js", "junk"),
]


def server_errors(responses: list[tuple[str, TestResponse]]) -> list[str]:
    """What went wrong, per request: a 5xx, or a 4xx that is not API.md's JSON error."""
    wrong = []
    for what, response in responses:
        with response:  # a static file's answer holds the file open until closed
            if response.status_code >= 500 or (
                response.status_code >= 400 and not (response.json or {}).get("error")
            ):
                wrong.append(f"{what}: {response.status_code} {response.get_data()[:200]!r}")
    return wrong


@pytest.mark.parametrize(
    ("method", "path", "name"), PARAMETERS, ids=[p[2] + p[1] for p in PARAMETERS]
)
def test_hostile_query_values_get_a_4xx_never_a_500(
    client: FlaskClient, method: str, path: str, name: str
) -> None:
    answers = [
        (
            f"{name}={value!r}",
            client.open(path, method=method, query_string=query, headers=MODERATOR),
        )
        for value in HOSTILE
        for query in ({name: value}, [(name, value), (name, value)])
    ]

    assert server_errors(answers) == []


def test_hostile_path_and_header_values_get_a_4xx_never_a_500(client: FlaskClient) -> None:
    answers = []
    for value in HOSTILE:
        quoted = quote(value, safe="") or "x"
        for method, path in [
            ("GET", f"/api/moderation/comments/{quoted}"),
            ("POST", f"/api/moderation/comments/{quoted}/approve"),
            ("DELETE", f"/api/moderation/comments/{quoted}"),
            ("PUT", f"/api/moderation/posts/{quoted}"),
            ("GET", f"/api/avatars/{quoted}.svg"),
            ("GET", f"/api/posts/{quoted}/comments"),
            ("GET", f"/api/counts?slug={quoted}"),
        ]:
            answers.append(
                (f"{method} {path[:80]}", client.open(path, method=method, headers=MODERATOR))
            )
        header = value.encode().decode("latin-1")
        for name in ("If-None-Match", "Origin", "Authorization", "X-Request-Id"):
            answers.append(
                (
                    f"{name}: {value[:40]!r}",
                    client.get("/api/posts/p/comments", headers={name: header}),
                )
            )
            answers.append(
                (f"{name}: {value[:40]!r}", client.get("/api/counts", headers={name: header}))
            )

    assert server_errors(answers) == []


def test_a_cursor_past_every_id_is_a_400_and_the_last_real_one_works(
    client: FlaskClient, post_comment: PostComment
) -> None:
    post_comment()
    huge = queue_answer(client, f"?cursor={_b64(b'before:99999999999999999999')}")
    past_int32 = queue_answer(client, f"?cursor={_b64(b'before:2147483648')}")
    largest = queue_answer(client, f"?cursor={_b64(b'before:2147483647')}")

    for refused in (huge, past_int32):
        assert refused.status_code == 400 and refused.json is not None
        assert refused.json["error"] == "bad_request"
    assert largest.status_code == 200
    assert largest.json is not None and len(largest.json["comments"]) == 1


def queue_answer(client: FlaskClient, query: str) -> TestResponse:
    return client.get(f"/api/moderation/comments{query}", headers=MODERATOR)
