"""Proof of work as a spam layer (spam/proof.py) over HTTP, on both databases: the challenge in
GET /api/form-token, and what a solution that is valid, missing, wrong, expired or replayed does
to a comment (held with a reason, never refused), and COMMENTD_POW_MAX_NUMBER=0 turning it off.
Solutions come from ALTCHA's own solver (tests.helpers.solve_pow), as a browser's would."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from commentd.config import ModerationMode
from commentd.models import SpentLink, utcnow
from commentd.spam import proof
from tests.helpers import (
    FORM,
    MODERATOR,
    SLUG,
    comment_fields,
    database_snapshot,
    signals,
    solve_pow,
    with_form_token,
    with_pow,
)

MAX_NUMBER = 2000  # small: the tests solve in Python
MISSING = "no proof of work (pow_missing: not solved by the comment widget)"
INVALID = "proof of work wrong or forged (pow_invalid)"
EXPIRED = "proof of work expired (pow_expired: challenge older than an hour)"
REPLAYED = "proof of work used before (pow_replayed)"
NO_TOKEN = "no form token (not sent from the comment form)"


@pytest.fixture
def pow_client(make_app: Callable[..., Flask]) -> FlaskClient:
    """Moderation off, so that whatever the layer holds shows in the status."""
    return make_app(moderation=ModerationMode.NONE, pow_max_number=MAX_NUMBER).test_client()


def post(client: FlaskClient, fields: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/posts/{SLUG}/comments", json=fields)
    assert response.status_code == 201, response.json
    assert response.json is not None
    return dict(response.json)


def challenge(client: FlaskClient) -> dict[str, Any]:
    answer = client.get("/api/form-token").json
    assert answer is not None
    return dict(answer["pow"])


def test_the_form_token_answer_carries_a_signed_challenge_and_stores_nothing(
    pow_client: FlaskClient, migrated_engine: Engine
) -> None:
    before = database_snapshot(migrated_engine)
    answer = pow_client.get("/api/form-token")

    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    given = answer.json["pow"]  # type: ignore[index]
    assert set(given) == {"algorithm", "challenge", "maxnumber", "salt", "signature"}
    assert given["algorithm"] == "SHA-256" and given["maxnumber"] == MAX_NUMBER
    assert re.fullmatch(r"[0-9a-f]{64}", given["challenge"])
    expires = int(re.fullmatch(r"[0-9a-f]{32}\?expires=(\d+)&", given["salt"])[1])  # type: ignore[index]
    assert 0 < expires - time.time() <= proof.CHALLENGE_LIFETIME
    assert challenge(pow_client)["challenge"] != given["challenge"]
    assert database_snapshot(migrated_engine) == before


def test_a_valid_solution_publishes_and_is_spent(
    pow_client: FlaskClient, migrated_engine: Engine
) -> None:
    created = post(pow_client, with_pow(pow_client, **comment_fields()))

    assert signals(pow_client, created["id"]) == {"status": "approved", "reasons": []}
    assert spent_count(migrated_engine) == 1


def test_a_valid_solution_skips_the_hold_of_a_missing_or_forged_form_token(
    pow_client: FlaskClient,
) -> None:
    without = post(pow_client, comment_fields(altcha=solve_pow(challenge(pow_client))))
    forged = post(
        pow_client, comment_fields(form_token="forged", altcha=solve_pow(challenge(pow_client)))
    )

    assert signals(pow_client, without["id"]) == {"status": "approved", "reasons": []}
    assert signals(pow_client, forged["id"]) == {"status": "approved", "reasons": []}


def test_without_a_solution_a_comment_is_held_never_refused(pow_client: FlaskClient) -> None:
    with_token = post(pow_client, with_form_token(pow_client, **comment_fields()))
    bare = post(pow_client, comment_fields())

    assert signals(pow_client, with_token["id"]) == {"status": "pending", "reasons": [MISSING]}
    assert signals(pow_client, bare["id"]) == {"status": "pending", "reasons": [NO_TOKEN, MISSING]}


@pytest.mark.parametrize(
    "altcha",
    [
        "not base64 at all!",
        "eyJ9",  # base64 of a broken JSON object
        "W10=",  # base64 of []
        "x" * (proof.PROOF_MAX + 50),
        123,
    ],
    ids=["junk", "bad-json", "not-an-object", "too-long", "a-number"],
)
def test_a_malformed_solution_is_held_as_invalid(pow_client: FlaskClient, altcha: object) -> None:
    created = post(pow_client, with_form_token(pow_client, **comment_fields(altcha=altcha)))

    assert signals(pow_client, created["id"]) == {"status": "pending", "reasons": [INVALID]}


def test_a_wrong_number_or_a_tampered_challenge_is_held_as_invalid(
    pow_client: FlaskClient,
) -> None:
    given = challenge(pow_client)
    right = proof_number(given)
    wrong = post(
        pow_client,
        with_form_token(pow_client, **comment_fields(altcha=solve_pow(given, number=right + 1))),
    )
    # A challenge of the attacker's own making (salt and number chosen), signed with no key.
    other = dict(given, salt="00" * 16 + "?expires=9999999999&")
    other["challenge"] = proof.altcha.hash_hex("SHA-256", f"{other['salt']}7".encode())
    forged = post(
        pow_client, with_form_token(pow_client, **comment_fields(altcha=solve_pow(other)))
    )

    assert signals(pow_client, wrong["id"]) == {"status": "pending", "reasons": [INVALID]}
    assert signals(pow_client, forged["id"]) == {"status": "pending", "reasons": [INVALID]}


def test_a_solution_of_another_sites_challenge_is_invalid(
    pow_client: FlaskClient, make_app: Callable[..., Flask]
) -> None:
    elsewhere = proof.issue("another site's secret, long enough", MAX_NUMBER)

    created = post(
        pow_client, with_form_token(pow_client, **comment_fields(altcha=solve_pow(elsewhere)))
    )

    assert signals(pow_client, created["id"]) == {"status": "pending", "reasons": [INVALID]}


def test_an_expired_solution_is_held_as_expired(pow_client: FlaskClient, app_secret: str) -> None:
    old = proof.issue(app_secret, MAX_NUMBER, now=time.time() - proof.CHALLENGE_LIFETIME - 5)

    created = post(pow_client, with_form_token(pow_client, **comment_fields(altcha=solve_pow(old))))

    assert signals(pow_client, created["id"]) == {"status": "pending", "reasons": [EXPIRED]}


def test_a_solution_sent_twice_is_held_the_second_time(
    pow_client: FlaskClient, make_app: Callable[..., Flask]
) -> None:
    solved = solve_pow(challenge(pow_client))
    first = post(pow_client, with_form_token(pow_client, **comment_fields(altcha=solved)))
    # Another process (another app on the same database) sees the same solution spent.
    other = make_app(moderation=ModerationMode.NONE, pow_max_number=MAX_NUMBER).test_client()
    again = post(other, with_form_token(other, **comment_fields(body="Again", altcha=solved)))

    assert signals(pow_client, first["id"]) == {"status": "approved", "reasons": []}
    assert signals(pow_client, again["id"]) == {"status": "pending", "reasons": [REPLAYED]}


def test_a_refused_comment_does_not_spend_its_solution(
    pow_client: FlaskClient, migrated_engine: Engine
) -> None:
    fields = with_pow(pow_client, **comment_fields(email="not an address"))

    refused = pow_client.post(f"/api/posts/{SLUG}/comments", json=fields)
    created = post(pow_client, fields | {"email": "dana@example.com"})

    assert refused.status_code == 422
    assert signals(pow_client, created["id"]) == {"status": "approved", "reasons": []}
    assert spent_count(migrated_engine) == 1


def test_the_form_without_script_cannot_solve_and_is_held_not_refused(
    pow_client: FlaskClient,
) -> None:
    fields = with_form_token(pow_client, **comment_fields(body="No script here."))

    response = pow_client.post(
        f"/api/posts/{SLUG}/comments",
        data=urlencode(fields),
        content_type=FORM,
        headers={
            "Accept": "text/html",
            "Origin": "https://blog.example",
            "Referer": "https://blog.example/post/",
        },
    )

    assert response.status_code == 303
    assert response.headers["Location"] == "https://blog.example/post/#commentd-pending"
    [waiting] = pow_client.get("/api/moderation/comments", headers=MODERATOR).json["comments"]  # type: ignore[index]
    assert (waiting["body"], waiting["reasons"]) == ("No script here.", [MISSING])


def test_difficulty_zero_turns_the_layer_off(make_app: Callable[..., Flask]) -> None:
    client = make_app(moderation=ModerationMode.NONE, pow_max_number=0).test_client()
    answer = client.get("/api/form-token").json

    created = post(client, with_form_token(client, **comment_fields(altcha="junk")))

    assert answer is not None and answer["pow"] is None
    assert signals(client, created["id"]) == {"status": "approved", "reasons": []}


def test_an_edit_is_checked_like_a_new_comment(pow_client: FlaskClient) -> None:
    created = post(pow_client, with_pow(pow_client, **comment_fields()))
    token = created["commenter_token"]

    unsolved = pow_client.patch(
        f"/api/posts/{SLUG}/comments/{created['id']}",
        json=with_form_token(pow_client, body="Edited", commenter_token=token),
    )
    solved = pow_client.patch(
        f"/api/posts/{SLUG}/comments/{created['id']}",
        json=with_pow(pow_client, body="Edited again", commenter_token=token),
    )

    assert unsolved.status_code == 200 and solved.status_code == 200
    assert unsolved.json["status"] == "pending"  # type: ignore[index]
    assert signals(pow_client, created["id"]) == {"status": "approved", "reasons": []}


def test_spent_solutions_are_purged_once_their_challenges_expired(
    migrated_engine: Engine,
) -> None:
    now = utcnow()
    with Session(migrated_engine) as session:
        session.add_all(
            [
                SpentLink(nonce=proof.spent_key("a" * 64), spent_at=now - timedelta(hours=3)),
                SpentLink(nonce=proof.spent_key("b" * 64), spent_at=now - timedelta(minutes=5)),
                SpentLink(nonce="c" * 32, spent_at=now - timedelta(days=30)),  # an email link's
            ]
        )
        session.commit()
        assert proof.purge_spent(session, now) == 1
        session.commit()
        kept = set(session.scalars(select(SpentLink.nonce)))
    assert kept == {proof.spent_key("b" * 64), "c" * 32}


def spent_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(SpentLink)
                .where(SpentLink.nonce.startswith(proof.SPENT_PREFIX))
            )
            or 0
        )


def proof_number(given: dict[str, Any]) -> int:
    """The number behind a challenge, found the slow way."""
    for number in range(given["maxnumber"] + 1):
        if (
            proof.altcha.hash_hex("SHA-256", f"{given['salt']}{number}".encode())
            == given["challenge"]
        ):
            return number
    raise AssertionError("unsolvable")


@pytest.fixture
def app_secret(pow_client: FlaskClient) -> str:
    from commentd.web.services import of as services_of

    return services_of(pow_client.application).secret_key
