"""What a reader types, and how a post's URL is spelled, through HTTP (issue 12).

Text with nothing visible, bidi controls, bytes that are not UTF-8 anywhere in a request,
truthful answers about a reply's parent, and one canonical slug for every spelling of it:
through the Flask test client on SQLite and PostgreSQL, and through a real `commentd serve`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from commentd.models import CommentStatus
from tests.helpers import CANONICAL, FORM, MODERATOR, SPELLINGS, comment_fields

MakeComment = Callable[..., int]
POST_PATH = "/api/posts/gluteus-medius/comments"


def stored_count(client: FlaskClient) -> int:
    counts = client.get("/api/moderation/counts", headers=MODERATOR).json
    assert counts is not None
    return sum(int(n) for n in counts.values())


def assert_bad_request(response: Any, *words: str) -> None:
    assert response.status_code == 400, response.data
    assert response.mimetype == "application/json"
    assert response.json["error"] == "bad_request"
    for word in words:
        assert word in response.json["message"]


# --- nothing visible, bidi controls -------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("name", "\u200b\u200b"),
        ("name", "\u2800"),
        ("name", "\u3164\u3164"),
        ("name", "\u0301"),
        ("name", "\u202e"),
        ("body", "\ufeff"),
        ("body", "\u200d\n\u2060"),
        ("body", "\ufe0f"),
        ("body", "\U000e0020"),
    ],
)
@pytest.mark.parametrize("as_form", [False, True])
def test_text_with_nothing_visible_gets_the_422_of_an_empty_field(
    client: FlaskClient, field: str, text: str, as_form: bool
) -> None:
    def post(value: str) -> Any:
        fields = comment_fields(**{field: value})
        return (
            client.post(POST_PATH, data=fields) if as_form else client.post(POST_PATH, json=fields)
        )

    invisible, empty = post(text), post("")

    assert invisible.status_code == 422
    assert invisible.json == empty.json
    assert list(invisible.json["fields"]) == [field]
    assert stored_count(client) == 0


@pytest.mark.parametrize(
    "body",
    [
        "&#8203;",  # character references that stand for nothing visible
        "&nbsp; &zwnj;",
        "&#x2800;&#65279;",
        "[](https://example.com)",  # a link with no text
        "`` ``",  # code of one space
        "> &#8203;",
    ],
)
def test_a_body_that_would_be_published_blank_gets_the_422_of_an_empty_body(
    client: FlaskClient, body: str
) -> None:
    blank, empty = (client.post(POST_PATH, json=comment_fields(body=b)) for b in (body, ""))

    assert blank.status_code == 422
    assert blank.json == empty.json
    assert stored_count(client) == 0


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("&amp;", "<p>&amp;</p>"),
        ("<b></b>", "<p>&lt;b&gt;&lt;/b&gt;</p>"),
        ("[x](https://example.com)", '<a href="https://example.com" rel="nofollow ugc noopener">x'),
        ("**  **", "<p>**  **</p>"),
    ],
)
def test_markup_that_shows_something_is_published(
    client: FlaskClient, body: str, shown: str
) -> None:
    response = client.post(POST_PATH, json=comment_fields(body=body))

    assert response.status_code == 201
    assert response.json is not None and shown in response.json["comment"]["body_html"]


@pytest.mark.parametrize("field", ["name", "body"])
@pytest.mark.parametrize("control", ["\u202e", "\u202b", "\u2067", "\u2068"])
def test_bidi_controls_that_reorder_the_text_around_them_are_refused(
    client: FlaskClient, field: str, control: str
) -> None:
    response = client.post(POST_PATH, json=comment_fields(**{field: f"Dana{control}gpj.exe"}))

    assert response.status_code == 422
    assert response.json is not None and list(response.json["fields"]) == [field]
    assert stored_count(client) == 0


def test_direction_marks_that_reorder_nothing_are_kept(client: FlaskClient) -> None:
    name = "\u05d3\u05e0\u05d4 (Dana)\u200f"
    response = client.post(POST_PATH, json=comment_fields(name=name))

    assert response.status_code == 201
    assert response.json is not None and response.json["comment"]["author"]["name"] == name


# --- bytes that are not UTF-8 -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"name=Zo%EB&email=zoe%40example.com&body=Caf%E9", "name"),  # an ISO-8859-1 page
        (b"name=Zoe&email=zoe%40example.com&body=Caf%E9", "body"),
        (b"name=Zo\xeb&email=zoe%40example.com&body=Caf\xe9", "name"),  # raw bytes
        (b"name=Zoe&email=zo%EB%40example.com&body=Hi", "email"),
        (b"name=Zoe&email=zoe%40example.com&body=Hi&website=https%3A%2F%2Fz%FF.example", "website"),
        (b"name=%E8%AF&email=zoe%40example.com&body=Hi", "name"),  # a cut UTF-8 sequence
        (b"name=%ED%A0%80&email=zoe%40example.com&body=Hi", "name"),  # an encoded surrogate
        (b"name=Zoe&email=zoe%40example.com&body=Hi&url2=%FF", "url2"),  # even the honeypot
    ],
)
def test_a_form_that_is_not_utf8_is_a_400_never_stored_nor_missing(
    client: FlaskClient, body: bytes, field: str
) -> None:
    response = client.post(POST_PATH, data=body, content_type=FORM)

    assert_bad_request(response, f"'{field}'", "UTF-8")
    assert stored_count(client) == 0


def test_a_utf8_form_is_stored_decoded_and_a_typed_percent_sign_stays(
    client: FlaskClient,
) -> None:
    response = client.post(
        POST_PATH,
        data=b"name=Zo%C3%AB&email=zoe%40example.com&body=Caf%C3%A9+at+100%25EB",
        content_type=f"{FORM}; charset=UTF-8",
    )

    assert response.status_code == 201
    assert response.json is not None
    assert response.json["comment"]["author"]["name"] == "Zoë"
    assert response.json["comment"]["body_html"] == "<p>Café at 100%EB</p>"


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "Zo\xeb", "email": "zoe@example.com", "body": "Caf\xe9"}',
        '{"name": "Zoë", "email": "zoe@example.com", "body": "Hi"}'.encode("utf-16"),
        '{"name": "Zoë", "email": "zoe@example.com", "body": "Hi"}'.encode("utf-32-le"),
    ],
)
def test_a_json_body_that_is_not_utf8_is_a_400(client: FlaskClient, body: bytes) -> None:
    response = client.post(POST_PATH, data=body, content_type="application/json")

    assert_bad_request(response, "UTF-8")
    assert stored_count(client) == 0


# What a WSGI server hands over for `GET /api/posts/%FF/comments`: escapes decoded, bytes as
# latin-1 text (PEP 3333). Flask's test client cannot send such a path itself.
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/posts/\xff/comments"),  # the fast read path (public_reads.py)
        ("HEAD", "/api/posts/caf\xe9/comments"),
        ("POST", "/api/posts/\xff/comments"),
        ("POST", "/api/posts/blog/\xe8\xaf/comments"),
        ("PUT", "/api/moderation/posts/\xff"),
        ("GET", "/api/\xff"),  # even where no route would match
    ],
)
def test_a_path_that_is_not_utf8_is_a_400(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(
        "/",
        method=method,
        json={"closed": True, **comment_fields()},
        headers=MODERATOR,
        environ_overrides={"PATH_INFO": path},
    )

    assert response.status_code == 400
    if method != "HEAD":
        assert_bad_request(response, "UTF-8")
    assert stored_count(client) == 0


@pytest.mark.parametrize(
    "query",
    [
        "slug=%FF",
        "slug=a&slug=caf%E9",
        "slug=%E8%AF",
        "slug=caf\xe9",  # a raw byte
    ],
)
def test_counts_for_a_slug_that_is_not_utf8_are_a_400(client: FlaskClient, query: str) -> None:
    response = client.get("/api/counts", environ_overrides={"QUERY_STRING": query})

    assert_bad_request(response)


def test_a_page_path_escaped_in_latin1_is_one_post_under_either_case(
    client: FlaskClient,
) -> None:
    # embed.js on /caf%e9/ of an ISO-8859-1 site: the escape is no UTF-8, so it stays one.
    posted = client.post("/api/posts/caf%25e9/comments", json=comment_fields())
    assert posted.status_code == 201 and posted.json is not None
    approve = f"/api/moderation/comments/{posted.json['id']}/approve"
    assert client.post(approve, headers=MODERATOR).status_code == 200

    listed = client.get("/api/posts/caf%25E9/comments")

    assert listed.json is not None and listed.json["slug"] == "caf%E9"
    assert [c["id"] for c in listed.json["comments"]] == [posted.json["id"]]
    counts = client.get("/api/counts?slug=caf%25e9&slug=caf%25E9")
    assert counts.json == {"caf%e9": 1, "caf%E9": 1}


@pytest.mark.parametrize("query", ["status=%FF", "cursor=%C3", "limit=\xff"])
def test_moderation_queries_that_are_not_utf8_are_a_400(client: FlaskClient, query: str) -> None:
    response = client.get(
        "/api/moderation/comments", headers=MODERATOR, environ_overrides={"QUERY_STRING": query}
    )

    assert_bad_request(response, "UTF-8")


# --- the parent of a reply ----------------------------------------------------------------


def test_a_reply_to_a_comment_that_is_not_public_says_what_is_true(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    cases = {
        999_999: "There is no comment 999999 on this post to reply to.",
        make_comment(slug="another-post"): "There is no comment {} on this post to reply to.",
        make_comment(slug="another-post", status=CommentStatus.PENDING): (
            "There is no comment {} on this post to reply to."  # nothing said about its state
        ),
        make_comment(status=CommentStatus.PENDING): (
            "The comment you are replying to is awaiting moderation: "
            "you can reply once it is published."
        ),
        make_comment(status=CommentStatus.REJECTED): (
            "The comment you are replying to has been removed."
        ),
        make_comment(
            status=CommentStatus.SPAM
        ): "The comment you are replying to has been removed.",
    }

    for parent_id, message in cases.items():
        response = client.post(POST_PATH, json=comment_fields(parent_id=parent_id))
        assert response.status_code == 422
        assert response.json is not None
        assert response.json["message"] == message.format(parent_id)
        assert list(response.json["fields"]) == ["parent_id"]


# --- one canonical slug -------------------------------------------------------------------

NFD_SLUG, NFC_SLUG = "notes/cafe\u0301", "notes/caf\u00e9"


def test_every_spelling_of_a_post_reads_and_writes_one_thread(client: FlaskClient) -> None:
    ids = []
    for spelling in SPELLINGS:
        created = client.post(
            f"/api/posts/{spelling}/comments", json=comment_fields(body=f"via {spelling}")
        )
        assert created.status_code == 201, created.json
        ids.append(created.json["id"])
        client.post(f"/api/moderation/comments/{ids[-1]}/approve", headers=MODERATOR)

    for spelling in SPELLINGS:
        listing = client.get(f"/api/posts/{spelling}/comments")
        assert listing.status_code == 200
        assert listing.json is not None
        assert listing.json["slug"] == CANONICAL
        assert [c["id"] for c in listing.json["comments"]] == ids


def test_nfd_and_nfc_spellings_are_one_post(client: FlaskClient) -> None:
    created = client.post(f"/api/posts/{quote(NFD_SLUG)}/comments", json=comment_fields())
    assert created.status_code == 201
    client.post(f"/api/moderation/comments/{created.json['id']}/approve", headers=MODERATOR)

    listing = client.get(f"/api/posts/{quote(NFC_SLUG)}/comments").json
    counts = client.get("/api/counts", query_string=[("slug", NFD_SLUG), ("slug", NFC_SLUG)]).json

    assert listing is not None and listing["slug"] == NFC_SLUG and listing["count"] == 1
    assert counts == {NFD_SLUG: 1, NFC_SLUG: 1}


def test_counts_are_keyed_as_asked_and_counted_by_the_canonical_slug(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment(slug=quote(CANONICAL))
    asked = [
        CANONICAL,
        "blog/%E8%AF%BB%E4%B9%A6",
        "blog/%e8%af%bb%e4%b9%a6",
        "/blog/%E8%AF%BB%E4%B9%A6/",
        "blog%2F读书",
        "blog//读书",
    ]

    response = client.get("/api/counts", query_string=[("slug", s) for s in asked])

    assert response.json == dict.fromkeys(asked, 1)


def test_closing_a_post_by_one_spelling_closes_every_spelling(
    client: FlaskClient, make_comment: MakeComment
) -> None:
    make_comment(slug=quote(CANONICAL))

    closed = client.put(
        f"/api/moderation/posts/{SPELLINGS[2]}", json={"closed": True}, headers=MODERATOR
    )
    refused = client.post(f"/api/posts/{SPELLINGS[1]}/comments", json=comment_fields())

    assert closed.json == {"slug": CANONICAL, "closed": True, "count": 1, "title": None}
    assert refused.status_code == 403


def test_the_per_post_limit_counts_every_spelling_as_one_post(
    make_app: Callable[..., Any],
) -> None:
    client = make_app(slug_rate_limit="2 per minute").test_client()
    statuses = [
        client.post(
            f"/api/posts/{spelling}/comments",
            json=comment_fields(email=f"reader{i}@example.com", body=f"Comment {i}"),
        ).status_code
        for i, spelling in enumerate(SPELLINGS[:3])
    ]

    assert statuses == [201, 201, 429]


# --- through a real `commentd serve` ------------------------------------------------------


# --- a database error never writes what a reader typed into the log ------------------------


def test_a_failing_statement_logs_no_email_nor_other_values(
    make_app: Callable[..., Any], migrated_engine: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A statement the database refuses is a 500 whose log entry tells the fault, but not the
    bound values (SQLAlchemy's `[parameters: …]`) nor PostgreSQL's `DETAIL: Failing row
    contains (…)`: the commenter's email, address hash and text would sit in the log."""
    from sqlalchemy import text

    victim = "victim.address@example.com"
    with migrated_engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_victim BEFORE INSERT ON comments "
                    f"WHEN NEW.email = '{victim}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "ALTER TABLE comments ADD CONSTRAINT refuse_victim "
                    f"CHECK (email <> '{victim}') NOT VALID"
                )
            )
    client = make_app().test_client()
    caplog.set_level("INFO")
    response = client.post(
        POST_PATH, json=comment_fields(email=victim, body="Secret words of mine")
    )
    assert response.status_code == 500, response.json
    assert response.json["error"] == "internal"
    logged = caplog.text
    assert "unhandled" in logged and "refuse" in logged  # the fault is still told
    assert victim not in logged
    assert "Secret words" not in logged
