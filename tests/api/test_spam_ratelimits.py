"""The limits beyond the per-address one: per email, per post, and the flood interval."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.helpers import ADMIN_TOKEN, comment_fields

SLUG = "gluteus-medius"


def post(client: FlaskClient, address: str, slug: str = SLUG, **fields: Any) -> TestResponse:
    return client.post(
        f"/api/posts/{slug}/comments",
        json=comment_fields(**fields),
        environ_base={"REMOTE_ADDR": address},
    )


def assert_limited(response: TestResponse, longest_wait: int) -> None:
    assert response.status_code == 429
    assert response.mimetype == "application/json"
    assert response.json is not None and response.json["error"] == "rate_limited"
    assert 0 < int(response.headers["Retry-After"]) <= longest_wait


def test_one_email_address_is_limited_across_networks(make_app: Callable[..., Flask]) -> None:
    client = make_app(email_rate_limit="2 per minute").test_client()

    responses = [post(client, f"192.0.2.{n}", email="Dana@Example.com") for n in range(3)]
    other = post(client, "192.0.2.9", email="someone.else@example.com")

    assert [r.status_code for r in responses[:2]] == [201, 201]
    assert_limited(responses[2], 60)
    assert other.status_code == 201


def test_a_burst_on_one_post_is_limited_while_other_posts_take_comments(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(slug_rate_limit="2 per minute").test_client()

    responses = [post(client, f"192.0.2.{n}", email=f"r{n}@example.com") for n in range(3)]
    elsewhere = post(client, "192.0.2.7", slug="another-post", email="r7@example.com")

    assert [r.status_code for r in responses[:2]] == [201, 201]
    assert_limited(responses[2], 60)
    assert elsewhere.status_code == 201


@pytest.mark.parametrize(
    ("second_address", "second_email"),
    [("192.0.2.1", "other@example.com"), ("192.0.2.2", "dana@example.com")],
    ids=["same-address", "same-email"],
)
def test_a_second_comment_from_the_same_sender_within_the_interval_waits(
    make_app: Callable[..., Flask], second_address: str, second_email: str
) -> None:
    client = make_app(min_post_interval=15).test_client()

    first = post(client, "192.0.2.1", email="dana@example.com")
    second = post(client, second_address, email=second_email)
    stranger = post(client, "192.0.2.3", email="stranger@example.com")

    assert first.status_code == 201
    # The moving window every limit uses: the wait is what is left of the interval.
    assert_limited(second, 15)
    assert stranger.status_code == 201


def test_refused_and_invalid_posts_do_not_use_up_the_sender_limits(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(email_rate_limit="1 per minute", min_post_interval=15).test_client()

    invalid = post(client, "192.0.2.1", body="")
    accepted = post(client, "192.0.2.1")

    assert invalid.status_code == 422
    assert accepted.status_code == 201


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"{", "application/json", 400),
        (b'{"email": ["a@b.c"], "name": {}, "body": 5}', "application/json", 422),
        (b"email=%FF%FE&name=x&body=y", "application/x-www-form-urlencoded", 400),
        (b"email=%00&name=x&body=y", "application/x-www-form-urlencoded", 422),
        (b'"just a string"', "application/json", 400),
    ],
)
def test_junk_never_reaches_the_email_limit_as_a_500(
    make_app: Callable[..., Flask], data: bytes, content_type: str, status: int
) -> None:
    client = make_app(email_rate_limit="1 per minute").test_client()

    response = client.post(f"/api/posts/{SLUG}/comments", data=data, content_type=content_type)

    assert response.status_code == status
    assert response.json is not None and response.json["error"] in ("bad_request", "validation")


def test_typing_someones_email_cannot_use_up_her_own_allowance(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(email_rate_limit="1 per minute").test_client()
    first = post(client, "192.0.2.1", email="alice@example.com")
    assert first.status_code == 201 and first.json is not None
    token = first.json["commenter_token"]

    impostor = post(client, "192.0.2.66", email="alice@example.com")
    alice = post(client, "192.0.2.1", email="alice@example.com", commenter_token=token)
    alice_again = post(client, "192.0.2.1", email="alice@example.com", commenter_token=token)

    assert_limited(impostor, 60)  # the unproven allowance for the address is used up
    assert alice.status_code == 201  # her proven comments count apart
    assert_limited(alice_again, 60)


# --- field errors first; a refused post uses no allowance ------------------------------------

EVERY_LIMIT_AT_ONE = {
    "post_rate_limit": "1 per minute",
    "email_rate_limit": "1 per minute",
    "slug_rate_limit": "1 per minute",
    "site_rate_limit": "1 per minute",
    "min_post_interval": 15,
}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not an address"}, "email"),
        ({"name": ""}, "name"),
        ({"body": "   "}, "body"),
        ({"website": "javascript:alert(1)"}, "website"),
    ],
)
def test_within_the_interval_a_field_error_is_named_before_any_limit(
    make_app: Callable[..., Flask], fields: dict[str, str], field: str
) -> None:
    client = make_app(min_post_interval=15).test_client()
    assert post(client, "192.0.2.1").status_code == 201

    second = post(client, "192.0.2.1", **fields)

    assert second.status_code == 422
    assert second.json is not None and field in second.json["fields"]


def refusals(client: FlaskClient, approved_id: int) -> list[TestResponse]:
    """A post refused for each reason but a limit, all from one sender on one post."""
    env = {"REMOTE_ADDR": "192.0.2.1"}
    path = f"/api/posts/{SLUG}/comments"
    return [
        post(client, "192.0.2.1", email="nope"),  # 422
        post(client, "192.0.2.1", parent_id=approved_id + 999),  # 422: no such parent
        client.post(path, data=b"{", content_type="application/json", environ_base=env),  # 400
        client.post(path, data=b"x", content_type="text/plain", environ_base=env),  # 415
        client.post(  # 403: a browser on a page that may not post
            path,
            json=comment_fields(),
            headers={"Origin": "https://evil.example"},
            environ_base=env,
        ),
        post(client, "192.0.2.1", slug="closed-post"),  # 403: comments closed
    ]


def test_refused_posts_of_every_kind_use_up_no_limit(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(**EVERY_LIMIT_AT_ONE).test_client()
    closing = client.put(
        "/api/moderation/posts/closed-post",
        json={"closed": True},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert closing.status_code == 200

    refused = refusals(client, approved_id=1) + refusals(client, approved_id=1)
    accepted = post(client, "192.0.2.1")

    assert [r.status_code for r in refused] == [422, 422, 400, 415, 403, 403] * 2
    assert accepted.status_code == 201, accepted.json


def test_a_post_refused_by_one_limit_uses_up_none_of_the_others(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(post_rate_limit="2 per minute", email_rate_limit="1 per minute").test_client()

    first = post(client, "192.0.2.1", email="dana@example.com")
    over_email = post(client, "192.0.2.1", email="dana@example.com")
    other_email = post(client, "192.0.2.1", email="erin@example.com")

    assert first.status_code == 201
    assert_limited(over_email, 60)
    assert other_email.status_code == 201  # the 429 took nothing from the address's two


def test_a_429_names_no_limit_and_waits_whole_seconds(make_app: Callable[..., Flask]) -> None:
    client = make_app(email_rate_limit="1 per day").test_client()
    assert post(client, "192.0.2.1").status_code == 201

    limited = post(client, "192.0.2.2")

    assert limited.status_code == 429 and limited.json is not None
    assert "per day" not in limited.json["message"] and "email" not in limited.json["message"]
    assert limited.headers["Retry-After"].isdigit()
    assert 1 <= int(limited.headers["Retry-After"]) <= 2 * 86400
