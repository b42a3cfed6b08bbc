"""Public endpoints of API.md through the Flask test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from commentd.comments.public import Thread
from commentd.config import ModerationMode
from commentd.models import CommentStatus
from commentd.web.page_cache import PageCache
from commentd.web.services import of as services_of
from tests.helpers import MODERATOR, comment_fields

AVATAR = re.compile(r"https://comments\.example/api/avatars/[0-9a-f]{32}\.svg")
PostComment = Callable[..., dict[str, Any]]
MakeComment = Callable[..., int]


def public(client: FlaskClient, slug: str = "gluteus-medius") -> dict[str, Any]:
    response = client.get(f"/api/posts/{slug}/comments")
    assert response.status_code == 200
    assert response.json is not None
    return response.json


def test_an_unknown_post_has_no_comments(client: FlaskClient) -> None:
    assert public(client, "never-commented") == {
        "slug": "never-commented",
        "count": 0,
        "closed": False,
        "pinned": [],
        "comments": [],
    }


def test_a_new_comment_waits_and_is_not_public(client: FlaskClient) -> None:
    response = client.post("/api/posts/gluteus-medius/comments", json=comment_fields())

    assert response.status_code == 201
    body = response.json
    assert body is not None
    assert set(body) == {"id", "status", "commenter_token", "comment", "editable_until"}
    assert body["status"] == "pending"
    assert "dana@example.com" not in response.get_data(as_text=True)
    assert public(client)["comments"] == []


def test_approved_comments_are_public_oldest_first_with_replies_linked(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    first = make_comment(body="Pigeon pose *helped* me.", website="https://dana.example")
    reply = make_comment(name="Author", email="me@blog.example", body="Glad!", parent_id=first)
    make_comment(status=CommentStatus.PENDING, body="still waiting")

    listing = public(client)

    assert listing["count"] == 2
    assert [(c["id"], c["parent_id"]) for c in listing["comments"]] == [
        (first, None),
        (reply, first),
    ]
    dana = listing["comments"][0]
    assert dana == {
        "id": first,
        "parent_id": None,
        "author": {
            "name": "Dana",
            "website": "https://dana.example",
            "avatar": dana["author"]["avatar"],
            "is_owner": False,
        },
        "body_html": "<p>Pigeon pose <em>helped</em> me.</p>",
        "created_at": dana["created_at"],
        "pinned": False,
    }
    assert AVATAR.fullmatch(dana["author"]["avatar"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", dana["created_at"])


def test_the_name_is_returned_as_typed_for_the_page_to_insert_as_text(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment(name="<b>Dana</b> & co")

    assert public(client)["comments"][0]["author"]["name"] == "<b>Dana</b> & co"


def test_public_output_never_reveals_email_or_address_in_any_form(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    email = "dana.private@example.com"
    make_comment(email=email, website="https://dana.example")
    client.post(
        "/api/posts/gluteus-medius/comments",
        json=comment_fields(email=email),
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )

    text = client.get("/api/posts/gluteus-medius/comments").get_data(as_text=True)
    text += client.get("/api/counts?slug=gluteus-medius").get_data(as_text=True)

    forbidden = [email, "dana.private", "203.0.113.9", "127.0.0.1"]
    for algorithm in ("md5", "sha1", "sha256"):
        for variant in (email, email.upper(), email.strip().lower()):
            forbidden.append(hashlib.new(algorithm, variant.encode()).hexdigest())
    for secret in forbidden:
        assert secret not in text


def test_a_commenter_keeps_her_avatar_with_her_token_and_a_typed_address_gets_a_new_one(
    client: FlaskClient, make_comment: MakeComment, post_comment: PostComment
) -> None:
    first = post_comment(email="dana@example.com")
    token = first["commenter_token"]
    with_token = post_comment(email="DANA@example.com", commenter_token=token)
    typed = post_comment(email="dana@example.com")
    eve = post_comment(email="eve@example.com")
    for created in (first, with_token, typed, eve):
        client.post(f"/api/moderation/comments/{created['id']}/approve", headers=MODERATOR)

    avatars = [c["author"]["avatar"] for c in public(client)["comments"]]
    answered = [c["comment"]["author"]["avatar"] for c in (first, with_token, typed, eve)]

    assert avatars == answered
    assert avatars[0] == avatars[1]  # proven by her commenter_token: the same identicon
    assert len({avatars[0], avatars[2], avatars[3]}) == 3  # typing her address links nothing
    svg = client.get(avatars[0].removeprefix("https://comments.example"))
    assert svg.status_code == 200
    assert svg.mimetype == "image/svg+xml"
    assert "immutable" in svg.headers["Cache-Control"]


def test_slugs_with_slashes_work_raw_encoded_and_with_outer_slashes(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    comment_id = make_comment(slug="2024/03/gluteus-medius")

    for path in (
        "2024/03/gluteus-medius",
        "2024%2F03%2Fgluteus-medius",
        "/2024/03/gluteus-medius/",
    ):
        listing = public(client, path)
        assert listing["slug"] == "2024/03/gluteus-medius"
        assert [c["id"] for c in listing["comments"]] == [comment_id]


def test_a_slug_over_255_characters_is_a_400(client: FlaskClient) -> None:
    response = client.get(f"/api/posts/{'x' * 256}/comments")

    assert response.status_code == 400
    assert response.json is not None and response.json["error"] == "bad_request"


def test_etag_answers_if_none_match_with_304_until_something_changes(
    client: FlaskClient, make_comment: MakeComment, post_comment: PostComment
) -> None:
    make_comment()
    first = client.get("/api/posts/gluteus-medius/comments")
    etag = first.headers["ETag"]

    unchanged = client.get("/api/posts/gluteus-medius/comments", headers={"If-None-Match": etag})
    pending_only = post_comment()  # a pending comment changes nothing public
    still = client.get("/api/posts/gluteus-medius/comments", headers={"If-None-Match": etag})
    client.post(f"/api/moderation/comments/{pending_only['id']}/approve", headers=MODERATOR)
    changed = client.get("/api/posts/gluteus-medius/comments", headers={"If-None-Match": etag})

    assert (unchanged.status_code, unchanged.data) == (304, b"")
    assert unchanged.headers["ETag"] == etag
    assert still.status_code == 304
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert changed.json is not None and changed.json["count"] == 2
    assert "stale-while-revalidate" in changed.headers["Cache-Control"]


def test_the_bare_post_version_of_a_thread_fragment_is_answered_304_while_current(
    client: FlaskClient, make_comment: MakeComment, post_comment: PostComment
) -> None:
    make_comment()
    version = client.get("/api/posts/gluteus-medius/comments").headers["ETag"].strip('"')
    version = version.split(".")[0]  # the ETag is "<version>.<public URL tag>"
    fragment = {"If-None-Match": f'"{version}"'}

    current = client.get("/api/posts/gluteus-medius/comments", headers=fragment)
    client.post(f"/api/moderation/comments/{post_comment()['id']}/approve", headers=MODERATOR)
    moved = client.get("/api/posts/gluteus-medius/comments", headers=fragment)
    nothing = client.get("/api/posts/no-such-post/comments", headers={"If-None-Match": '"0"'})

    assert (current.status_code, current.data) == (304, b"")
    assert moved.status_code == 200 and moved.json is not None and moved.json["count"] == 2
    assert nothing.status_code == 200  # a post without comments has no version to match


def test_cached_pages_are_bounded_by_their_total_size_least_recently_read_out_first(
    app: Flask, client: FlaskClient, make_comment: MakeComment
) -> None:
    slugs = ["first", "second", "third"]
    for slug in slugs:
        make_comment(slug=slug)
    served = {slug: client.get(f"/api/posts/{slug}/comments").data for slug in slugs}
    built: list[str] = []  # thread() is read only when a page is built, not cached

    class Counting(PageCache):
        def thread(self, slug: str) -> Thread:
            built.append(slug)
            return super().thread(slug)

    # Room for any two of the three pages, not for all three.
    feed = Counting(
        services_of(app).engine,
        services_of(app).settings.public_url,
        capacity_bytes=sum(map(len, served.values())) - 1,
    )

    def read(slug: str) -> bytes:
        return feed.page(slug).body

    assert [read(slug) for slug in slugs] == list(served.values())
    assert len(built) == 3
    assert read("third") == served["third"]  # cached
    assert read("second") == served["second"]  # cached
    assert len(built) == 3
    assert read("first") == served["first"]  # the least recently read: built again
    assert len(built) == 4


def test_a_head_request_gets_the_headers_of_the_read_without_its_body(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment()
    read = client.get("/api/posts/gluteus-medius/comments")
    head = client.head("/api/posts/gluteus-medius/comments")

    assert (head.status_code, head.data) == (200, b"")
    assert head.headers["ETag"] == read.headers["ETag"]
    assert head.headers["Content-Length"] == read.headers["Content-Length"] == str(len(read.data))
    assert head.headers["Content-Type"] == read.headers["Content-Type"] == "application/json"


def test_a_read_keeps_the_request_id_a_proxy_sent_and_makes_one_otherwise(
    client: FlaskClient,
) -> None:
    given = client.get(
        "/api/posts/gluteus-medius/comments", headers={"X-Request-Id": "nginx-4f2a9c01"}
    )
    made = client.get("/api/posts/gluteus-medius/comments", headers={"X-Request-Id": "no way"})

    assert given.headers["X-Request-Id"] == "nginx-4f2a9c01"
    assert re.fullmatch(r"[0-9a-f]{16}", made.headers["X-Request-Id"])
    assert made.headers["X-Content-Type-Options"] == "nosniff"


def test_only_reads_of_a_posts_comments_are_answered_ahead_of_flask(client: FlaskClient) -> None:
    trailing_slash = client.get("/api/posts/gluteus-medius/comments/")
    no_slug = client.get("/api/posts//comments")
    delete = client.delete("/api/posts/gluteus-medius/comments")

    assert trailing_slash.status_code == 404
    assert no_slug.status_code == 404
    assert delete.status_code == 405
    for response in (trailing_slash, no_slug, delete):
        assert response.json is not None and set(response.json) >= {"error", "message"}


def test_a_reply_must_point_at_an_approved_comment_of_the_same_post(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    elsewhere = make_comment(slug="another-post")
    pending = make_comment(status=CommentStatus.PENDING)

    for parent_id in (elsewhere, pending, 999_999):
        response = client.post(
            "/api/posts/gluteus-medius/comments", json=comment_fields(parent_id=parent_id)
        )
        assert response.status_code == 422
        assert response.json is not None
        assert set(response.json["fields"]) == {"parent_id"}


def test_a_reply_whose_parent_is_no_longer_public_moves_up_to_a_public_ancestor(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    top = make_comment(body="top")
    middle = make_comment(body="middle", parent_id=top)
    leaf = make_comment(body="leaf", parent_id=middle)
    client.post(f"/api/moderation/comments/{middle}/reject", headers=MODERATOR)

    assert [(c["id"], c["parent_id"]) for c in public(client)["comments"]] == [
        (top, None),
        (leaf, top),
    ]


def test_a_form_post_works_like_json(client: FlaskClient) -> None:
    response = client.post(
        "/api/posts/gluteus-medius/comments",
        data={"name": "Dana", "email": "dana@example.com", "body": "From a plain form"},
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("content_type", "data", "status", "code"),
    [
        ("application/json", b"{not json", 400, "bad_request"),
        ("application/json", b"[1, 2]", 400, "bad_request"),
        ("application/json", b"\xff\xfe\x00garbage", 400, "bad_request"),
        ("application/json", b"[" * 40000, 400, "bad_request"),
        ("text/plain", b"name=Dana", 415, "unsupported_media_type"),
        ("multipart/form-data; boundary=x", b"--x--", 415, "unsupported_media_type"),
        ("application/json", b'{"body": "' + b"x" * 70000 + b'"}', 413, "too_large"),
        (
            "application/json",
            b'{"name": 1, "email": null, "body": [], "website": {}}',
            422,
            "validation",
        ),
        (
            "application/json",
            b'{"name": "\\u0000", "email": "a@b.co", "body": "\\ud800"}',
            422,
            "validation",
        ),
    ],
)
def test_bad_bodies_get_a_clear_json_answer(
    client: FlaskClient, content_type: str, data: bytes, status: int, code: str
) -> None:
    response = client.post(
        "/api/posts/gluteus-medius/comments", data=data, headers={"Content-Type": content_type}
    )

    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.json is not None and response.json["error"] == code
    assert response.json["message"]


def test_validation_failure_names_every_field(client: FlaskClient) -> None:
    response = client.post(
        "/api/posts/gluteus-medius/comments",
        json={"name": "", "email": "nope", "body": "", "website": "javascript:alert(1)"},
    )

    assert response.status_code == 422
    assert response.json is not None
    assert response.json["error"] == "validation"
    assert set(response.json["fields"]) == {"name", "email", "body", "website"}


def test_counts_are_keyed_by_the_slugs_as_asked(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment(slug="a")
    make_comment(slug="a")
    make_comment(slug="b", status=CommentStatus.PENDING)

    response = client.get("/api/counts?slug=a&slug=/a/&slug=b&slug=never")

    assert response.json == {"a": 2, "/a/": 2, "b": 0, "never": 0}


def test_counts_refuse_more_than_100_slugs(client: FlaskClient) -> None:
    query = "&".join(f"slug=s{i}" for i in range(101))

    response = client.get(f"/api/counts?{query}")

    assert response.status_code == 400


def test_form_token_is_issued_with_its_lifetime(client: FlaskClient) -> None:
    response = client.get("/api/form-token")

    assert response.status_code == 200
    assert response.json is not None
    assert set(response.json) == {"form_token", "expires_in", "pow"}
    assert response.json["expires_in"] == 86400
    assert response.json["pow"] is None  # proof of work is off in these tests
    assert response.headers["Cache-Control"] == "no-store"


def test_health_says_ok_when_the_database_answers(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}


def test_every_response_carries_nosniff_and_errors_are_json(client: FlaskClient) -> None:
    for response in (
        client.get("/healthz"),
        client.get("/no/such/page"),
        client.delete("/api/form-token"),
        client.get("/embed.js"),
    ):
        response.close()
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    missing = client.get("/no/such/page")
    assert (missing.status_code, missing.mimetype) == (404, "application/json")
    assert missing.json is not None and missing.json["error"] == "not_found"
    wrong_method = client.delete("/api/form-token")
    assert wrong_method.status_code == 405
    assert wrong_method.json is not None and wrong_method.json["error"] == "method_not_allowed"


def test_the_widgets_are_served_as_javascript(client: FlaskClient) -> None:
    for path in ("/embed.js", "/moderation.js"):
        response = client.get(path)
        response.close()
        assert response.status_code == 200
        assert response.mimetype == "text/javascript"
    page = client.get("/moderate")
    html = page.get_data()
    page.close()
    assert page.mimetype == "text/html"
    assert b'<div id="moderation"' in html


def test_the_favicon_is_an_empty_answer_not_a_404(client: FlaskClient) -> None:
    # Browsers ask every origin for /favicon.ico (the hosted console's tab): 204, cached.
    for method in ("GET", "HEAD"):
        response = client.open("/favicon.ico", method=method)
        response.close()
        assert response.status_code == 204, method
        assert response.get_data() == b""
        assert response.headers["Cache-Control"] == "public, max-age=604800"


# --- origins and CORS ---------------------------------------------------------------------


def test_reads_are_open_to_any_origin(client: FlaskClient) -> None:
    response = client.get(
        "/api/posts/gluteus-medius/comments", headers={"Origin": "https://anyone.example"}
    )

    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]


def test_an_allowed_origin_may_post_and_its_preflight_is_answered(client: FlaskClient) -> None:
    preflight = client.options(
        "/api/posts/gluteus-medius/comments",
        headers={
            "Origin": "https://blog.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    post = client.post(
        "/api/posts/gluteus-medius/comments",
        json=comment_fields(),
        headers={"Origin": "https://blog.example"},
    )

    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://blog.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    assert post.status_code == 201
    assert post.headers["Access-Control-Allow-Origin"] == "https://blog.example"


def test_a_browser_post_from_another_origin_is_refused(client: FlaskClient) -> None:
    preflight = client.options(
        "/api/posts/gluteus-medius/comments",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    post = client.post(
        "/api/posts/gluteus-medius/comments",
        json=comment_fields(),
        headers={"Origin": "https://evil.example"},
    )
    null_origin = client.post(
        "/api/posts/gluteus-medius/comments", json=comment_fields(), headers={"Origin": "null"}
    )

    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert post.status_code == 403
    assert post.json is not None and post.json["error"] == "origin_not_allowed"
    assert null_origin.status_code == 403
    assert public(client)["comments"] == [] and count_pending(client) == 0


def test_same_origin_may_post_without_being_listed(make_app: Callable[..., Flask]) -> None:
    client = make_app(allowed_origins=()).test_client()

    response = client.post(
        "/api/posts/gluteus-medius/comments",
        json=comment_fields(),
        headers={"Origin": "http://localhost"},
    )

    assert response.status_code == 201


def test_scripts_without_an_origin_are_not_refused(client: FlaskClient) -> None:
    response = client.post("/api/posts/gluteus-medius/comments", json=comment_fields())

    assert response.status_code == 201


def count_pending(client: FlaskClient) -> int:
    counts = client.get("/api/moderation/counts", headers=MODERATOR).json
    assert counts is not None
    return int(counts["pending"])


def test_json_is_never_served_as_html(client: FlaskClient) -> None:
    response = client.post(
        "/api/posts/gluteus-medius/comments",
        json=comment_fields(name="<script>alert(1)</script>"),
    )

    assert response.mimetype == "application/json"
    assert json.loads(response.data)["comment"]["author"]["name"] == "<script>alert(1)</script>"


def test_a_closed_post_says_so_refuses_new_comments_and_reopens(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment()
    before = client.get("/api/posts/gluteus-medius/comments")

    closed = client.put(
        "/api/moderation/posts/gluteus-medius", json={"closed": True}, headers=MODERATOR
    )
    listing = client.get(
        "/api/posts/gluteus-medius/comments", headers={"If-None-Match": before.headers["ETag"]}
    )
    refused = client.post("/api/posts/gluteus-medius/comments", json=comment_fields())
    client.put("/api/moderation/posts/gluteus-medius", json={"closed": False}, headers=MODERATOR)
    reopened = client.get("/api/posts/gluteus-medius/comments")

    assert closed.json == {"slug": "gluteus-medius", "closed": True, "count": 1, "title": None}
    assert listing.status_code == 200  # closing changed the page, so the old ETag is stale
    assert listing.json is not None and listing.json["closed"] is True
    assert refused.status_code == 403
    assert refused.json is not None and refused.json["error"] == "comments_closed"
    assert reopened.json is not None and reopened.json["closed"] is False


def test_typing_a_guessed_address_tells_nothing_about_its_comments(
    make_app: Callable[..., Flask],
) -> None:
    # In every mode, through the honeypot too: no field of the 201 (or of the page once
    # the guessed comment is published) matches anything of the address's own comments.
    client = make_app(moderation=ModerationMode.NONE).test_client()
    dana = client.post("/api/posts/p/comments", json=comment_fields(email="dana@example.com"))
    assert dana.status_code == 201 and dana.json is not None
    answers = [
        client.post(
            "/api/posts/other/comments",
            json=comment_fields(email=email, name="Mallory", body=f"guess {n}", **extra),
        )
        for n, (email, extra) in enumerate(
            [
                ("dana@example.com", {}),
                ("DANA@Example.com", {"url2": "filled"}),  # the honeypot: silently spam
                ("dana@example.com", {"commenter_token": "forged"}),
            ]
        )
    ]
    page = client.get("/api/posts/other/comments").get_data(as_text=True)

    dana_avatar = dana.json["comment"]["author"]["avatar"]
    dana_key = dana_avatar.rsplit("/", 1)[1].removesuffix(".svg")
    for answer in answers:
        assert answer.status_code == 201
        text = answer.get_data(as_text=True)
        assert dana_key not in text and dana.json["commenter_token"] not in text
    assert dana_key not in page


PUBLIC_GETS = [
    "/api/posts/gluteus-medius/comments",
    "/api/counts?slug=gluteus-medius",
    "/api/form-token",
    "/healthz",
    "/embed.js",
    "/api/counts?" + "&".join(["slug=x"] * 101),  # a 400 is read cross-origin too
    "/api/posts/" + "x" * 300 + "/comments",  # the fast path's 400
]


@pytest.mark.parametrize("path", PUBLIC_GETS)
def test_a_public_read_is_the_same_for_every_origin_and_for_none(
    client: FlaskClient, post_comment: PostComment, path: str
) -> None:
    post_comment()
    answers = [
        client.get(path, headers={"Origin": origin} if origin else {})
        for origin in (None, "https://blog.example", "https://other.example")
    ]

    for answer in answers:
        with answer:
            assert answer.headers["Access-Control-Allow-Origin"] == "*"
            assert "Origin" not in answer.headers.get("Vary", "")
    # A copy cached from the request without an Origin is usable by any page.
    assert "ETag" in answers[0].headers.get("Access-Control-Expose-Headers", "")


def test_a_304_and_an_avatar_carry_cors_without_an_origin(
    client: FlaskClient, post_comment: PostComment
) -> None:
    created = post_comment()
    page = client.get("/api/posts/gluteus-medius/comments")
    again = client.get(
        "/api/posts/gluteus-medius/comments", headers={"If-None-Match": page.headers["ETag"]}
    )
    avatar = client.get(
        created["comment"]["author"]["avatar"].removeprefix("https://comments.example")
    )

    assert again.status_code == 304
    assert avatar.status_code == 200
    for answer in (page, again, avatar):
        assert answer.headers["Access-Control-Allow-Origin"] == "*"


def test_answers_that_depend_on_the_origin_say_so_even_without_one(client: FlaskClient) -> None:
    moderation = client.get("/api/moderation/comments", headers=MODERATOR)
    posted = client.post("/api/posts/p/comments", json=comment_fields())

    for answer in (moderation, posted):
        assert "Origin" in answer.headers["Vary"]
        assert "Access-Control-Allow-Origin" not in answer.headers
