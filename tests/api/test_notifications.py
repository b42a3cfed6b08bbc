"""Author notices, one-click moderation, reply notices, known-address confirmation and webhooks,
through the app with a real SMTP server (aiosmtpd) and a real HTTP receiver on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from commentd.config import ModerationMode
from commentd.notify import webhooks
from tests.helpers import (
    MODERATOR,
    comment_fields,
    deliver,
    html_of,
    link,
    moderate,
    port_of,
    post_comment,
    refusing_socket,
    status_of,
    text_of,
    with_form_token,
)
from tests.receivers import Mailbox, WebhookReceiver

AUTHOR = "author@blog.example"
WEBHOOK_SECRET = "whsec-0123456789"


@pytest.fixture
def notify_app(
    make_app: Callable[..., Flask], mailbox: Mailbox, receiver: WebhookReceiver
) -> Flask:
    return make_app(
        smtp_url=mailbox.url,
        notify_email=AUTHOR,
        webhook_urls=(receiver.url,),
        webhook_secret=WEBHOOK_SECRET,
        delivery_timeout=5,
        post_url="https://blog.example/{slug}/",
    )


@pytest.fixture
def client(notify_app: Flask) -> FlaskClient:
    return notify_app.test_client()


def public_ids(client: FlaskClient, slug: str = "gluteus-medius") -> list[int]:
    response = client.get(f"/api/posts/{slug}/comments")
    assert response.json is not None
    return [c["id"] for c in response.json["comments"]]


# --- the author's notice and its links ----------------------------------------------------


def test_a_waiting_comment_mails_the_author_everything_needed_to_decide(
    client: FlaskClient, notify_app: Flask, mailbox: Mailbox
) -> None:
    posted = post_comment(
        client,
        name="Dana <b>",
        email="Dana@Example.com",
        website="https://dana.example",
        body="Nice post <script>alert(1)</script> & thanks",
    )

    assert mailbox.messages == []  # nothing is sent while the reader waits for the 201
    deliver(notify_app)

    [notice] = mailbox.to(AUTHOR)
    assert notice["From"] == "commentd@comments.example"
    assert notice["Subject"] == "New comment waits: Dana <b> on gluteus-medius"
    text = text_of(notice)
    for expected in (
        "Post:    gluteus-medius (https://blog.example/gluteus-medius/)",
        "Name:    Dana <b>",
        "Email:   Dana@example.com",
        "Website: https://dana.example",
        "Status:  pending",
        "Spam signals: score 0.50; no form token (not sent from the comment form)",
        "Nice post <script>alert(1)</script> & thanks",
    ):
        assert expected in text
    for label in ("Approve", "Reject", "Spam"):
        assert link(notice, label).startswith("/email/moderate/")
    html = html_of(notice)
    assert "Nice post &lt;script&gt;alert(1)&lt;/script&gt; &amp; thanks" in html
    assert "<script>" not in html and "Dana &lt;b&gt;" in html
    assert posted["status"] == "pending"


def test_the_approve_link_shows_a_confirm_page_and_only_its_post_publishes(
    client: FlaskClient, notify_app: Flask, mailbox: Mailbox
) -> None:
    comment_id = post_comment(client)["id"]
    deliver(notify_app)
    approve = link(mailbox.to(AUTHOR)[0], "Approve")

    page = client.get(approve)
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert '<form method="post"' in page.text and "Approve</button>" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert status_of(client, comment_id) == "pending"  # a mail scanner's GET did nothing

    done = client.post(approve)

    assert done.status_code == 200
    assert "The comment is now public." in done.text
    assert public_ids(client) == [comment_id]
    history = client.get(f"/api/moderation/comments/{comment_id}/history", headers=MODERATOR)
    assert [(e["action"], e["actor"]) for e in (history.json or {})["events"]] == [
        ("submitted", "rules"),
        ("approved", "email link"),
    ]


def test_a_second_use_of_a_notice_link_does_nothing_and_says_so(
    client: FlaskClient, notify_app: Flask, mailbox: Mailbox
) -> None:
    comment_id = post_comment(client)["id"]
    deliver(notify_app)
    notice = mailbox.to(AUTHOR)[0]
    assert client.post(link(notice, "Approve")).status_code == 200
    moderate(client, comment_id, "reject")  # the author changed their mind in the queue

    again = client.post(link(notice, "Approve"))
    other = client.post(link(notice, "Spam"))  # the notice's links are spent together

    assert again.status_code == 409
    assert "already used; nothing was changed. The comment is now rejected." in again.text
    assert other.status_code == 409
    assert status_of(client, comment_id) == "rejected"
    assert client.get(link(notice, "Reject")).status_code == 409  # no button any more


def test_a_forged_link_is_refused_as_json_when_json_is_asked(
    client: FlaskClient, notify_app: Flask, mailbox: Mailbox
) -> None:
    comment_id = post_comment(client)["id"]
    deliver(notify_app)
    approve = link(mailbox.to(AUTHOR)[0], "Approve")
    forged = approve[:-3] + ("AAA" if not approve.endswith("AAA") else "BBB")

    as_page = client.post(forged)
    as_json = client.post(forged, headers={"Accept": "application/json"})

    assert as_page.status_code == 404 and as_page.mimetype == "text/html"
    assert as_json.status_code == 404
    assert as_json.json == {"error": "link_invalid", "message": "This link is not valid."}
    assert status_of(client, comment_id) == "pending"


def test_comments_approved_at_once_are_notified_only_when_asked(
    make_app: Callable[..., Flask], mailbox: Mailbox
) -> None:
    quiet = make_app(smtp_url=mailbox.url, notify_email=AUTHOR, moderation=ModerationMode.NONE)
    told = make_app(
        smtp_url=mailbox.url,
        notify_email=AUTHOR,
        moderation=ModerationMode.NONE,
        notify_approved=True,
    )
    for app in (quiet, told):
        client = app.test_client()
        assert post_comment(client, widget=True)["status"] == "approved"
        deliver(app)

    [notice] = mailbox.to(AUTHOR)
    assert notice["Subject"] == "New comment published: Dana on gluteus-medius"
    assert "Status:  approved" in text_of(notice)


def test_digest_mode_sends_one_email_per_period_with_every_waiting_comment(
    make_app: Callable[..., Flask], mailbox: Mailbox
) -> None:
    app = make_app(smtp_url=mailbox.url, notify_email=AUTHOR, notify_digest_minutes=10)
    client = app.test_client()
    first = post_comment(client, name="Ann")["id"]
    second = post_comment(client, name="Ben")["id"]

    assert deliver(app) == 0  # the period is not over yet
    deliver(app, later=timedelta(minutes=11))

    [digest] = mailbox.to(AUTHOR)
    assert digest["Subject"] == "2 new comments to look at"
    text = text_of(digest)
    assert "Name:    Ann" in text and "Name:    Ben" in text
    approves = re.findall(r"^Approve: (\S+)$", text, re.MULTILINE)
    assert len(approves) == 2
    assert client.post(urlsplit(approves[1]).path).status_code == 200
    assert public_ids(client) == [second]
    assert status_of(client, first) == "pending"


# --- reply notices -------------------------------------------------------------------------


def subscribed_comment(
    client: FlaskClient, app: Flask, mailbox: Mailbox, email: str = "reader@example.com"
) -> int:
    """A reader's approved comment asking for reply notices, its address confirmed."""
    fields = with_form_token(client, name="Reader", email=email, notify=True)
    comment_id = int(post_comment(client, **fields)["id"])
    moderate(client, comment_id, "approve")
    deliver(app)
    [confirmation] = [m for m in mailbox.messages if m["Subject"].startswith("Confirm reply")]
    assert client.post(link(confirmation, "Confirm")).status_code == 200
    return comment_id


def reply_notices(mailbox: Mailbox, address: str) -> list[EmailMessage]:
    return [m for m in mailbox.to(address) if "replied to you" in m["Subject"]]


def test_an_approved_reply_reaches_the_subscribed_reader_with_one_click_unsubscribe(
    client: FlaskClient, notify_app: Flask, mailbox: Mailbox
) -> None:
    parent = subscribed_comment(client, notify_app, mailbox)
    reply = post_comment(
        client, name="Author", email="me@blog.example", body="Glad it helped!", parent_id=parent
    )["id"]
    deliver(notify_app)
    assert reply_notices(mailbox, "reader@example.com") == []  # the reply waits: no notice yet

    moderate(client, reply, "approve")
    deliver(notify_app)

    [notice] = reply_notices(mailbox, "reader@example.com")
    assert notice["Subject"] == "Author replied to you on gluteus-medius"
    assert "Glad it helped!" in text_of(notice)
    unsubscribe = link(notice, "Unsubscribe")
    # (a long value is folded onto a continuation line, which the parser keeps a space of)
    assert notice["List-Unsubscribe"].strip() == f"<https://comments.example{unsubscribe}>"
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "me@blog.example" not in notice.as_string()  # the replier's address stays private


def test_unsubscribe_stops_the_next_reply_notice(
    client: FlaskClient, notify_app: Flask, mailbox: Mailbox
) -> None:
    parent = subscribed_comment(client, notify_app, mailbox)
    first = post_comment(client, name="Ann", email="ann@example.com", parent_id=parent)["id"]
    moderate(client, first, "approve")
    deliver(notify_app)
    unsubscribe = link(reply_notices(mailbox, "reader@example.com")[0], "Unsubscribe")

    assert "Unsubscribe</button>" in client.get(unsubscribe).text  # GET alone changes nothing
    second = post_comment(client, name="Ben", email="ben@example.com", parent_id=parent)["id"]
    moderate(client, second, "approve")  # queued while still subscribed
    one_click = client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    third = post_comment(client, name="Cy", email="cy@example.com", parent_id=parent)["id"]
    moderate(client, third, "approve")
    deliver(notify_app)

    assert one_click.status_code == 200
    assert "no more reply notices" in one_click.text
    assert len(reply_notices(mailbox, "reader@example.com")) == 1


def test_nobody_is_notified_of_their_own_reply(
    client: FlaskClient, notify_app: Flask, mailbox: Mailbox
) -> None:
    parent = subscribed_comment(client, notify_app, mailbox, email="Reader@Example.com")
    reply = post_comment(client, name="Reader", email="reader@example.com", parent_id=parent)["id"]

    moderate(client, reply, "approve")
    deliver(notify_app)

    assert [m["To"] for m in mailbox.messages] == [AUTHOR, "Reader@example.com", AUTHOR]


# --- webhooks --------------------------------------------------------------------------------


def test_webhooks_arrive_signed_for_created_approved_and_deleted_without_any_email(
    client: FlaskClient, notify_app: Flask, receiver: WebhookReceiver
) -> None:
    comment_id = post_comment(client, email="dana@example.com", website="https://dana.example")[
        "id"
    ]
    moderate(client, comment_id, "approve")
    assert (
        client.delete(f"/api/moderation/comments/{comment_id}", headers=MODERATOR).status_code
        == 204
    )

    deliver(notify_app)

    assert [p["event"] for p in receiver.payloads()] == [
        "comment.created",
        "comment.approved",
        "comment.deleted",
    ]
    for path, headers, body in receiver.requests:
        expected = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert path == "/hook"
        assert headers["Content-Type"] == "application/json"
        assert hmac.compare_digest(headers["X-Commentd-Signature"], f"sha256={expected}")
        assert b"@" not in body  # no email address, in any form
    first = receiver.payloads()[0]
    assert first == {
        "event": "comment.created",
        "comment": {
            "id": comment_id,
            "parent_id": None,
            "author": {
                "name": "Dana",
                "website": "https://dana.example",
                "avatar": first["comment"]["author"]["avatar"],
                "is_owner": False,
            },
            "body_html": "<p>Pigeon pose!</p>",
            "created_at": first["comment"]["created_at"],
            "pinned": False,
        },
        "slug": "gluteus-medius",
    }


def test_a_failing_webhook_is_retried_with_back_off_and_shown_to_the_author(
    client: FlaskClient, notify_app: Flask, receiver: WebhookReceiver
) -> None:
    receiver.statuses = [500, 503]
    post_comment(client)

    deliver(notify_app)  # first attempt: 500 (the author notice goes out meanwhile)
    deliver(notify_app)  # not due again yet
    failing = client.get("/api/moderation/outbox", headers=MODERATOR).json
    deliver(notify_app, later=timedelta(seconds=31))  # second attempt: 503
    deliver(notify_app, later=timedelta(seconds=61))  # first delay doubled: not yet due
    assert len(receiver.requests) == 2
    deliver(notify_app, later=timedelta(seconds=91))  # third attempt: accepted
    healthy = client.get("/api/moderation/outbox", headers=MODERATOR).json

    assert failing is not None and healthy is not None
    assert failing["counts"] == {"pending": 1, "sent": 1, "skipped": 0, "failed": 0}
    [event] = failing["failing"]
    shown = webhooks.target(receiver.url, WEBHOOK_SECRET)  # the hook's URL is not shown
    assert shown.startswith(f"http://127.0.0.1:{receiver.port}/… #")
    assert event | {"id": 0, "next_attempt_at": "", "created_at": ""} == {
        "id": 0,
        "kind": "webhook",
        "state": "pending",
        "attempts": 1,
        "permanent": False,
        "last_error": f"WebhookFailed: {shown} answered 500",
        "target": shown,
        "next_attempt_at": "",
        "created_at": "",
    }
    assert len(receiver.requests) == 3
    assert {body for _, _, body in receiver.requests} == {receiver.requests[0][2]}
    assert {h["X-Commentd-Delivery"] for _, h, _ in receiver.requests} == {str(event["id"])}
    assert healthy == {
        "counts": {"pending": 0, "sent": 2, "skipped": 0, "failed": 0},
        "oldest_pending_at": None,
        "failing": [],
    }


def test_the_outbox_view_needs_a_moderation_token(client: FlaskClient) -> None:
    response = client.get("/api/moderation/outbox")

    assert response.status_code == 401
    assert response.json is not None and response.json["error"] == "unauthorized"


# --- known mode: confirming an address from a new device (issue 4) --------------------------


@pytest.fixture
def known_app(make_app: Callable[..., Flask], mailbox: Mailbox) -> Flask:
    return make_app(smtp_url=mailbox.url, notify_email=AUTHOR, moderation=ModerationMode.KNOWN)


def known_commenter(client: FlaskClient) -> str:
    """Dana, with one approved comment; returns the commenter_token of her first browser."""
    first = post_comment(client, widget=True)
    moderate(client, first["id"], "approve")
    return str(first["commenter_token"])


def test_a_known_address_on_a_new_device_confirms_once_and_that_browser_is_trusted(
    known_app: Flask, mailbox: Mailbox
) -> None:
    client = known_app.test_client()
    known_commenter(client)
    new_device = post_comment(client, widget=True, body="From my phone")
    again = post_comment(
        client,
        **with_form_token(
            client, body="Still my phone", commenter_token=new_device["commenter_token"]
        ),
    )
    deliver(known_app)

    [confirmation] = mailbox.to("dana@example.com")  # one per address and window
    assert confirmation["Subject"] == "Confirm your comment on comments.example"
    # Fixed text: whoever typed the address wrote none of it (the page shows the comment).
    assert "From my phone" not in confirmation.as_string()
    assert "gluteus-medius" not in confirmation.as_string()
    confirm = link(confirmation, "Confirm")
    assert "Yes, I wrote it</button>" in client.get(confirm).text
    assert "From my phone" in client.get(confirm).text
    assert status_of(client, new_device["id"]) == "pending"

    assert client.post(confirm).status_code == 200
    later = post_comment(
        client,
        **with_form_token(
            client, body="Trusted now", commenter_token=new_device["commenter_token"]
        ),
    )

    assert (new_device["status"], again["status"]) == ("pending", "pending")
    assert status_of(client, new_device["id"]) == "approved"
    # The email showed one comment: the other one waiting from that browser was never shown to
    # the address's owner, so it still waits for the author.
    assert status_of(client, again["id"]) == "pending"
    assert later["status"] == "approved"
    assert client.post(confirm).status_code == 409


def test_typing_someone_elses_email_gains_no_trust_and_changes_nothing_of_theirs(
    known_app: Flask, mailbox: Mailbox
) -> None:
    client = known_app.test_client()
    known_commenter(client)
    before = client.get("/api/moderation/comments?status=approved", headers=MODERATOR).json

    # Under her very name (under another one no confirmation is sent at all: the comment waits
    # for the author, tests/test_known_identity.py).
    impostor = post_comment(client, widget=True, name="Dana", body="Buy now")
    second = post_comment(
        client,
        **with_form_token(
            client, name="Dana", body="Buy more", commenter_token=impostor["commenter_token"]
        ),
    )
    deliver(known_app)

    assert (impostor["status"], second["status"]) == ("pending", "pending")
    # The only mail goes to the address's owner, who can ignore it.
    assert [m["To"] for m in mailbox.messages if "Confirm" in m["Subject"]] == ["dana@example.com"]
    after = client.get("/api/moderation/comments?status=approved", headers=MODERATOR).json
    assert after == before


def test_a_change_that_is_rolled_back_leaves_nothing_to_send(
    notify_app: Flask, mailbox: Mailbox, receiver: WebhookReceiver
) -> None:
    from commentd import comments, spam
    from commentd.comments.validation import parse_submission
    from commentd.spam.screening import SiteRules
    from commentd.web.services import current
    from commentd.web.sessions import get_session

    with notify_app.test_request_context("/", method="POST"):
        session = get_session(write=True)
        comments.submit(
            session,
            "gluteus-medius",
            parse_submission(comment_fields()),
            SiteRules(moderation=ModerationMode.ALL, spam=spam.SpamRules()),
            comments.Sender(client_network="127.0.0.1", secret="s"),
            events=current().notifier,
        )
        session.rollback()

    assert deliver(notify_app) == 0
    assert (mailbox.messages, receiver.requests) == ([], [])


def test_webhook_bodies_are_the_exact_bytes_that_were_signed(
    client: FlaskClient, notify_app: Flask, receiver: WebhookReceiver
) -> None:
    post_comment(client, name="Zoë ✓")

    deliver(notify_app)

    [(_, headers, body)] = receiver.requests
    assert json.loads(body)["comment"]["author"]["name"] == "Zoë ✓"
    signed = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Commentd-Signature"] == f"sha256={signed}"


def test_a_notice_for_a_comment_erased_before_sending_is_skipped_and_its_links_say_gone(
    client: FlaskClient, notify_app: Flask, mailbox: Mailbox
) -> None:
    kept = post_comment(client, name="Kept")["id"]
    erased = post_comment(client, name="Erased")["id"]
    deliver(notify_app)
    [notice] = [m for m in mailbox.to(AUTHOR) if "Name:    Erased" in text_of(m)]
    third = post_comment(client, name="Never mailed")["id"]
    for comment_id in (erased, third):
        client.delete(f"/api/moderation/comments/{comment_id}", headers=MODERATOR)

    deliver(notify_app)
    gone = client.post(link(notice, "Approve"))
    outbox = client.get("/api/moderation/outbox", headers=MODERATOR).json

    assert len(mailbox.to(AUTHOR)) == 2
    assert gone.status_code == 404 and "no longer exists" in gone.text
    assert outbox is not None and outbox["counts"]["skipped"] == 1
    assert status_of(client, kept) == "pending"


def test_mail_waits_while_the_mail_server_is_down_and_goes_out_once_when_it_is_back(
    make_app: Callable[..., Flask],
) -> None:
    down = refusing_socket()  # nothing listens there yet
    app = make_app(
        smtp_url=f"smtp://127.0.0.1:{port_of(down)}", notify_email=AUTHOR, retry_seconds=30
    )
    client = app.test_client()
    post_comment(client, name="Ann")
    post_comment(client, name="Ben")

    deliver(app)
    failing = client.get("/api/moderation/outbox", headers=MODERATOR).json
    mailbox = Mailbox(down).start()
    try:
        assert deliver(app) == 0  # not due yet: back-off
        deliver(app, later=timedelta(seconds=31))
        assert deliver(app, later=timedelta(days=1)) == 0  # nothing left to send, ever
        received = mailbox.to(AUTHOR)
    finally:
        mailbox.stop()

    assert failing is not None
    assert sorted(e["last_error"].split(":")[0] for e in failing["failing"]) == [
        "ConnectionRefusedError",
        "MailServerResting",  # the second mail did not wait for the same failure again
    ]
    assert sorted(name_line(m) for m in received) == ["Name:    Ann", "Name:    Ben"]


def name_line(message: EmailMessage) -> str:
    return next(line for line in text_of(message).splitlines() if line.startswith("Name:"))
