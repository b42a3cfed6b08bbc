"""The PublicReads accelerator (web/fast_reads.py) answers a post's comments exactly as the
`list_comments` view does: the same status, headers and bytes for every kind of request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from commentd.config import Settings
from commentd.models import CommentStatus
from commentd.web.app import create_app
from commentd.web.fast_reads import PublicReads
from commentd.web.logs import JsonFormatter
from commentd.web.services import of as services_of
from commentd.web.spooling import SpooledAnswers
from tests.helpers import MODERATOR

SLUG = "gluteus-medius"
PATH = f"/api/posts/{SLUG}/comments"
# Differ from one answer to the next whoever answers.
VARYING = frozenset({"date", "x-request-id"})


@dataclass
class Ask:
    """One request: its path, method and headers."""

    path: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    # PATH_INFO as a WSGI server hands it over (escapes decoded, bytes as latin-1 text), for
    # what the test client cannot send itself; `path` is then "/".
    raw_path: str | None = None


@pytest.fixture
def both(migrated_engine: Engine, settings: Settings) -> Iterator[tuple[FlaskClient, FlaskClient]]:
    """(with the accelerator, without it): two apps on the one migrated test database."""
    fast, plain = create_app(settings, fast_reads=True), create_app(settings, fast_reads=False)
    outer_fast, outer_plain = fast.wsgi_app, plain.wsgi_app
    assert isinstance(outer_fast, SpooledAnswers) and isinstance(outer_plain, SpooledAnswers)
    assert isinstance(outer_fast.app, PublicReads) and not isinstance(outer_plain.app, PublicReads)
    yield fast.test_client(), plain.test_client()
    for app in (fast, plain):
        services_of(app).engine.dispose()


def answer(client: FlaskClient, ask: Ask) -> tuple[int, list[tuple[str, str]], bytes]:
    overrides = {"PATH_INFO": ask.raw_path} if ask.raw_path is not None else {}
    response = client.open(
        ask.path, method=ask.method, headers=ask.headers, environ_overrides=overrides
    )
    headers = sorted((k, v) for k, v in response.headers.items() if k.lower() not in VARYING)
    return response.status_code, headers, response.get_data()


def post_thread(client: FlaskClient) -> None:
    """A comment, an approved reply to it, and a pending one (which the public never sees)."""

    def post(**fields: Any) -> int:
        token = client.get("/api/form-token").json["form_token"]  # type: ignore[index]
        fields = {"name": "Dana", "email": "dana@example.com", "form_token": token} | fields
        response = client.post(PATH, json=fields)
        assert response.status_code == 201, response.json
        return int(response.json["id"])  # type: ignore[index]

    def approve(comment_id: int) -> None:
        response = client.post(f"/api/moderation/comments/{comment_id}/approve", headers=MODERATOR)
        assert response.status_code == 200 and response.json["status"] == CommentStatus.APPROVED

    first = post(body="Pigeon pose!")
    approve(first)
    approve(post(body="Try *the* block under the hip.", parent_id=first))
    post(body="Still waiting", parent_id=first)


def test_the_accelerator_and_the_view_answer_every_read_with_the_same_bytes(
    both: tuple[FlaskClient, FlaskClient],
) -> None:
    fast, plain = both
    post_thread(plain)
    etag = plain.get(PATH).headers["ETag"]
    asks = [
        Ask(PATH),
        Ask(PATH, "HEAD"),
        Ask(PATH, headers={"If-None-Match": etag}),
        Ask(PATH, "HEAD", headers={"If-None-Match": etag}),
        Ask(PATH, headers={"If-None-Match": '"some-other-version"'}),
        Ask(PATH, headers={"Origin": "https://blog.example"}),
        Ask(PATH, headers={"Origin": "https://elsewhere.example"}),
        Ask(PATH, headers={"X-Request-Id": "proxy-given-id-0001"}),
        Ask(PATH, "OPTIONS", headers={"Origin": "https://blog.example"}),
        Ask(
            PATH,
            "OPTIONS",
            headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
        ),
        Ask(f"/api/posts/{SLUG}/comments?any=thing"),
        Ask(f"/api/posts//{SLUG}/comments"),  # the same slug, spelled differently
        Ask("/api/posts/never-commented/comments"),
        Ask("/api/posts/a/b%20c/comments"),
        Ask(f"/api/posts/{'x' * 1000}/comments"),  # too long a slug: 400
        Ask("/api/posts/%E2%80%AEevil/comments"),  # a bidi control in the slug: 400
        Ask("/", raw_path="/api/posts/\xff/comments"),  # a path that is not UTF-8: 400
        Ask("/", "HEAD", raw_path="/api/posts/caf\xe9/comments"),
        Ask("/api/posts/%FF/comments"),  # an escape that is not UTF-8: kept as the text "%FF"
        Ask(f"{PATH}?slug=%FF"),  # a query that is not UTF-8: 400
        Ask(f"{PATH}/"),  # not this route
        Ask(PATH, "POST"),  # not a read: the app's 415
    ]

    answers = [(answer(fast, ask), answer(plain, ask)) for ask in asks]

    for ask, (accelerated, viewed) in zip(asks, answers, strict=True):
        assert accelerated == viewed, ask
    statuses = [status for (status, _, _), _ in answers]
    assert statuses[:4] == [200, 200, 304, 304]
    assert statuses[12:20] == [200, 200, 400, 400, 400, 400, 200, 400]
    body = answers[0][0][2]
    assert body.count(b'"id"') == 2 and b"Still waiting" not in body


def test_the_accelerator_answers_comments_html_with_the_views_bytes(
    both: tuple[FlaskClient, FlaskClient],
) -> None:
    fast, plain = both
    post_thread(plain)
    html = f"{PATH}.html"
    etag = plain.get(html).headers["ETag"]
    asks = [
        Ask(html),
        Ask(html, "HEAD"),
        Ask(html, headers={"If-None-Match": etag}),
        Ask(html, headers={"If-None-Match": plain.get(PATH).headers["ETag"]}),  # the JSON's
        Ask(f"{html}?lang=en-GB"),
        Ask(f"{html}?lang=xx&lang=en"),  # the first lang counts, as for request.args
        Ask(f"{html}?lang=%FF"),  # not UTF-8: 400
        Ask(html, headers={"Origin": "https://elsewhere.example"}),
        Ask("/api/posts/never-commented/comments.html"),
        Ask(f"/api/posts/{'x' * 1000}/comments.html"),  # too long a slug: 400
        Ask(f"/api/posts/{SLUG}/comments.html/comments"),  # the JSON of slug "…/comments.html"
    ]

    answers = [(answer(fast, ask), answer(plain, ask)) for ask in asks]

    for ask, (accelerated, viewed) in zip(asks, answers, strict=True):
        assert accelerated == viewed, ask
    statuses = [status for (status, _, _), _ in answers]
    assert statuses == [200, 200, 304, 200, 200, 200, 400, 200, 200, 400, 200]
    body = answers[0][0][2]
    assert body.startswith(b'<section class="commentd-thread"') and b"Still waiting" not in body
    assert dict(answers[0][0][1])["Content-Type"] == "text/html; charset=utf-8"


def test_the_accelerator_counts_and_logs_its_answers_as_the_view(
    both: tuple[FlaskClient, FlaskClient], caplog: pytest.LogCaptureFixture
) -> None:
    fast, plain = both
    caplog.set_level("INFO", logger="commentd.access")

    for client in both:
        client.get(PATH)
        client.get("/", environ_overrides={"PATH_INFO": "/api/posts/\xff/comments"})
    lines = [
        {k: v for k, v in record.fields.items() if k not in ("request_id", "duration_ms")}  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "commentd.access"
    ]

    assert lines[:2] == lines[2:]
    assert [line["endpoint"] for line in lines] == ["public.list_comments"] * 4
    assert counted(fast.application) == counted(plain.application) == {"200": 1.0, "400": 1.0}


def counted(app: Flask) -> dict[str, float]:
    """The app's count of GETs of list_comments, by status."""
    registry = services_of(app).metrics.registry
    return {
        status: registry.get_sample_value(
            "commentd_http_requests_total",
            {"endpoint": "public.list_comments", "method": "GET", "status": status},
        )
        or 0.0
        for status in ("200", "400")
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_line_logged_while_answering_carries_the_request_id_whoever_answers(
    both: tuple[FlaskClient, FlaskClient], database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A warning logged while the accelerator answered had no request id (it answers outside
    Flask, where the id lived): it now has the one the answer and its access line carry."""
    caplog.set_level("INFO", logger="commentd.access")
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("commentd")
    logger.addHandler(handler)
    try:
        for client in both:
            services_of(client.application).engine.dispose()
        Path(database_url.removeprefix("sqlite:///")).unlink()  # every new connection refused
        answers = [
            client.get(PATH, headers={"X-Request-Id": f"asked-{n}-0123456789"})
            for n, client in enumerate(both)
        ]
        logger.warning("between requests")
    finally:
        logger.removeHandler(handler)
    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert [answer.status_code for answer in answers] == [503, 503]
    told = [line for line in logged if "database file replaced" in line["msg"]]
    assert [line.get("request_id") for line in told] == ["asked-0-0123456789", "asked-1-0123456789"]
    access = [line for line in logged if line["logger"] == "commentd.access"]
    assert [line["request_id"] for line in access] == [a.headers["X-Request-Id"] for a in answers]
    assert "request_id" not in logged[-1] and logged[-1]["msg"] == "between requests"
