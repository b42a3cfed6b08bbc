"""Reply notices only to addresses whose owner confirmed them (issue 12): with
COMMENTD_MODERATION=none nobody can make the blog mail a stranger a text of their choice.
Through the app's HTTP interface with a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from commentd.config import ModerationMode
from commentd.models import utcnow
from commentd.notify import notifier
from tests.helpers import deliver, link, post_comment, sent_to, text_of
from tests.receivers import Mailbox

STRANGER = "stranger@example.com"
ATTACK = "Your account is locked: call +1 555 0100 now"


@pytest.fixture
def open_app(make_app: Callable[..., Flask], mailbox: Mailbox) -> Flask:
    """Every comment published at once (COMMENTD_MODERATION=none), mail on."""
    return make_app(
        smtp_url=mailbox.url,
        moderation=ModerationMode.NONE,
        post_url="https://blog.example/{slug}/",
        confirm_email_minutes=60,
    )


def send(client: FlaskClient, slug: str = "gluteus-medius", **fields: Any) -> dict[str, Any]:
    """A post as the widget makes it (with a form token): published at once."""
    posted = post_comment(client, slug, widget=True, **fields)
    assert posted["status"] == "approved"
    return posted


def everything_sent_to(mailbox: Mailbox, address: str) -> str:
    """The headers a reader reads and every decoded part of the messages to `address`: not
    the MIME boundaries, Message-ID and link tokens, which are random and may spell anything."""
    seen: list[str] = []
    for message in sent_to(mailbox, address):
        seen += [f"{name}: {message[name]}" for name in ("From", "Reply-To", "Subject")]
        seen += [str(part.get_content()) for part in message.walk() if not part.is_multipart()]
    return re.sub(r"https?://\S+", "<link>", "\n".join(seen))


def confirmations(mailbox: Mailbox, address: str) -> list[EmailMessage]:
    return [m for m in sent_to(mailbox, address) if m["Subject"].startswith("Confirm reply")]


def notices(mailbox: Mailbox, address: str) -> list[EmailMessage]:
    return [m for m in sent_to(mailbox, address) if "replied to you" in m["Subject"]]


def test_a_stranger_whose_address_was_typed_never_receives_a_reply_text(
    open_app: Flask, mailbox: Mailbox
) -> None:
    client = open_app.test_client()
    # Posing as the stranger, asking for notices; then "replying" with the text to deliver.
    bait = send(client, "call-555-0100-now", name="Support", email=STRANGER, notify=True)
    send(
        client,
        "call-555-0100-now",
        name=ATTACK,
        email="attacker@example.com",
        body=ATTACK,
        parent_id=bait["id"],
    )
    # Again, from a fresh browser, and again with the token the first post handed out.
    again = send(client, name="Support", email=STRANGER, notify=True, body="again")
    send(client, email="attacker@example.com", body=ATTACK + "!", parent_id=again["id"])
    with_token = send(
        client,
        email=STRANGER,
        notify=True,
        body="with the token",
        commenter_token=bait["commenter_token"],
    )
    send(client, email="attacker@example.com", body=ATTACK + "!!", parent_id=with_token["id"])

    deliver(open_app)

    assert notices(mailbox, STRANGER) == []
    [confirmation] = sent_to(mailbox, STRANGER)  # one mail, of fixed text, however often asked
    assert confirmation["Subject"] == "Confirm reply notices from blog.example"
    sent = everything_sent_to(mailbox, STRANGER)
    for chosen in ("call", "555", "Support", "locked", "attacker", "gluteus"):
        assert chosen not in sent
    assert "Confirm: https://comments.example/email/notices/" in text_of(confirmation)


def test_after_confirming_the_owner_gets_notices_and_their_token_needs_no_new_confirmation(
    open_app: Flask, mailbox: Mailbox
) -> None:
    client = open_app.test_client()
    first = send(client, name="Dana", email="dana@example.com", notify=True)
    deliver(open_app)
    [confirmation] = confirmations(mailbox, "dana@example.com")
    confirm = link(confirmation, "Confirm")

    shown = client.get(confirm)
    assert "Yes, send me reply notices</button>" in shown.text
    assert "Pigeon pose!" in shown.text  # the page shows the comment, so its owner knows it
    assert client.head(confirm).status_code == 200  # a mail scanner's HEAD...
    send(client, email="ben@example.com", body="Before confirming", parent_id=first["id"])
    deliver(open_app)
    assert notices(mailbox, "dana@example.com") == []  # ...confirmed nothing

    assert client.post(confirm).status_code == 200
    send(client, name="Ben", email="ben@example.com", body="Nice one", parent_id=first["id"])
    # Her browser's token now proves the address: a later comment asks no confirmation.
    later = send(
        client,
        email="Dana@Example.com",
        notify=True,
        body="Another thought",
        commenter_token=first["commenter_token"],
    )
    send(client, name="Cy", email="cy@example.com", body="Indeed", parent_id=later["id"])
    deliver(open_app)

    assert [text_of(m).splitlines()[2] for m in notices(mailbox, "dana@example.com")] == [
        "Nice one",
        "Indeed",
    ]
    assert len(confirmations(mailbox, "dana@example.com")) == 1
    assert client.post(confirm).status_code == 409  # a link works once


def test_a_confirmed_address_typed_from_another_browser_gets_nothing_from_that_browser(
    open_app: Flask, mailbox: Mailbox
) -> None:
    client = open_app.test_client()
    owner = send(client, email="dana@example.com", notify=True)
    deliver(open_app)
    assert client.post(link(confirmations(mailbox, "dana@example.com")[0], "Confirm")).status_code
    # Someone else types her (confirmed) address, with no token or a token of their own.
    impostor = send(client, email="dana@example.com", notify=True, body="Not Dana")
    send(client, email="ben@example.com", body=ATTACK, parent_id=impostor["id"])
    send(client, email="ben@example.com", body="For the owner", parent_id=owner["id"])
    deliver(open_app)

    assert [text_of(m).splitlines()[2] for m in notices(mailbox, "dana@example.com")] == [
        "For the owner"
    ]
    assert ATTACK not in everything_sent_to(mailbox, "dana@example.com")


def test_an_unconfirmed_address_gets_at_most_one_confirmation_per_period(
    open_app: Flask, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = open_app.test_client()
    for number in range(4):
        send(client, email=STRANGER, notify=True, body=f"Asking {number}")
    deliver(open_app)
    assert len(sent_to(mailbox, STRANGER)) == 1

    # A period later, one more may go (as the reminder a reply to an old request causes too).
    later = utcnow() + timedelta(minutes=61)
    monkeypatch.setattr(notifier, "utcnow", lambda: later)
    for number in range(3):
        send(client, email=STRANGER, notify=True, body=f"Asking later {number}")
    deliver(open_app)

    assert len(sent_to(mailbox, STRANGER)) == 2
    assert notices(mailbox, STRANGER) == []


def test_confirming_a_known_address_in_known_mode_proves_it_for_reply_notices(
    make_app: Callable[..., Flask], mailbox: Mailbox
) -> None:
    app = make_app(smtp_url=mailbox.url, moderation=ModerationMode.KNOWN)
    client = app.test_client()
    first = post_comment(client, widget=True, email="dana@example.com")
    client.post(
        f"/api/moderation/comments/{first['id']}/approve",
        headers={"Authorization": "Bearer test-admin-token-0123456789"},
    )
    # A new browser: one email, the known-mode confirmation, stands for both questions.
    phone = post_comment(client, widget=True, email="dana@example.com", notify=True)
    deliver(app)
    [confirmation] = sent_to(mailbox, "dana@example.com")
    assert confirmation["Subject"].startswith("Confirm your comment")
    assert client.post(link(confirmation, "Confirm")).status_code == 200

    reply = post_comment(client, widget=True, email="ben@example.com", parent_id=phone["id"])
    client.post(
        f"/api/moderation/comments/{reply['id']}/approve",
        headers={"Authorization": "Bearer test-admin-token-0123456789"},
    )
    deliver(app)

    assert len(notices(mailbox, "dana@example.com")) == 1
    assert len(sent_to(mailbox, "dana@example.com")) == 2


def test_a_comment_held_by_spam_signals_asks_confirmation_only_once_a_reply_is_published(
    open_app: Flask, mailbox: Mailbox
) -> None:
    client = open_app.test_client()
    # No form token: a bot's way of posting; held, and no mail to the address it typed.
    held = post_comment(client, email=STRANGER, notify=True)
    deliver(open_app)
    assert held["status"] == "pending"
    assert sent_to(mailbox, STRANGER) == []

    approved = client.post(
        f"/api/moderation/comments/{held['id']}/approve",
        headers={"Authorization": "Bearer test-admin-token-0123456789"},
    )
    send(client, email="ben@example.com", body=ATTACK, parent_id=held["id"])
    deliver(open_app)

    assert approved.status_code == 200
    [confirmation] = sent_to(mailbox, STRANGER)  # the question, never the reply's text
    assert confirmation["Subject"].startswith("Confirm reply notices")
    assert ATTACK not in confirmation.as_string()
