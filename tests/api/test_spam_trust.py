"""COMMENTD_MODERATION=known trusts proof (the commenter_token), never a typed email string."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from commentd.config import ModerationMode
from commentd.models import Comment, Commenter
from tests.helpers import MODERATOR, post_comment

# Posts as the widget sends them (with a fresh form token).
submit = partial(post_comment, widget=True)


ALICE = {"name": "Alice", "email": "alice@example.com", "website": "https://alice.example"}


@pytest.fixture
def known_client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(moderation=ModerationMode.KNOWN).test_client()


@pytest.fixture
def alice_token(known_client: FlaskClient) -> str:
    """Alice commented once, the author approved it, and her browser kept the token."""
    first = submit(known_client, body="Pigeon pose helped.", notify=True, **ALICE)
    approved = known_client.post(
        f"/api/moderation/comments/{first['id']}/approve", headers=MODERATOR
    )
    assert approved.status_code == 200
    return str(first["commenter_token"])


def stored_for(session: Session, email: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything kept about an address's identities and comments, to compare before/after."""
    session.expire_all()
    commenters = session.execute(
        select(Commenter.id, Commenter.email, Commenter.token_hash, Commenter.created_at)
        .where(Commenter.email == email)
        .order_by(Commenter.id)
    ).all()
    comments = session.execute(
        select(Comment.id, Comment.commenter_id, Comment.name, Comment.website, Comment.notify)
        .join(Commenter, Commenter.id == Comment.commenter_id)
        .where(Commenter.email == email)
        .order_by(Comment.id)
    ).all()
    session.rollback()
    return {"identities": [tuple(r) for r in commenters], "comments": [tuple(r) for r in comments]}


def test_her_token_makes_a_returning_commenter_trusted(
    known_client: FlaskClient, alice_token: str
) -> None:
    again = submit(known_client, body="Clamshells too!", commenter_token=alice_token, **ALICE)

    assert again["status"] == "approved"
    assert again["commenter_token"] == alice_token


@pytest.mark.parametrize(
    "token",
    [None, "forged-token-0123456789", "x" * 600, 12345],
    ids=["no-token", "forged", "too-long", "not-a-string"],
)
def test_typing_her_email_gains_no_trust_and_changes_nothing_stored_for_her(
    known_client: FlaskClient, alice_token: str, db_session: Session, token: object
) -> None:
    before = stored_for(db_session, "alice@example.com")
    fields: dict[str, Any] = {"name": "Mallory", "email": "ALICE@example.com", "notify": False}
    if token is not None:
        fields["commenter_token"] = token

    impostor = submit(known_client, body="Buy my course", **fields)

    assert impostor["status"] == "pending"
    assert impostor["commenter_token"] != alice_token
    after = stored_for(db_session, "alice@example.com")
    # Her identity and her comment are exactly as before; the impostor got an identity of his own.
    [alice] = before["identities"]
    assert after["identities"][0] == alice and len(after["identities"]) == 2
    assert after["comments"][0] == before["comments"][0]
    impostor_commenter = after["comments"][1][1]
    assert impostor_commenter == after["identities"][1][0] != alice[0]


def test_her_token_with_another_email_proves_nothing(
    known_client: FlaskClient, alice_token: str
) -> None:
    stolen = submit(
        known_client,
        body="Hello",
        name="Mallory",
        email="mallory@example.com",
        commenter_token=alice_token,
    )

    assert stolen["status"] == "pending"
    assert stolen["commenter_token"] != alice_token
