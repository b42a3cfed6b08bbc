"""The input rules of api/test_api_input.py against a real `commentd serve`: what the WSGI
server hands the app, byte for byte."""

from __future__ import annotations

import requests

from tests.helpers import (
    CANONICAL,
    FORM,
    MODERATOR,
    SPELLINGS,
    LiveServer,
    comment_fields,
    post_raw,
    raw_request,
)


def test_a_live_server_refuses_bytes_that_are_not_utf8(live_server: LiveServer) -> None:
    form = b"name=Zo%EB&email=zoe%40example.com&body=Caf%E9"
    requests_sent = [
        post_raw(live_server, form, FORM),
        post_raw(live_server, form.replace(b"%EB", b"\xeb"), FORM),
        post_raw(live_server, b'{"name": "Zo\xeb"}', "application/json"),
        post_raw(live_server, b"name=Zoe", FORM, path="/api/posts/caf%E9/comments"),
        raw_request(
            live_server,
            b"GET /api/posts/%FF/comments HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ),
        raw_request(
            live_server,
            b"GET /api/counts?slug=%FF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ),
    ]

    for status, headers, body in requests_sent:
        assert status == 400, body
        assert headers["content-type"] == "application/json"
        assert b'"error":"bad_request"' in body and b"UTF-8" in body
    queue = requests.get(
        f"{live_server.url}/api/moderation/counts", headers=MODERATOR, timeout=5
    ).json()
    assert sum(queue.values()) == 0


def test_a_live_server_keeps_one_thread_whatever_the_spelling(live_server: LiveServer) -> None:
    base = live_server.url
    created = requests.post(
        f"{base}/api/posts/{SPELLINGS[1]}/comments", json=comment_fields(), timeout=5
    )
    assert created.status_code == 201
    requests.post(
        f"{base}/api/moderation/comments/{created.json()['id']}/approve",
        headers=MODERATOR,
        timeout=5,
    )

    for spelling in SPELLINGS:
        listing = requests.get(f"{base}/api/posts/{spelling}/comments", timeout=5).json()
        assert (listing["slug"], listing["count"]) == (CANONICAL, 1)
    counts = requests.get(
        f"{base}/api/counts",
        params=[("slug", CANONICAL), ("slug", "blog/%e8%af%bb%e4%b9%a6")],
        timeout=5,
    ).json()
    assert counts == {CANONICAL: 1, "blog/%e8%af%bb%e4%b9%a6": 1}
