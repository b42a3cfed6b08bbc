"""COMMENTD_MODERATION=known: trust is bound to the name (and website) a commenter was approved
under, and confirming an address publishes only the comment the confirmation showed.

Same name, decided here: names that differ only in case, spacing, Unicode compatibility forms
or invisible format characters are one name (comments.same_name_key); websites that differ
only in the case of scheme and host or a trailing "/" are one website."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import EmailMessage
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from commentd.config import ModerationMode
from tests.helpers import MODERATOR, deliver, moderate, post_comment, status_of, text_of
from tests.receivers import Mailbox

AUTHOR = "author@blog.example"
# Posts as the widget sends them; no name or email unless given.
submit = partial(post_comment, widget=True, anonymous=True)
ALICE = {"name": "Alice", "email": "alice@example.com", "website": "https://alice.example"}


def confirmations(mailbox: Mailbox, address: str) -> list[EmailMessage]:
    return [m for m in mailbox.to(address) if m["Subject"].startswith("Confirm")]


@pytest.fixture
def known_app(make_app: Callable[..., Flask], mailbox: Mailbox) -> Flask:
    return make_app(smtp_url=mailbox.url, notify_email=AUTHOR, moderation=ModerationMode.KNOWN)


@pytest.fixture
def client(known_app: Flask) -> FlaskClient:
    return known_app.test_client()


@pytest.fixture
def alice_token(client: FlaskClient) -> str:
    first = submit(client, **ALICE)
    moderate(client, first["id"], "approve")
    return str(first["commenter_token"])


# --- trust binds the name and the website -------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({}, "approved"),
        ({"name": "alice"}, "approved"),
        ({"name": "  ALICE  "}, "approved"),
        ({"name": "\uff21\uff4c\uff49\uff43\uff45"}, "approved"),  # full-width: NFKC folds
        ({"website": "https://ALICE.example/"}, "approved"),
        ({"name": "Alice Smith"}, "pending"),
        ({"name": "The Blog's Author"}, "pending"),
        ({"name": "Al ice"}, "pending"),
        ({"website": "https://alice.example/shop"}, "pending"),
        ({"website": "https://casino.example"}, "pending"),
        ({"website": None}, "pending"),
    ],
    ids=[
        "same",
        "lower-case",
        "spaces-and-upper-case",
        "full-width",
        "website-host-case-and-slash",
        "longer-name",
        "another-name",
        "space-inside",
        "website-path",
        "another-website",
        "no-website",
    ],
)
def test_a_proven_commenter_is_trusted_only_under_the_name_and_website_approved(
    client: FlaskClient, alice_token: str, changes: dict[str, Any], status: str
) -> None:
    fields = ALICE | {"commenter_token": alice_token} | changes
    fields = {key: value for key, value in fields.items() if value is not None}

    posted = submit(client, body="Again", **fields)

    assert posted["status"] == status
    assert status_of(client, posted["id"]) == status


def test_a_name_approved_by_the_author_later_is_trusted_from_then_on(
    client: FlaskClient, alice_token: str
) -> None:
    renamed = submit(client, **(ALICE | {"name": "Alice S.", "commenter_token": alice_token}))
    moderate(client, renamed["id"], "approve")

    again = submit(client, **(ALICE | {"name": "alice s.", "commenter_token": alice_token}))

    assert (renamed["status"], again["status"]) == ("pending", "approved")


# --- confirming an address publishes what the confirmation showed -------------------------


def test_confirming_publishes_the_comment_shown_and_nothing_else_waiting(
    known_app: Flask, client: FlaskClient, alice_token: str, mailbox: Mailbox
) -> None:
    shown = submit(client, body="From my phone", **ALICE)  # a new device: no token
    phone = {"commenter_token": shown["commenter_token"]}
    other_post = submit(client, slug="pigeon-pose", body="On another post", **ALICE, **phone)
    deliver(known_app)
    [confirmation] = confirmations(mailbox, ALICE["email"])
    after_mail = submit(client, body="Written after the email", **ALICE, **phone)
    confirm = urlsplit(re.findall(r"^Confirm: (\S+)$", text_of(confirmation), re.M)[0]).path

    page = client.get(confirm).text
    assert client.post(confirm).status_code == 200

    assert "From my phone" in page  # the page the reader confirmed on showed this comment
    assert "On another post" not in text_of(confirmation) + page
    assert status_of(client, shown["id"]) == "approved"
    assert status_of(client, other_post["id"]) == "pending"
    assert status_of(client, after_mail["id"]) == "pending"
    # The phone is trusted from now on, under the name and website confirmed...
    assert submit(client, body="Trusted now", **ALICE, **phone)["status"] == "approved"
    # ...and not under another name or website.
    renamed = ALICE | {"name": "Site Author"}
    assert submit(client, body="Official", **renamed, **phone)["status"] == "pending"
    elsewhere = ALICE | {"website": "https://casino.example"}
    assert submit(client, body="Visit", **elsewhere, **phone)["status"] == "pending"


def test_a_new_device_under_another_name_waits_for_the_author_not_for_a_confirmation(
    known_app: Flask, client: FlaskClient, alice_token: str, mailbox: Mailbox
) -> None:
    other_name = submit(client, body="As someone else", **(ALICE | {"name": "Site Author"}))
    deliver(known_app)

    assert other_name["status"] == "pending"
    assert confirmations(mailbox, ALICE["email"]) == []
    assert any("As someone else" in text_of(m) for m in mailbox.to(AUTHOR))


def test_a_new_device_under_the_same_name_in_other_case_is_asked_to_confirm(
    known_app: Flask, client: FlaskClient, alice_token: str, mailbox: Mailbox
) -> None:
    same = submit(client, body="Lower case today", **(ALICE | {"name": " alice "}))
    deliver(known_app)

    [confirmation] = confirmations(mailbox, ALICE["email"])
    confirm = urlsplit(re.findall(r"^Confirm: (\S+)$", text_of(confirmation), re.M)[0]).path
    assert same["status"] == "pending" and "Lower case today" in client.get(confirm).text


def test_known_mode_chosen_in_the_console_trusts_and_confirms_as_the_environments_does(
    make_app: Callable[..., Flask], mailbox: Mailbox
) -> None:
    """COMMENTD_MODERATION=all, then the author picks "known" through the rules: a proven
    commenter is published at once, and a known address on a new device is asked to confirm
    (the notifier reads the mode from the stored rules too)."""
    app = make_app(smtp_url=mailbox.url, notify_email=AUTHOR, moderation=ModerationMode.ALL)
    client = app.test_client()
    first = submit(client, **ALICE)
    moderate(client, first["id"], "approve")
    before = submit(client, **(ALICE | {"commenter_token": first["commenter_token"]}))
    changed = client.put(
        "/api/moderation/settings", json={"moderation": "known"}, headers=MODERATOR
    )

    proven = submit(client, **(ALICE | {"commenter_token": first["commenter_token"]}))
    new_device = submit(client, body="From my phone", **ALICE)
    deliver(app)

    assert changed.status_code == 200
    assert (before["status"], proven["status"]) == ("pending", "approved")
    assert new_device["status"] == "pending"
    assert len(confirmations(mailbox, ALICE["email"])) == 1
