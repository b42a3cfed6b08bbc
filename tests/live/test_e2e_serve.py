"""The contract over real HTTP against `commentd serve` (gunicorn), hostile input included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.helpers import (
    ADMIN_TOKEN,
    LIFTED_LIMITS,
    MODERATOR,
    LiveServer,
    comment_fields,
    post_raw,
    raw_request,
    start_server,
)

SLUG = "3-minute-muscles-gluteus-medius"


def test_a_reader_posts_the_author_approves_and_the_page_shows_it(
    live_server: LiveServer,
) -> None:
    base = live_server.url
    form_token = requests.get(f"{base}/api/form-token", timeout=5).json()["form_token"]

    created = requests.post(
        f"{base}/api/posts/{SLUG}/comments",
        json=comment_fields(body="Pigeon pose **helped**.", form_token=form_token),
        headers={"Origin": "https://blog.example"},
        timeout=5,
    )
    comment_id = created.json()["id"]
    queue = requests.get(f"{base}/api/moderation/comments", headers=MODERATOR, timeout=5).json()
    approved = requests.post(
        f"{base}/api/moderation/comments/{comment_id}/approve", headers=MODERATOR, timeout=5
    )
    listing = requests.get(f"{base}/api/posts/{SLUG}/comments", timeout=5)
    cached = requests.get(
        f"{base}/api/posts/{SLUG}/comments",
        headers={"If-None-Match": listing.headers["ETag"]},
        timeout=5,
    )
    counts = requests.get(f"{base}/api/counts?slug={SLUG}&slug=other", timeout=5)

    assert created.status_code == 201
    assert created.headers["Access-Control-Allow-Origin"] == "https://blog.example"
    assert created.json()["status"] == "pending"
    assert [c["id"] for c in queue["comments"]] == [comment_id]
    assert approved.json()["status"] == "approved"
    assert listing.headers["Content-Type"] == "application/json"
    comment = listing.json()["comments"][0]
    assert comment["body_html"] == "<p>Pigeon pose <strong>helped</strong>.</p>"
    avatar = requests.get(comment["author"]["avatar"], timeout=5)
    assert avatar.status_code == 200 and avatar.headers["Content-Type"].startswith("image/svg+xml")
    assert (cached.status_code, cached.content) == (304, b"")
    assert counts.json() == {SLUG: 1, "other": 0}
    assert "dana@example.com" not in listing.text


def test_every_endpoint_answers_with_nosniff_and_json_errors(live_server: LiveServer) -> None:
    base = live_server.url
    for method, path in (
        ("GET", "/healthz"),
        ("GET", "/api/form-token"),
        ("GET", "/embed.js"),
        ("GET", "/moderation.js"),
        ("GET", "/moderate"),
        ("GET", "/nowhere"),
        ("PUT", f"/api/posts/{SLUG}/comments"),
        ("GET", "/api/moderation/comments"),
    ):
        response = requests.request(method, base + path, timeout=5)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        if response.status_code >= 400:
            assert response.headers["Content-Type"] == "application/json", path
            assert set(response.json()) >= {"error", "message"}, path


def test_a_slug_with_an_encoded_slash_is_the_same_post(live_server: LiveServer) -> None:
    base = live_server.url
    requests.post(
        f"{base}/api/posts/2024%2F03%2Fgluteus/comments", json=comment_fields(), timeout=5
    )

    raw = requests.get(f"{base}/api/posts/2024/03/gluteus/comments", timeout=5)
    moderation = requests.get(f"{base}/api/moderation/comments", headers=MODERATOR, timeout=5)

    assert raw.json()["slug"] == "2024/03/gluteus"
    assert moderation.json()["comments"][0]["slug"] == "2024/03/gluteus"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"\x00\xff\xfe junk \x80\x81", "application/json", 400),
        (b"\x00\xff\xfe junk \x80\x81", "application/x-www-form-urlencoded", 400),
        (b'{"name": "Dana", "email": "d@example.com", "body": "\\u0000"}', "application/json", 422),
        (b'{"name": "\\udc00", "email": "d@example.com", "body": "x"}', "application/json", 422),
        (
            b'{"name": "Dana", "email": "d@example.com", "body": "x", "parent_id": 1e999}',
            "application/json",
            422,
        ),
        (
            b'{"name": "Dana", "email": "d@example.com", "body": "x", "parent_id": '
            + b"9" * 5000
            + b"}",
            "application/json",
            400,
        ),
        (b"[" * 50000 + b"]" * 50000, "application/json", 413),
        (b"[" * 30000, "application/json", 400),
        (
            b"name=Dana&email=d%40example.com&body=" + b"x" * 70000,
            "application/x-www-form-urlencoded",
            413,
        ),
        (b"name=Dana&email=d%40example.com&body=%00%ff", "application/x-www-form-urlencoded", 400),
        (b"name=Dana&email=d%40example.com&body=%00", "application/x-www-form-urlencoded", 422),
        (b"<xml/>", "application/xml", 415),
        (b"", "application/json", 400),
    ],
)
def test_hostile_bodies_get_a_clear_json_answer_never_a_500(
    shared_server: LiveServer, body: bytes, content_type: str, status: int
) -> None:
    answer_status, headers, answer = post_raw(shared_server, body, content_type, slug=SLUG)

    assert answer_status == status
    assert headers["content-type"] == "application/json"
    assert json.loads(answer)["message"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/posts/" + "x" * 300 + "/comments", 400),
        ("/api/posts/a%00b/comments", 400),
        ("/api/posts/%2F%2F/comments", 400),
        ("/api/posts/%ff%fe/comments", 400),  # bytes that are not UTF-8: never a U+FFFD slug
        ("/api/moderation/comments/99999999999999999999999/approve", 404),
    ],
)
def test_hostile_paths_get_a_json_answer_never_a_500(
    shared_server: LiveServer, path: str, expected: int
) -> None:
    method = "POST" if path.endswith("/approve") else "GET"
    status, headers, _ = raw_request(
        shared_server,
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n".encode(),
    )

    assert status == expected
    assert headers["content-type"] == "application/json"


def test_a_token_made_by_the_command_works_on_the_running_service(
    live_server: LiveServer, serve_env: dict[str, str], tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "commentd.ops.cli", "token", "--label", "phone"],
        env={"PATH": os.environ["PATH"]} | serve_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    token = result.stdout.strip()

    response = requests.get(
        f"{live_server.url}/api/moderation/comments",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )

    assert result.stdout == token + "\n"  # the token alone on standard output
    assert "commentd: using the database" in result.stderr  # which one, said on stderr
    assert len(token) >= 40
    assert response.status_code == 200


def test_with_in_process_counters_one_process_holds_the_limit_for_the_whole_service(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    server = start_server(serve_env | {"COMMENTD_POST_RATE_LIMIT": "5 per minute"}, tmp_path)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(
                pool.map(
                    lambda n: (
                        requests.post(
                            f"{server.url}/api/posts/{SLUG}/comments",
                            json=comment_fields(body=f"burst {n}"),
                            timeout=10,
                        ).status_code
                    ),
                    range(12),
                )
            )
    finally:
        server.stop()

    assert sorted(statuses) == [201] * 5 + [429] * 7


def test_sigterm_shuts_the_server_down_cleanly(serve_env: dict[str, str], tmp_path: Path) -> None:
    server = start_server(serve_env, tmp_path)

    exit_code = server.stop()

    assert exit_code == 0
    assert "Shutting down" in server.log() or "Handling signal: term" in server.log()


def test_the_quickstart_runs_on_embedded_defaults_and_says_how_to_get_a_token(
    tmp_path: Path,
) -> None:
    server = start_server({}, tmp_path)
    try:
        created = requests.post(
            f"{server.url}/api/posts/{SLUG}/comments", json=comment_fields(), timeout=5
        )
    finally:
        server.stop()

    assert created.status_code == 201
    assert (tmp_path / "commentd.db").is_file()
    assert "commentd token" in server.log()
    said = [line for line in server.log().splitlines() if '"msg": "database: ' in line]
    assert len(said) == 1, said  # once, by serve; not again by the migration it runs
    access = [json.loads(line) for line in server.log().splitlines() if '"status"' in line]
    assert [(line["method"], line["status"]) for line in access if line["method"] == "POST"] == [
        ("POST", 201)
    ]  # one access line per request


def test_two_server_processes_write_one_sqlite_file_without_locking_errors(
    tmp_path: Path,
) -> None:
    env = {
        "COMMENTD_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "COMMENTD_ADMIN_TOKEN": ADMIN_TOKEN,
        "COMMENTD_MODERATION": "none",
        "COMMENTD_HOLD_LINKS": "0",
    } | LIFTED_LIMITS
    servers = [start_server(env, tmp_path), start_server(env, tmp_path)]
    refusals: list[str] = []
    try:

        def post(n: int) -> int:
            server = servers[n % 2]
            answer = requests.post(
                f"{server.url}/api/posts/p{n % 3}/comments",
                json=comment_fields(body=f"comment {n}"),
                timeout=30,
            )
            if answer.status_code != 201:  # say which refusal, should one come
                refusals.append(answer.text)
            return answer.status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(post, range(200)))
        counts = requests.get(
            f"{servers[1].url}/api/moderation/counts", headers=MODERATOR, timeout=5
        ).json()
    finally:
        for server in servers:
            server.stop()

    assert statuses == [201] * 200, refusals
    assert sum(counts.values()) == 200


def test_the_remaining_statuses_of_the_contract_over_http(live_server: LiveServer) -> None:
    base = live_server.url
    path = f"{base}/api/posts/{SLUG}/comments"

    def post() -> int:
        return int(requests.post(path, json=comment_fields(), timeout=5).json()["id"])

    foreign = requests.post(
        path, json=comment_fields(), headers={"Origin": "https://evil.example"}, timeout=5
    )
    preflight = requests.options(
        path,
        headers={"Origin": "https://blog.example", "Access-Control-Request-Method": "POST"},
        timeout=5,
    )
    unauthorized = requests.get(
        f"{base}/api/moderation/comments", headers={"Authorization": "Bearer nope"}, timeout=5
    )
    first, second, third = post(), post(), post()
    rejected = requests.post(
        f"{base}/api/moderation/comments/{first}/reject", headers=MODERATOR, timeout=5
    )
    spam = requests.post(
        f"{base}/api/moderation/comments/{second}/spam", headers=MODERATOR, timeout=5
    )
    deleted = requests.delete(
        f"{base}/api/moderation/comments/{third}", headers=MODERATOR, timeout=5
    )
    gone = requests.delete(f"{base}/api/moderation/comments/{third}", headers=MODERATOR, timeout=5)
    too_many = requests.get(
        f"{base}/api/counts", params=[("slug", f"s{n}") for n in range(101)], timeout=5
    )
    bad_status = requests.get(
        f"{base}/api/moderation/comments?status=nope", headers=MODERATOR, timeout=5
    )

    assert (foreign.status_code, foreign.json()["error"]) == (403, "origin_not_allowed")
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://blog.example"
    assert (unauthorized.status_code, unauthorized.json()["error"]) == (401, "unauthorized")
    assert (rejected.status_code, rejected.json()["status"]) == (200, "rejected")
    assert (spam.status_code, spam.json()["status"]) == (200, "spam")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (gone.status_code, gone.json()["error"]) == (404, "not_found")
    assert too_many.status_code == 400
    assert bad_status.status_code == 400
