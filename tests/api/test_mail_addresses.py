"""Mail reaches its reader (issue 12): internationalised addresses through relays with and
without SMTPUTF8, and failures no retry can fix given up at once, visibly, through the app with
a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from commentd.config import ModerationMode
from tests.helpers import MODERATOR, deliver, link, outbox_view, post_comment
from tests.receivers import Mailbox

AUTHOR = "author@blog.example"


@pytest.fixture
def plain_relay() -> Iterator[Mailbox]:
    """A relay like most: no SMTPUTF8; it refuses two recipients, for good and for now."""
    box = Mailbox(
        refuse={
            "gone@example.com": "550 5.1.1 <gone@example.com>: Recipient address rejected",
            "busy@example.com": "450 4.2.1 <busy@example.com>: Mailbox busy, try later",
        },
    ).start()
    yield box
    box.stop()


@pytest.fixture
def utf8_relay() -> Iterator[Mailbox]:
    box = Mailbox(smtputf8=True).start()
    yield box
    box.stop()


def mail_app(make_app: Callable[..., Flask], relay: Mailbox, **overrides: Any) -> Flask:
    settings: dict[str, Any] = {
        "smtp_url": relay.url,
        "notify_email": AUTHOR,
        "moderation": ModerationMode.NONE,
        "delivery_timeout": 5,
        "retry_seconds": 30,
    }
    return make_app(**(settings | overrides))


def service_log(caplog: pytest.LogCaptureFixture) -> str:
    """What commentd logged (the test SMTP server's own log is not commentd's)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("commentd"))


def subscribe_and_confirm(client: FlaskClient, app: Flask, relay: Mailbox, email: str) -> int:
    """A comment asking reply notices under `email`, confirmed from the mailbox it reached."""
    comment = post_comment(client, widget=True, name="Dana", email=email, notify=True)
    deliver(app)
    [confirmation] = [m for m in relay.messages if m["Subject"].startswith("Confirm reply")]
    assert client.post(link(confirmation, "Confirm")).status_code == 200
    return int(comment["id"])


def reply_to(client: FlaskClient, parent: int, body: str = "Agreed!") -> None:
    post_comment(
        client, widget=True, name="Ben", email="ben@example.com", body=body, parent_id=parent
    )


# --- a Unicode domain needs no SMTPUTF8 ------------------------------------------------------


def test_a_unicode_domain_is_mailed_as_idna_by_a_relay_without_smtputf8(
    make_app: Callable[..., Flask], plain_relay: Mailbox
) -> None:
    app = mail_app(make_app, plain_relay)
    client = app.test_client()

    parent = subscribe_and_confirm(client, app, plain_relay, "dana@bücher.example")
    reply_to(client, parent, "Danke!")
    deliver(app)

    to_dana = plain_relay.delivered_to("dana@xn--bcher-kva.example")
    assert [m["Subject"].split(" ")[0] for m in to_dana] == ["Confirm", "Ben"]
    assert "Danke!" in to_dana[1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for message in to_dana:
        assert message["To"] == "dana@xn--bcher-kva.example"
    # Nothing needed SMTPUTF8, and nothing is left failing.
    assert all("SMTPUTF8" not in options for _, _, options in plain_relay.envelopes)
    assert outbox_view(client)["counts"]["failed"] == 0


def test_the_authors_unicode_addresses_are_sent_as_idna_too(
    make_app: Callable[..., Flask], plain_relay: Mailbox
) -> None:
    app = mail_app(
        make_app,
        plain_relay,
        moderation=ModerationMode.ALL,
        notify_email="Autorin@Bücher.example",
        mail_from="Kommentare <kommentare@straße.example>",
    )
    client = app.test_client()
    post_comment(client, name="Zoë")

    deliver(app)

    [(sender, recipients, _)] = plain_relay.envelopes
    [notice] = plain_relay.messages
    assert sender == "kommentare@xn--strae-oqa.example"
    assert recipients == ["Autorin@xn--bcher-kva.example"]
    assert notice["To"] == "Autorin@xn--bcher-kva.example"
    assert notice["From"] == "Kommentare <kommentare@xn--strae-oqa.example>"
    assert notice["Message-ID"].endswith("@xn--strae-oqa.example>")


def test_a_unicode_local_part_goes_through_a_relay_that_offers_smtputf8(
    make_app: Callable[..., Flask], utf8_relay: Mailbox
) -> None:
    app = mail_app(make_app, utf8_relay)
    client = app.test_client()

    subscribe_and_confirm(client, app, utf8_relay, "dänä@bücher.example")

    [(_, recipients, options)] = utf8_relay.envelopes
    assert recipients == ["dänä@xn--bcher-kva.example"]
    assert "SMTPUTF8" in options


# --- what no retry can fix is given up at once, and said ------------------------------------


def test_a_unicode_local_part_without_smtputf8_fails_at_once_and_says_why(
    make_app: Callable[..., Flask], plain_relay: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    app = mail_app(make_app, plain_relay)
    client = app.test_client()
    post_comment(client, widget=True, email="dänä@bücher.example", notify=True)
    post_comment(client, widget=True, email="ann@example.com", notify=True)

    with caplog.at_level(logging.INFO):
        attempted = deliver(app)
    later = deliver(app, later=timedelta(days=2))  # never tried again

    view = outbox_view(client)
    [failed] = view["failing"]
    assert (attempted, later) == (2, 0)
    assert (failed["state"], failed["attempts"], failed["permanent"]) == ("failed", 1, True)
    assert "SMTPUTF8" in failed["last_error"] and "non-ASCII local part" in failed["last_error"]
    assert failed["next_attempt_at"] is None
    # The same batch's other mail went: one address's fault does not rest the server.
    assert len(plain_relay.delivered_to("ann@example.com")) == 1
    logged = service_log(caplog)
    assert "cannot be delivered" in logged
    assert "dänä" not in str(view) and "dänä" not in logged
    assert "xn--bcher-kva" not in str(view) and "xn--bcher-kva" not in logged


def test_a_recipient_refused_for_good_is_given_up_but_one_refused_for_now_is_retried(
    make_app: Callable[..., Flask], plain_relay: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    app = mail_app(make_app, plain_relay)
    client = app.test_client()
    post_comment(client, widget=True, email="gone@example.com", notify=True)
    post_comment(client, widget=True, email="busy@example.com", notify=True)
    post_comment(client, widget=True, email="ann@example.com", notify=True)

    with caplog.at_level(logging.INFO):
        deliver(app)
    first = outbox_view(client)
    # The server answered: a refused recipient is no reason to hold the batch's other smtp.
    assert len(plain_relay.delivered_to("ann@example.com")) == 1
    deliver(app, later=timedelta(seconds=31))
    second = outbox_view(client)

    by_state = {event["state"]: event for event in first["failing"]}
    gone, busy = by_state["failed"], by_state["pending"]
    assert (gone["attempts"], gone["permanent"]) == (1, True)
    assert gone["last_error"].startswith("permanent: Undeliverable: the mail server refused the")
    assert "550 5.1.1" in gone["last_error"]
    assert (busy["attempts"], busy["permanent"]) == (1, False)
    assert "450" in busy["last_error"] and busy["next_attempt_at"] is not None
    assert {e["state"]: e["attempts"] for e in second["failing"]} == {"failed": 1, "pending": 2}
    # The refused addresses are personal data: not in the view, not in the log.
    for text in (str(first), str(second), service_log(caplog)):
        assert "gone@example.com" not in text and "busy@example.com" not in text


def test_a_permanent_failure_can_still_be_retried_by_the_author(
    make_app: Callable[..., Flask], plain_relay: Mailbox, utf8_relay: Mailbox
) -> None:
    app = mail_app(make_app, plain_relay)
    client = app.test_client()
    post_comment(client, widget=True, email="dänä@bücher.example", notify=True)
    deliver(app)
    assert outbox_view(client)["counts"]["failed"] == 1

    # The author moves to a relay that offers SMTPUTF8, then asks for a retry.
    fixed = mail_app(make_app, utf8_relay)
    retried = fixed.test_client().post("/api/moderation/outbox/retry", headers=MODERATOR)
    deliver(fixed)

    assert retried.json == {"retried": 1}
    assert len(utf8_relay.delivered_to("dänä@xn--bcher-kva.example")) == 1


# --- the rules themselves --------------------------------------------------------------------
