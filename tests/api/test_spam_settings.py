"""The author's rules through the moderation API: shown, changed, reset, applied at once."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest
from flask import Flask
from flask.testing import FlaskClient

from commentd.config import ModerationMode
from tests.helpers import MODERATOR, post_comment, signals

# Posts as the widget sends them (with a fresh form token).
submit = partial(post_comment, widget=True)


ENVIRONMENT_RULES = {
    "moderation": "none",
    "hold_links": 2,
    "moderation_keywords": ["casino"],
    "disallowed_keywords": [],
    "duplicate_window_seconds": 86400,
    "spam_threshold": 0.84,
    "hold_threshold": 0.4,
    "spam_digest": "off",  # no COMMENTD_NOTIFY_EMAIL here: nowhere to send it
}


@pytest.fixture
def rules_client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(
        moderation=ModerationMode.NONE,
        moderation_keywords=("Casino",),
        duplicate_window_seconds=86400,
    ).test_client()


def test_the_rules_start_as_the_environment_sets_them(rules_client: FlaskClient) -> None:
    response = rules_client.get("/api/moderation/settings", headers=MODERATOR)

    assert response.json == {"rules": ENVIRONMENT_RULES, "changed": []}


def test_changed_rules_apply_to_the_next_comment(rules_client: FlaskClient) -> None:
    response = rules_client.put(
        "/api/moderation/settings",
        json={"hold_links": 1, "disallowed_keywords": "Poker\n\n  free   chips  "},
        headers=MODERATOR,
    )
    created = submit(rules_client, body="Free chips at https://poker.example")

    assert response.json == {
        "rules": ENVIRONMENT_RULES
        | {"hold_links": 1, "disallowed_keywords": ["poker", "free chips"]},
        "changed": ["hold_links", "disallowed_keywords"],
    }
    assert signals(rules_client, created["id"]) == {
        "status": "spam",
        "reasons": ["matched disallowed keyword 'poker'", "1 link, limit 1"],
    }


def test_null_returns_a_rule_to_the_environments_value(rules_client: FlaskClient) -> None:
    rules_client.put(
        "/api/moderation/settings",
        json={"moderation_keywords": [], "hold_links": 5},
        headers=MODERATOR,
    )

    response = rules_client.put(
        "/api/moderation/settings", json={"moderation_keywords": None}, headers=MODERATOR
    )

    assert response.json == {
        "rules": ENVIRONMENT_RULES | {"hold_links": 5},
        "changed": ["hold_links"],
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hold_links": -1}, "hold_links"),
        ({"hold_links": True}, "hold_links"),
        ({"spam_threshold": 1.5}, "spam_threshold"),
        ({"hold_threshold": "0.2"}, "hold_threshold"),
        ({"moderation_keywords": [1, 2]}, "moderation_keywords"),
        ({"disallowed_keywords": ["x" * 101]}, "disallowed_keywords"),
        ({"duplicate_window_seconds": 10**9}, "duplicate_window_seconds"),
        ({"hold_threshold": 0.9}, "hold_threshold"),  # above the spam threshold
        ({"colour": "red"}, "colour"),
        ({"spam_digest": "hourly"}, "spam_digest"),
        ({"moderation": "some"}, "moderation"),
        ({"moderation": ["all"]}, "moderation"),
        ({"spam_digest": "daily"}, "spam_digest"),  # no COMMENTD_NOTIFY_EMAIL: nowhere to send
    ],
)
def test_bad_rules_are_refused_naming_the_field_and_nothing_changes(
    rules_client: FlaskClient, body: dict[str, object], field: str
) -> None:
    response = rules_client.put("/api/moderation/settings", json=body, headers=MODERATOR)

    assert response.status_code == 422
    assert response.json is not None and response.json["error"] == "validation"
    assert list(response.json["fields"]) == [field]
    shown = rules_client.get("/api/moderation/settings", headers=MODERATOR).json
    assert shown == {"rules": ENVIRONMENT_RULES, "changed": []}


@pytest.mark.parametrize("data", [b"not json", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_an_object_gets_a_json_error(
    rules_client: FlaskClient, data: bytes
) -> None:
    response = rules_client.put(
        "/api/moderation/settings", data=data, content_type="application/json", headers=MODERATOR
    )

    assert response.status_code in (400, 422)
    assert response.json is not None and response.json["error"] in ("bad_request", "validation")


def test_the_rules_need_the_moderation_token(rules_client: FlaskClient) -> None:
    shown = rules_client.get("/api/moderation/settings")
    changed = rules_client.put("/api/moderation/settings", json={"hold_links": 9})
    closed = rules_client.put("/api/moderation/posts/x", json={"closed": True})

    assert [shown.status_code, changed.status_code, closed.status_code] == [401, 401, 401]


def test_a_second_app_on_the_same_database_sees_the_change_at_once(
    make_app: Callable[..., Flask],
) -> None:
    first = make_app(moderation=ModerationMode.NONE).test_client()
    second = make_app(moderation=ModerationMode.NONE).test_client()
    submit(second, body="warming its copy of the rules")

    first.put("/api/moderation/settings", json={"moderation_keywords": ["hip"]}, headers=MODERATOR)
    created = submit(second, body="My hip hurts", email="other@example.com")

    assert signals(second, created["id"]) == {
        "status": "pending",
        "reasons": ["matched keyword 'hip'"],
    }


@pytest.mark.parametrize(
    ("mode", "status"), [("all", "pending"), ("none", "approved"), ("known", "pending")]
)
def test_the_moderation_mode_chosen_by_the_author_applies_to_the_next_comment(
    rules_client: FlaskClient, mode: str, status: str
) -> None:
    changed = rules_client.put(
        "/api/moderation/settings", json={"moderation": mode}, headers=MODERATOR
    )
    posted = submit(rules_client, body="Pigeon pose, twice a day.")

    assert changed.json is not None and changed.json["rules"]["moderation"] == mode
    assert posted["status"] == status  # a first comment: "known" has nobody to know yet
    reset = rules_client.put(
        "/api/moderation/settings", json={"moderation": None}, headers=MODERATOR
    )
    assert reset.json is not None and reset.json["rules"]["moderation"] == "none"
    assert submit(rules_client, body="And the figure four.")["status"] == "approved"
