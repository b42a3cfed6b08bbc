"""A commenter edits and deletes their own comments with the token their browser keeps, and
asks for their data by address (issue 15; API.md, "The commenter's own comments"). Through the
app's HTTP interface, on SQLite and PostgreSQL, with a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from commentd.config import ModerationMode
from commentd.keys import keyed_hash
from commentd.models import Comment, utcnow
from commentd.web.services import of as services_of
from tests.helpers import (
    MODERATOR,
    SLUG,
    database_snapshot,
    deliver,
    link,
    moderate,
    outbox_view,
    post_comment,
    sent_to,
    text_of,
    with_form_token,
)
from tests.receivers import Mailbox, WebhookReceiver

DANA = "dana@example.com"
WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"


@pytest.fixture
def open_app(make_app: Callable[..., Flask], mailbox: Mailbox) -> Flask:
    """Comments published at once (COMMENTD_MODERATION=none), mail on."""
    return make_app(
        smtp_url=mailbox.url,
        moderation=ModerationMode.NONE,
        post_url="https://blog.example/{slug}/",
    )


def send(client: FlaskClient, slug: str = SLUG, **fields: Any) -> dict[str, Any]:
    return post_comment(client, slug, widget=True, **fields)


def edit(
    client: FlaskClient, comment_id: int, token: str | None, slug: str = SLUG, **fields: Any
) -> Any:
    body = with_form_token(client, body="Pigeon pose, twice a day!") | fields
    if token is not None:
        body["commenter_token"] = token
    return client.patch(f"/api/posts/{slug}/comments/{comment_id}", json=body)


def public_bodies(client: FlaskClient, slug: str = SLUG) -> list[str]:
    answer = client.get(f"/api/posts/{slug}/comments").json
    assert answer is not None
    return [c["body_html"] for c in answer["comments"]]


def shown(client: FlaskClient, comment_id: int) -> dict[str, Any]:
    answer = client.get(f"/api/moderation/comments/{comment_id}", headers=MODERATOR).json
    assert answer is not None
    return dict(answer)


def test_the_writer_edits_their_comment_and_the_public_sees_the_new_text(open_app: Flask) -> None:
    client = open_app.test_client()
    posted = send(client)
    assert posted["editable_until"] is not None
    before = client.get(f"/api/posts/{SLUG}/comments").headers["ETag"]

    response = edit(client, posted["id"], posted["commenter_token"])

    assert response.status_code == 200, response.json
    answer = response.json
    assert answer["id"] == posted["id"] and answer["status"] == "approved"
    assert answer["body_html"] == "<p>Pigeon pose, twice a day!</p>"
    assert set(answer) == set(posted["comment"]) | {"status", "editable_until"}
    assert "email" not in answer
    assert public_bodies(client) == ["<p>Pigeon pose, twice a day!</p>"]
    assert client.get(f"/api/posts/{SLUG}/comments").headers["ETag"] != before
    assert shown(client, posted["id"])["edited_at"] is not None


def test_the_token_may_come_in_the_authorization_header(open_app: Flask) -> None:
    client = open_app.test_client()
    posted = send(client)

    response = client.patch(
        f"/api/posts/{SLUG}/comments/{posted['id']}",
        json=with_form_token(client, body="Edited"),
        headers={"Authorization": f"Commenter {posted['commenter_token']}"},
    )

    assert response.status_code == 200, response.json
    assert public_bodies(client) == ["<p>Edited</p>"]


def test_another_token_an_unknown_id_and_another_posts_id_get_the_same_answer(
    open_app: Flask,
) -> None:
    client = open_app.test_client()
    dana = send(client)
    ben = send(client, name="Ben", email="ben@example.com", body="Mine")
    elsewhere = send(
        client, "other-post", body="Elsewhere", commenter_token=dana["commenter_token"]
    )

    answers = [
        edit(client, dana["id"], ben["commenter_token"]),  # Ben's token on Dana's comment
        edit(client, 999999, dana["commenter_token"]),  # no such comment
        edit(client, elsewhere["id"], dana["commenter_token"]),  # hers, but on another post
        edit(client, dana["id"], "made-up-token"),
        client.delete(
            f"/api/posts/{SLUG}/comments/{dana['id']}",
            headers={"Authorization": f"Commenter {ben['commenter_token']}"},
        ),
        client.delete(
            f"/api/posts/{SLUG}/comments/999999",
            headers={"Authorization": f"Commenter {dana['commenter_token']}"},
        ),
    ]

    assert [(a.status_code, a.json) for a in answers] == [(403, answers[0].json)] * 6
    assert answers[0].json["error"] == "not_yours"
    assert public_bodies(client) == ["<p>Pigeon pose!</p>", "<p>Mine</p>"]


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_after_the_window_the_writer_is_told_it_closed(
    open_app: Flask, db_session: Session, method: str
) -> None:
    client = open_app.test_client()
    posted = send(client)
    db_session.execute(
        update(Comment)
        .where(Comment.id == posted["id"])
        .values(created_at=utcnow() - timedelta(minutes=16))
    )
    db_session.commit()

    response = client.open(
        f"/api/posts/{SLUG}/comments/{posted['id']}",
        method=method,
        json={"body": "Too late", "commenter_token": posted["commenter_token"]},
    )

    assert response.status_code == 403
    assert response.json is not None and response.json["error"] == "edit_window_closed"
    assert public_bodies(client) == ["<p>Pigeon pose!</p>"]


def test_edit_minutes_0_turns_editing_off(make_app: Callable[..., Flask]) -> None:
    client = make_app(moderation=ModerationMode.NONE, edit_minutes=0).test_client()
    posted = send(client)

    response = edit(client, posted["id"], posted["commenter_token"])

    assert posted["editable_until"] is None
    assert response.status_code == 403
    assert response.json is not None and response.json["error"] == "edit_window_closed"


def test_an_edit_is_checked_like_a_new_comment(open_app: Flask) -> None:
    client = open_app.test_client()
    posted = send(client)

    response = edit(client, posted["id"], posted["commenter_token"], body="   ")

    assert response.status_code == 422
    assert response.json is not None and set(response.json["fields"]) == {"body"}
    assert public_bodies(client) == ["<p>Pigeon pose!</p>"]


def test_a_closed_post_takes_no_edit_but_its_writer_may_still_delete(open_app: Flask) -> None:
    client = open_app.test_client()
    posted = send(client)
    closed = client.put(f"/api/moderation/posts/{SLUG}", json={"closed": True}, headers=MODERATOR)
    assert closed.status_code == 200

    edited = edit(client, posted["id"], posted["commenter_token"], body="A last word after all")
    stranger = edit(client, posted["id"], "not-a-token", body="A last word after all")

    assert edited.status_code == 403
    assert edited.json is not None and edited.json["error"] == "comments_closed"
    assert stranger.json is not None and stranger.json["error"] == "not_yours"  # learns nothing
    assert public_bodies(client) == ["<p>Pigeon pose!</p>"]
    deleted = client.delete(
        f"/api/posts/{SLUG}/comments/{posted['id']}",
        headers={"Authorization": f"Commenter {posted['commenter_token']}"},
    )
    assert deleted.status_code == 204
    assert public_bodies(client) == []


def test_an_edit_the_rules_would_hold_waits_again_and_the_author_sees_it_was_edited(
    make_app: Callable[..., Flask], receiver: WebhookReceiver
) -> None:
    app = make_app(
        moderation=ModerationMode.NONE,
        moderation_keywords=("casino",),
        webhook_urls=(receiver.url,),
        webhook_secret=WEBHOOK_SECRET,
    )
    client = app.test_client()
    posted = send(client)
    public = send(client, body="Stays", email="ben@example.com")

    held = edit(client, posted["id"], posted["commenter_token"], body="Visit my casino")
    fixed = edit(client, public["id"], public["commenter_token"], body="Stays, edited")
    deliver(app)

    assert held.status_code == 200 and held.json["status"] == "pending"
    assert public_bodies(client) == ["<p>Stays, edited</p>"]
    queue = client.get("/api/moderation/comments?status=pending", headers=MODERATOR).json
    assert [(c["id"], c["body"], c["edited_at"] is not None) for c in queue["comments"]] == [
        (posted["id"], "Visit my casino", True)
    ]
    assert fixed.json["status"] == "approved"
    events = [(b["event"], b["comment"]["id"]) for b in receiver.payloads()]
    assert ("comment.deleted", posted["id"]) in events  # taken off the page
    assert ("comment.edited", public["id"]) in events


def test_the_writer_deletes_a_comment_and_its_replies_stay(
    open_app: Flask, receiver: WebhookReceiver, make_app: Callable[..., Flask]
) -> None:
    app = make_app(
        moderation=ModerationMode.NONE,
        webhook_urls=(receiver.url,),
        webhook_secret=WEBHOOK_SECRET,
    )
    client = app.test_client()
    posted = send(client)
    reply = send(client, name="Ben", email="ben@example.com", body="Reply", parent_id=posted["id"])

    response = client.delete(
        f"/api/posts/{SLUG}/comments/{posted['id']}",
        json={"commenter_token": posted["commenter_token"]},
    )
    deliver(app)

    assert response.status_code == 204
    answer = client.get(f"/api/posts/{SLUG}/comments").json
    assert [(c["id"], c["parent_id"]) for c in answer["comments"]] == [(reply["id"], None)]
    assert ("comment.deleted", posted["id"]) in [
        (b["event"], b["comment"]["id"]) for b in receiver.payloads()
    ]
    again = client.delete(
        f"/api/posts/{SLUG}/comments/{posted['id']}",
        json={"commenter_token": posted["commenter_token"]},
    )
    assert again.status_code == 403 and again.json["error"] == "not_yours"


def test_the_filter_learns_from_the_final_text_only(open_app: Flask, db_session: Session) -> None:
    from commentd.models import SpamFeature

    client = open_app.test_client()
    posted = send(client, body="zyxwvut first words")
    moderate(client, posted["id"], "approve")  # a ham lesson from the first text
    assert db_session.get(SpamFeature, "zyxwvut") is not None
    db_session.rollback()

    edit(client, posted["id"], posted["commenter_token"], body="qwertyuiop second")
    moderate(client, posted["id"], "approve")  # the author approves the final text

    db_session.rollback()
    assert db_session.get(SpamFeature, "zyxwvut") is None
    assert db_session.get(SpamFeature, "qwertyuiop") is not None


def test_the_preflight_allows_patch_delete_and_the_authorization_header(
    open_app: Flask,
) -> None:
    client = open_app.test_client()

    response = client.options(
        f"/api/posts/{SLUG}/comments/1",
        headers={
            "Origin": "https://blog.example",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )

    assert response.headers["Access-Control-Allow-Origin"] == "https://blog.example"
    methods = response.headers["Access-Control-Allow-Methods"]
    assert "PATCH" in methods and "DELETE" in methods
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    refused = client.patch(
        f"/api/posts/{SLUG}/comments/1", json={}, headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403 and refused.json["error"] == "origin_not_allowed"


# --- a reader's data by address ----------------------------------------------------------


def ask(client: FlaskClient, email: str, kind: str) -> Any:
    return client.post("/api/privacy/requests", json={"email": email, "kind": kind})


def test_a_request_answers_the_same_whether_or_not_the_address_commented(
    open_app: Flask, mailbox: Mailbox, migrated_engine: Engine
) -> None:
    client = open_app.test_client()
    send(client)

    known = ask(client, DANA, "export")
    unknown = ask(client, "nobody@example.com", "export")
    waiting = outbox_view(client)["counts"]["pending"]
    deliver(open_app)

    assert (known.status_code, known.json) == (unknown.status_code, unknown.json)
    assert known.status_code == 202
    assert waiting == 2  # the same work for both: each request waits in the outbox
    assert sent_to(mailbox, "nobody@example.com") == []
    assert "nobody" not in repr(database_snapshot(migrated_engine))  # sent or not, it goes
    [mail] = sent_to(mailbox, DANA)
    assert "Download: https://comments.example/email/privacy/" in text_of(mail)
    bad = ask(client, "not an address", "delete")
    assert bad.status_code == 422 and set(bad.json["fields"]) == {"email", "kind"}


@pytest.mark.parametrize("kind", [["export"], {"export": True}, 1, None, True])
def test_a_request_whose_kind_is_not_a_word_is_refused_by_its_field(
    open_app: Flask, kind: object
) -> None:
    client = open_app.test_client()
    response = client.post("/api/privacy/requests", json={"email": DANA, "kind": kind})
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json is not None and set(response.json["fields"]) == {"kind"}


def test_export_link_shows_then_downloads_once(open_app: Flask, mailbox: Mailbox) -> None:
    client = open_app.test_client()
    first = send(client)
    send(client, "other-post", body="Second", commenter_token=first["commenter_token"])
    send(client, name="Ben", email="ben@example.com", body="Not hers")
    ask(client, DANA, "export")
    deliver(open_app)
    path = link(sent_to(mailbox, DANA)[0], "Download")

    assert client.head(path).status_code == 200
    assert "Download my comments</button>" in client.get(path).text
    download = client.post(path)
    again = client.post(path)

    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    data = download.json
    assert [(c["slug"], c["body"], c["status"]) for c in data["comments"]] == [
        (SLUG, "Pigeon pose!", "approved"),
        ("other-post", "Second", "approved"),
    ]
    assert all(c["created_at"].endswith("Z") for c in data["comments"])
    assert again.status_code == 409


def forbidden_traces(app: Flask, email: str) -> list[str]:
    """The address and every keyed hash the service makes of it."""
    secret = services_of(app).secret_key
    limits = services_of(app).rate_limits
    return [
        email,
        email.split("@")[0] + "@",
        keyed_hash(secret, "confirm-address", email),
        limits.key("sender", f"typed\0{email}"),
        limits.key("sender", f"proven\0{email}"),
        limits.key("privacy", email),
    ]


def limiter_keys(app: Flask) -> str:
    storage = services_of(app).rate_limits.limiter.storage
    # Every key the in-process counters hold: counters and moving windows, with their expiry.
    held = (storage.storage, storage.expirations, storage._moments, storage._moments_expire)
    return "".join(repr(sorted(keys)) for keys in held)


def test_erase_leaves_no_trace_of_the_address_and_keeps_others_replies(
    make_app: Callable[..., Flask], mailbox: Mailbox, migrated_engine: Engine
) -> None:
    app = make_app(
        smtp_url=mailbox.url,
        moderation=ModerationMode.NONE,
        post_url="https://blog.example/{slug}/",
        notify_email="author@blog.example",
    )
    client = app.test_client()
    first = send(client, notify=True, notify_approved=True)
    send(client, "other-post", body="Second", commenter_token=first["commenter_token"])
    send(client, body="From another browser")  # a second identity of the same address
    reply = send(client, name="Ben", email="ben@example.com", body="Reply", parent_id=first["id"])
    ask(client, DANA, "export")
    ask(client, DANA, "erase")
    deliver(app)
    [erase_mail] = [m for m in sent_to(mailbox, DANA) if m["Subject"].startswith("Erase")]
    path = link(erase_mail, "Erase")
    assert "Erase my comments</button>" in client.get(path).text
    ask(client, DANA, "export")  # a request waiting in the outbox holds the address too
    traces = forbidden_traces(app, DANA)
    before = repr(database_snapshot(migrated_engine)).lower()
    assert [t for t in traces if t in before] == [DANA, "dana@", traces[2]]
    assert traces[4] in limiter_keys(app) and traces[5] in limiter_keys(app)

    erased = client.post(path)

    assert erased.status_code == 200 and "3 comments" in erased.text
    assert client.post(path).status_code == 409
    answer = client.get(f"/api/posts/{SLUG}/comments").json
    assert [(c["id"], c["parent_id"]) for c in answer["comments"]] == [(reply["id"], None)]
    everything = repr(database_snapshot(migrated_engine)).lower()
    stored_limits = limiter_keys(app)
    for trace in forbidden_traces(app, DANA):
        assert trace not in everything, trace
        assert trace not in stored_limits, trace
    assert "ben@example.com" in everything  # others' data stays


def test_the_address_limit_answers_alike_and_mails_nothing_more(
    make_app: Callable[..., Flask], mailbox: Mailbox
) -> None:
    app = make_app(
        smtp_url=mailbox.url, moderation=ModerationMode.NONE, privacy_rate_limit="1 per hour"
    )
    client = app.test_client()
    send(client)

    answers = [ask(client, DANA, "export") for _ in range(3)]
    deliver(app)

    assert {(a.status_code, repr(a.json)) for a in answers} == {(202, repr(answers[0].json))}
    assert len(sent_to(mailbox, DANA)) == 1


def test_the_client_limit_answers_429(make_app: Callable[..., Flask]) -> None:
    client = make_app(privacy_client_rate_limit="2 per hour").test_client()

    answers = [ask(client, f"r{i}@example.com", "erase").status_code for i in range(3)]

    assert answers == [202, 202, 429]


# --- "your comment was approved" --------------------------------------------------------


def test_the_approval_mail_goes_only_to_a_confirmed_address_that_asked(
    make_app: Callable[..., Flask], mailbox: Mailbox
) -> None:
    app = make_app(smtp_url=mailbox.url, post_url="https://blog.example/{slug}/")
    client = app.test_client()
    asked = send(client, notify_approved=True)
    unconfirmed = send(client, email="erin@example.com", notify_approved=True, body="Erin's")
    silent = send(client, email="fay@example.com", body="Fay's")
    deliver(app)
    [optin] = sent_to(mailbox, DANA)
    assert optin["Subject"] == "Confirm email notices from blog.example"
    assert "is approved" in text_of(optin)
    assert client.post(link(optin, "Confirm")).status_code == 200

    for comment in (asked, unconfirmed, silent):
        moderate(client, comment["id"], "approve")
    deliver(app)

    [approved] = [m for m in sent_to(mailbox, DANA) if "approved" in m["Subject"]]
    assert approved["Subject"] == "Your comment on blog.example was approved"
    assert f"https://blog.example/{SLUG}/#comment-{asked['id']}" in text_of(approved)
    assert [m["Subject"] for m in sent_to(mailbox, "erin@example.com")] == [
        "Confirm email notices from blog.example"
    ]
    assert sent_to(mailbox, "fay@example.com") == []


# --- retention ---------------------------------------------------------------------------


def test_purge_applies_every_retention(
    open_app: Flask, db_session: Session, database_url: str
) -> None:
    from click.testing import CliRunner

    from commentd.ops.cli import main as cli

    client = open_app.test_client()
    old_rejected = send(client, body="old rejected")["id"]
    new_rejected = send(client, body="new rejected", email="b@example.com")["id"]
    old_kept = send(client, body="old approved", email="c@example.com")["id"]
    moderate(client, old_rejected, "reject")
    moderate(client, new_rejected, "reject")
    db_session.execute(
        update(Comment)
        .where(Comment.id.in_([old_rejected, old_kept]))
        .values(created_at=utcnow() - timedelta(days=31))
    )
    db_session.commit()

    result = CliRunner().invoke(cli, ["purge"], env={"COMMENTD_DATABASE_URL": database_url})

    assert result.exit_code == 0, result.output
    assert "Purged 1 rejected comments older than 30 days." in result.output
    assert "Forgot the client-address hash of 1 comments older than 30 days." in result.output
    db_session.rollback()
    assert db_session.get(Comment, old_rejected) is None
    kept = db_session.get(Comment, old_kept)
    assert kept is not None and kept.client_key is None
    fresh = db_session.get(Comment, new_rejected)
    assert fresh is not None and fresh.client_key is not None
