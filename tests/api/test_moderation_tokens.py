"""Token management (GET/POST /api/moderation/tokens, DELETE …/<id>) and the hosted page's
session (POST/GET/DELETE /api/moderation/session): a signed HttpOnly cookie for the service's
own origin only, CSRF header on unsafe methods, ended by revoking its token."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from commentd.models import ModerationToken
from commentd.web.auth import create_token, moderator_label, require_moderator
from commentd.web.session_cookie import COOKIE, CSRF_HEADER
from tests.helpers import ADMIN_TOKEN, MODERATOR, post_comment

TOKENS = "/api/moderation/tokens"
SESSION = "/api/moderation/session"
OWN = "https://comments.example"  # the settings fixture's COMMENTD_PUBLIC_URL
BLOG = "https://blog.example"  # in COMMENTD_ALLOWED_ORIGINS: CORS may answer it, never sign it in


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_token(client: FlaskClient, label: str) -> dict[str, Any]:
    made = client.post(TOKENS, json={"label": label}, headers=MODERATOR)
    assert made.status_code == 201, made.json
    assert made.json is not None
    return dict(made.json)


def sign_in(client: FlaskClient, token: str, **headers: str) -> TestResponse:
    return client.post(SESSION, json={"token": token}, headers=headers)


def session_cookie(response: TestResponse) -> str:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{COOKIE}=")]
    return header


def pending_comment(client: FlaskClient) -> int:
    return int(post_comment(client)["id"])


# --- the token list ---------------------------------------------------------------------------


def test_a_token_made_in_the_console_is_shown_once_listed_and_accepted_at_once(
    client: FlaskClient, migrated_engine: Engine
) -> None:
    made = make_token(client, "laptop")
    listed = client.get(TOKENS, headers=bearer(made["token"])).json
    by_admin = client.get(TOKENS, headers=MODERATOR).json

    assert set(made) == {"id", "label", "created_at", "token"} and made["label"] == "laptop"
    assert made["created_at"].endswith("Z") and len(made["token"]) >= 40
    assert listed == {
        "tokens": [
            {"id": made["id"], "label": "laptop", "created_at": made["created_at"], "current": True}
        ],
        "admin_token": True,
        "current_admin": False,
    }
    assert by_admin is not None and by_admin["tokens"][0]["current"] is False
    assert by_admin["current_admin"] is True
    assert made["token"] not in str(listed) + str(by_admin)
    with Session(migrated_engine) as session:  # only its hash is stored
        assert made["token"] not in session.scalars(select(ModerationToken.token_hash)).all()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 422, "validation"),
        ({"label": ""}, 422, "validation"),
        ({"label": "   "}, 422, "validation"),
        ({"label": 7}, 422, "validation"),
        ({"label": "x" * 101}, 422, "validation"),
        ({"label": "tab\there"}, 422, "validation"),
        ({"label": "bidi\u202eevil"}, 422, "validation"),
        ({"label": "42"}, 422, "validation"),
        ({"label": "#42"}, 422, "validation"),
        (["laptop"], 400, "bad_request"),
        ("laptop", 400, "bad_request"),
    ],
)
def test_a_bad_label_is_refused_with_a_reason(
    client: FlaskClient, body: Any, status: int, code: str
) -> None:
    refused = client.post(TOKENS, json=body, headers=MODERATOR)

    assert refused.status_code == status
    assert refused.json is not None and refused.json["error"] == code
    if status == 422:
        assert refused.json["fields"]["label"]
    assert client.get(TOKENS, headers=MODERATOR).json["tokens"] == []  # type: ignore[index]


def test_a_label_in_use_is_refused_and_a_label_is_free_again_once_revoked(
    client: FlaskClient,
) -> None:
    first = make_token(client, "phone")
    again = client.post(TOKENS, json={"label": " phone "}, headers=MODERATOR)
    other = make_token(client, "Phone")  # labels are compared exactly
    assert client.delete(f"{TOKENS}/{first['id']}", headers=MODERATOR).status_code == 204
    renewed = make_token(client, "phone")

    assert again.status_code == 409
    assert again.json is not None and again.json["error"] == "label_taken"
    assert f"#{first['id']}" in again.json["message"]
    assert other["label"] == "Phone" and renewed["label"] == "phone"


def test_a_revoked_token_fails_on_the_very_next_request(client: FlaskClient) -> None:
    made = make_token(client, "lost laptop")
    assert client.get("/api/moderation/counts", headers=bearer(made["token"])).status_code == 200

    revoked = client.delete(f"{TOKENS}/{made['id']}", headers=MODERATOR)
    after = client.get("/api/moderation/counts", headers=bearer(made["token"]))
    again = client.delete(f"{TOKENS}/{made['id']}", headers=MODERATOR)

    assert revoked.status_code == 204 and revoked.get_data() == b""
    assert after.status_code == 401
    assert again.status_code == 404 and again.json is not None
    assert again.json["error"] == "not_found"
    assert client.get(TOKENS, headers=MODERATOR).json["tokens"] == []  # type: ignore[index]


@pytest.mark.parametrize("token_id", ["0", "999999", "2147483647"])
def test_revoking_an_unknown_id_is_a_404_and_a_non_id_no_500(
    client: FlaskClient, token_id: str
) -> None:
    assert client.delete(f"{TOKENS}/{token_id}", headers=MODERATOR).status_code == 404
    for path in (f"{TOKENS}/-1", f"{TOKENS}/abc", f"{TOKENS}/99999999999"):
        assert client.delete(path, headers=MODERATOR).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", TOKENS), ("POST", TOKENS), ("DELETE", f"{TOKENS}/1")],
)
def test_every_token_route_needs_a_token_and_wrong_ones_count(
    make_app: Callable[..., Flask], method: str, path: str
) -> None:
    client = make_app(auth_failure_limit="3 per minute").test_client()
    wrong = bearer("not-the-token")

    statuses = [
        client.open(path, method=method, json={"label": "x"}, headers=wrong).status_code
        for _ in range(4)
    ]
    author = client.get(TOKENS, headers=MODERATOR)

    assert statuses == [401, 401, 401, 429]
    assert author.status_code == 200
    assert author.headers["Cache-Control"] == "private, no-store"


def test_the_token_count_is_limited(client: FlaskClient, migrated_engine: Engine) -> None:
    from commentd.web import auth

    with Session(migrated_engine) as session:
        session.add_all(
            ModerationToken(token_hash=f"{n:064x}", label=f"t{n}") for n in range(auth.MAX_TOKENS)
        )
        session.commit()

    refused = client.post(TOKENS, json={"label": "one more"}, headers=MODERATOR)

    assert refused.status_code == 409
    assert refused.json is not None and refused.json["error"] == "too_many_tokens"


# --- the hosted page's session ----------------------------------------------------------------


def test_signing_in_sets_an_httponly_strict_cookie_naming_no_secret(client: FlaskClient) -> None:
    made = make_token(client, "desk")

    signed_in = sign_in(client, made["token"])
    cookie = session_cookie(signed_in)
    again = client.get(SESSION)

    assert signed_in.status_code == 200
    assert signed_in.json is not None and set(signed_in.json) == {"label", "csrf"}
    assert signed_in.json["label"] == "token: desk"
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "secure", "path", "max-age"} <= attributes
    assert "SameSite=Strict" in cookie and "Path=/;" in cookie + ";"
    assert "Max-Age=43200" in cookie  # 12 hours, the default
    assert "Domain" not in cookie  # the service's host only, not the blog's subdomains
    assert made["token"] not in cookie and signed_in.headers["Cache-Control"] == "private, no-store"
    # A new tab: the same session, the same CSRF value.
    assert again.status_code == 200 and again.json == signed_in.json


def test_no_secure_flag_when_the_public_url_is_plain_http(make_app: Callable[..., Flask]) -> None:
    client = make_app(public_url="http://127.0.0.1:8080").test_client()

    cookie = session_cookie(sign_in(client, ADMIN_TOKEN))

    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie


def test_the_cookie_lets_reads_in_and_writes_only_with_the_csrf_header(
    client: FlaskClient,
) -> None:
    comment_id = pending_comment(client)
    csrf = sign_in(client, make_token(client, "desk")["token"]).json["csrf"]  # type: ignore[index]
    approve = f"/api/moderation/comments/{comment_id}/approve"

    read = client.get("/api/moderation/comments")
    without = client.post(approve)
    wrong = client.post(
        approve, headers={CSRF_HEADER: csrf[:-1] + ("0" if csrf[-1] != "0" else "1")}
    )
    empty = client.post(approve, headers={CSRF_HEADER: ""})
    not_ascii = client.post(approve, headers={CSRF_HEADER: "é" * 32})
    still_pending = client.get(f"/api/moderation/comments/{comment_id}").json
    right = client.post(approve, headers={CSRF_HEADER: csrf})

    assert read.status_code == 200 and read.json is not None
    assert [c["id"] for c in read.json["comments"]] == [comment_id]
    for refused in (without, wrong, empty, not_ascii):
        assert refused.status_code == 403
        assert refused.json is not None and refused.json["error"] == "csrf_failed"
    assert still_pending is not None and still_pending["status"] == "pending"
    assert right.status_code == 200 and right.json is not None
    assert right.json["status"] == "approved"


def test_a_bearer_token_needs_no_csrf_header_even_with_a_cookie(client: FlaskClient) -> None:
    comment_id = pending_comment(client)
    sign_in(client, ADMIN_TOKEN)

    approved = client.post(f"/api/moderation/comments/{comment_id}/approve", headers=MODERATOR)

    assert approved.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": BLOG},  # an allowed CORS origin: it may use a bearer token, not the cookie
        {"Origin": "https://comments.example.evil"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "same-site"},  # blog.example.com and comments.example.com
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": OWN, "Sec-Fetch-Site": "same-site"},
    ],
)
def test_the_cookie_sent_from_another_origin_lets_nothing_in(
    make_app: Callable[..., Flask], headers: dict[str, str]
) -> None:
    client = make_app(auth_failure_limit="100 per minute").test_client()
    comment_id = pending_comment(client)
    csrf = sign_in(client, ADMIN_TOKEN).json["csrf"]  # type: ignore[index]

    read = client.get("/api/moderation/comments", headers=headers)
    session = client.get(SESSION, headers=headers)
    write = client.post(
        f"/api/moderation/comments/{comment_id}/approve", headers=headers | {CSRF_HEADER: csrf}
    )
    preflight = client.options(
        f"/api/moderation/comments/{comment_id}/approve",
        headers={
            "Origin": BLOG,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-commentd-csrf",
        },
    )

    assert (read.status_code, session.status_code, write.status_code) == (401, 401, 401)
    for answer in (read, session, write, preflight):
        assert "Access-Control-Allow-Credentials" not in answer.headers
    assert "csrf" not in preflight.headers.get("Access-Control-Allow-Headers", "").lower()
    # The same cookie from the service's own page works.
    own = {"Origin": OWN, "Sec-Fetch-Site": "same-origin"}
    assert client.get("/api/moderation/comments", headers=own).status_code == 200
    assert (
        client.get("/api/moderation/comments", headers={"Sec-Fetch-Site": "none"}).status_code
        == 200
    )


def test_signing_in_from_another_origin_is_refused(client: FlaskClient) -> None:
    for headers in ({"Origin": BLOG}, {"Sec-Fetch-Site": "same-site"}):
        refused = sign_in(client, ADMIN_TOKEN, **headers)
        assert refused.status_code == 403
        assert refused.json is not None and refused.json["error"] == "cross_origin"
        assert "Set-Cookie" not in refused.headers
    assert sign_in(client, ADMIN_TOKEN, Origin=OWN).status_code == 200


def test_wrong_tokens_at_sign_in_count_against_the_same_limit(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(auth_failure_limit="4 per minute").test_client()

    statuses = [
        client.post(SESSION, json=body).status_code
        for body in ({"token": "wrong"}, {"token": ""}, {"token": "x" * 5000}, {"token": 5})
    ]
    over = sign_in(client, "also-wrong")
    bearer_over = client.get("/api/moderation/comments", headers=bearer("wrong"))
    right = sign_in(client, ADMIN_TOKEN)

    assert statuses == [401, 401, 401, 401]
    assert over.status_code == 429 and over.headers["Retry-After"].isdigit()
    assert bearer_over.status_code == 429  # one count for the sign-in and the bearer routes
    assert right.status_code == 200  # a valid token is never locked out


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'"token"'])
def test_a_sign_in_body_that_is_no_json_object_is_a_400(client: FlaskClient, body: bytes) -> None:
    answer = client.post(SESSION, data=body, content_type="application/json")

    assert answer.status_code == 400
    assert answer.json is not None and answer.json["error"] == "bad_request"


def test_a_session_ends_after_its_lifetime(make_app: Callable[..., Flask]) -> None:
    client = make_app(moderation_session_seconds=1).test_client()
    assert sign_in(client, ADMIN_TOKEN).status_code == 200
    assert client.get(SESSION).status_code == 200

    time.sleep(3.2)  # whole-second timestamps: 1 s and the second it was signed in

    assert client.get(SESSION).status_code == 401
    assert client.get("/api/moderation/comments").status_code == 401


def test_revoking_the_token_ends_its_sessions_at_once(client: FlaskClient) -> None:
    made = make_token(client, "tablet")
    other = make_token(client, "desk")
    csrf = sign_in(client, made["token"]).json["csrf"]  # type: ignore[index]
    other_browser = client.application.test_client()
    sign_in(other_browser, other["token"])

    assert client.delete(f"{TOKENS}/{made['id']}", headers=MODERATOR).status_code == 204
    session = client.get(SESSION)
    write = client.post("/api/moderation/outbox/retry", headers={CSRF_HEADER: csrf})

    assert session.status_code == 401 and write.status_code == 401
    assert other_browser.get(SESSION).status_code == 200  # another token's session lives on


def test_a_session_revoking_its_own_token_is_signed_out(client: FlaskClient) -> None:
    made = make_token(client, "tablet")
    csrf = sign_in(client, made["token"]).json["csrf"]  # type: ignore[index]

    revoked = client.delete(f"{TOKENS}/{made['id']}", headers={CSRF_HEADER: csrf})

    assert revoked.status_code == 204
    cleared = session_cookie(revoked)
    assert cleared.startswith(f"{COOKIE}=;") and "Max-Age=0" in cleared
    assert client.get(SESSION).status_code == 401


def test_a_new_token_with_a_revoked_ones_id_does_not_revive_its_sessions(
    client: FlaskClient, migrated_engine: Engine
) -> None:
    """SQLite may hand a revoked token's id to the next token made: the cookie is bound to the
    token itself, not only its id."""
    made = make_token(client, "old")
    sign_in(client, made["token"])
    assert client.delete(f"{TOKENS}/{made['id']}", headers=MODERATOR).status_code == 204
    with Session(migrated_engine) as session:
        session.add(ModerationToken(id=made["id"], token_hash="0" * 64, label="new"))
        session.commit()

    assert client.get(SESSION).status_code == 401


def test_changing_the_admin_token_ends_its_sessions(make_app: Callable[..., Flask]) -> None:
    before = make_app()
    client = before.test_client()
    sign_in(client, ADMIN_TOKEN)
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None and ADMIN_TOKEN not in cookie.value

    restarted = make_app(admin_token="a-new-admin-token-9876543210").test_client()
    restarted.set_cookie(COOKIE, cookie.value)
    same = make_app().test_client()
    same.set_cookie(COOKIE, cookie.value)

    assert restarted.get(SESSION).status_code == 401
    assert same.get(SESSION).status_code == 200  # another process with the same settings
    assert same.get(SESSION).json["label"] == "admin token"  # type: ignore[index]


@pytest.mark.parametrize(
    "change",
    [
        lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),  # signature altered
        lambda v: "x" + v,  # payload altered
        lambda v: v.split(".")[0],  # no signature
        lambda v: v * 10,  # too long
        lambda v: "",
    ],
)
def test_an_altered_cookie_lets_nothing_in(
    client: FlaskClient, change: Callable[[str], str]
) -> None:
    sign_in(client, ADMIN_TOKEN)
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    client.set_cookie(COOKIE, change(cookie.value))

    assert client.get(SESSION).status_code == 401
    assert client.get("/api/moderation/comments").status_code == 401


def test_a_cookie_signed_with_another_secret_lets_nothing_in(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app().test_client()
    sign_in(client, ADMIN_TOKEN)
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    other = make_app(secret_key="another-site-secret-" + "k" * 40).test_client()
    other.set_cookie(COOKIE, cookie.value)

    assert other.get(SESSION).status_code == 401


def test_signing_out_clears_the_cookie_and_needs_the_csrf_header(client: FlaskClient) -> None:
    csrf = sign_in(client, ADMIN_TOKEN).json["csrf"]  # type: ignore[index]

    forged = client.delete(SESSION)
    still = client.get(SESSION).status_code
    signed_out = client.delete(SESSION, headers={CSRF_HEADER: csrf})
    after = client.get(SESSION)
    without_session = client.delete(SESSION)

    assert forged.status_code == 403 and forged.json is not None
    assert forged.json["error"] == "csrf_failed" and still == 200
    assert signed_out.status_code == 204 and "Max-Age=0" in session_cookie(signed_out)
    assert after.status_code == 401
    assert without_session.status_code == 204


def test_each_sign_in_has_its_own_csrf_value(client: FlaskClient) -> None:
    first = sign_in(client, ADMIN_TOKEN).json
    second = client.application.test_client()
    other = sign_in(second, ADMIN_TOKEN).json

    assert first is not None and other is not None and first["csrf"] != other["csrf"]
    comment_id = pending_comment(client)
    crossed = client.post(
        f"/api/moderation/comments/{comment_id}/approve", headers={CSRF_HEADER: other["csrf"]}
    )
    assert crossed.status_code == 403


# --- what let a request in: moderator_label() --------------------------------------------------


def test_moderator_label_names_the_token_or_the_session_s_token(
    app: Flask, client: FlaskClient, migrated_engine: Engine
) -> None:
    with Session(migrated_engine) as session:
        laptop = create_token(session, "laptop")
        unlabelled = create_token(session)
        session.commit()
        unlabelled_id = session.scalars(
            select(ModerationToken.id).where(ModerationToken.label == "")
        ).one()
    sign_in(client, laptop)
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None

    def label(**headers: str) -> str:
        with app.test_request_context("/api/moderation/counts", headers=headers):
            require_moderator()
            return moderator_label()

    assert label(Authorization=f"Bearer {laptop}") == "token: laptop"
    assert label(Authorization=f"Bearer {unlabelled}") == f"token #{unlabelled_id}"
    assert label(Authorization=f"Bearer {ADMIN_TOKEN}") == "admin token"
    assert label(Cookie=f"{COOKIE}={cookie.value}") == "token: laptop"
    with app.test_request_context("/api/moderation/counts"), pytest.raises(LookupError):
        moderator_label()
