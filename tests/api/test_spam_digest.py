"""The spam digest (issue 17: the spam folder is never a black hole): what the defences caught,
mailed to the author daily or weekly through the outbox, each with a scanner-safe Not spam
link. Through the app, the outbox worker's own rounds, a real SMTP server (aiosmtpd), on SQLite
and PostgreSQL."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from commentd.config import ModerationMode
from commentd.models import OutboxEvent, OutboxState, utcnow
from commentd.notify import spam_digest
from commentd.web.services import of as services_of
from tests.helpers import (
    MODERATOR,
    SLUG,
    html_of,
    moderate,
    post_comment,
    status_of,
    text_of,
)
from tests.receivers import Mailbox

AUTHOR = "author@blog.example"


@pytest.fixture
def digest_app(make_app: Callable[..., Flask], mailbox: Mailbox) -> Flask:
    """Comments published at once, "casino" caught as spam, the author's mail on."""
    return make_app(
        smtp_url=mailbox.url,
        notify_email=AUTHOR,
        moderation=ModerationMode.NONE,
        disallowed_keywords=("casino",),
        delivery_timeout=5,
        post_url="https://blog.example/{slug}/",
    )


@pytest.fixture
def client(digest_app: Flask) -> FlaskClient:
    return digest_app.test_client()


def send(client: FlaskClient, slug: str = SLUG, **fields: Any) -> dict[str, Any]:
    return post_comment(client, slug, widget=True, **fields)


def run_worker(app: Flask, at: datetime) -> int:
    """The app's outbox worker rounds at `at` (its scheduler included), until nothing is due."""
    box = services_of(app).outbox
    total = 0
    while handled := box.deliver_due(at):
        total += handled
    return total


def day_end(now: datetime | None = None) -> datetime:
    """When the daily digest of the day `now` (default: now) falls in is due."""
    return spam_digest.period_of(now or utcnow(), "daily")[1] + spam_digest.GRACE


def digest_events(engine: Engine, due_by: datetime | None = None) -> list[OutboxEvent]:
    """The digest events in the outbox (those due by `due_by`, if given)."""
    query = select(OutboxEvent).where(OutboxEvent.kind == spam_digest.KIND)
    if due_by is not None:
        query = query.where(OutboxEvent.available_at <= due_by)
    with Session(engine) as session:
        return list(session.scalars(query.order_by(OutboxEvent.id)).all())


def test_a_days_catch_is_mailed_once_with_reasons_and_a_not_spam_link_each(
    client: FlaskClient, digest_app: Flask, mailbox: Mailbox
) -> None:
    first = send(client, name="Ana", body="Best casino bonus today")
    second = send(
        client, name="Bo <b>", body="Is this safe after knee surgery? casino", slug="knees"
    )
    kept = send(client, name="Cy", body="Thank you, this helped")
    filed = send(client, name="Dee", body="buy followers")
    moderate(client, filed["id"], "spam")  # the author's own decision: not the defences'
    assert (first["status"], second["status"], kept["status"]) == ("spam", "spam", "approved")

    run_worker(digest_app, utcnow())  # schedules today's digest; nothing is due yet
    assert mailbox.messages == []
    run_worker(digest_app, day_end())

    [message] = mailbox.messages
    assert message["To"] == AUTHOR
    assert message["Subject"] == "Spam caught: 2 comments to glance at"
    text, html = text_of(message), html_of(message)
    for words in (
        "Ana",
        "Best casino bonus today",
        SLUG,
        "https://blog.example/knees/",
        "matched disallowed keyword 'casino'",
        "https://comments.example/moderate",
    ):
        assert words in text
    assert "Bo &lt;b&gt;" in html and "Bo <b>" not in html  # escaped in HTML
    # Neither the approved comment nor the author's own spam decision is listed (by the
    # digest's name lines and the bodies: a bare "Cy" may occur in a link's random token).
    names = re.findall(r"^Name: +(.*)$", text, flags=re.MULTILINE)
    assert sorted(names) == ["Ana", "Bo <b>"]
    assert "Thank you, this helped" not in text and "buy followers" not in text
    assert text.count("Not spam: https://comments.example/email/not-spam/") == 2
    assert html.count(">Not spam</a>") == 2
    [event] = digest_events(services_of(digest_app).engine, due_by=day_end())
    assert event.state is OutboxState.SENT

    # A second round, and the next day's, send nothing more: nothing new was caught.
    run_worker(digest_app, day_end() + timedelta(minutes=5))
    run_worker(digest_app, day_end() + timedelta(days=1))
    assert len(mailbox.messages) == 1


def not_spam_link(message: Any, name: str) -> str:
    """The path of the Not spam link that follows `name`'s entry in the plain-text digest."""
    text = text_of(message)
    entry = text[text.index(f"Name:    {name}\n") :]
    line = next(line for line in entry.splitlines() if line.startswith("Not spam: "))
    return "/" + line.split("://", 1)[1].split("/", 1)[1]


def test_a_not_spam_link_shows_on_get_and_head_and_acts_once_on_post(
    client: FlaskClient, digest_app: Flask, mailbox: Mailbox
) -> None:
    caught = send(client, name="Ana", body="did it today 💪 thx casino")
    other = send(client, name="Bo", body="casino again")
    run_worker(digest_app, utcnow())
    run_worker(digest_app, day_end())
    [message] = mailbox.messages
    path = not_spam_link(message, "Ana")

    head = client.head(path)
    shown = client.get(path)
    assert (head.status_code, shown.status_code) == (200, 200)
    assert "did it today" in shown.text and '<form method="post">' in shown.text
    assert shown.headers["Cache-Control"] == "no-store"
    assert status_of(client, caught["id"]) == "spam"  # a scanner's GET/HEAD changes nothing

    done = client.post(path)
    again = client.post(path)
    later = client.get(path)

    assert done.status_code == 200 and "Published" in done.text
    assert status_of(client, caught["id"]) == "approved"
    assert (again.status_code, later.status_code) == (409, 409)
    assert client.get(path, headers={"Accept": "application/json"}).json["error"] == "link_used"
    assert status_of(client, other["id"]) == "spam"  # each comment's link is its own
    public = client.get(f"/api/posts/{SLUG}/comments").json
    assert [c["id"] for c in public["comments"]] == [caught["id"]]


def test_a_forged_or_other_kind_of_token_is_refused(client: FlaskClient) -> None:
    assert client.get("/email/not-spam/forged.token").status_code == 404
    assert client.post("/email/not-spam/forged.token").status_code == 404


def test_nothing_caught_sends_nothing_and_leaves_nothing_in_the_outbox(
    client: FlaskClient, digest_app: Flask, mailbox: Mailbox
) -> None:
    send(client, body="Thank you, this helped")
    run_worker(digest_app, utcnow())
    run_worker(digest_app, day_end())
    run_worker(digest_app, day_end() + timedelta(days=8))

    assert mailbox.messages == []
    assert digest_events(services_of(digest_app).engine) == []
    view = client.get("/api/moderation/outbox", headers=MODERATOR).json
    assert view["counts"]["pending"] == 0


def test_a_digest_is_due_only_once_its_period_is_over(
    client: FlaskClient, digest_app: Flask, mailbox: Mailbox
) -> None:
    send(client, body="casino")
    run_worker(digest_app, utcnow())
    run_worker(digest_app, day_end() - timedelta(seconds=1))

    assert mailbox.messages == []
    assert digest_events(services_of(digest_app).engine) == []
    run_worker(digest_app, day_end() + timedelta(minutes=1))  # the next scheduling round
    assert len(mailbox.messages) == 1


def test_two_workers_at_once_send_one_digest(
    make_app: Callable[..., Flask], digest_app: Flask, client: FlaskClient, mailbox: Mailbox
) -> None:
    second_app = make_app(
        smtp_url=mailbox.url,
        notify_email=AUTHOR,
        moderation=ModerationMode.NONE,
        disallowed_keywords=("casino",),
    )
    send(client, body="casino casino")
    apps = [digest_app, second_app]
    start = threading.Barrier(len(apps))
    errors: list[BaseException] = []

    def work(app: Flask, at: datetime) -> None:
        try:
            start.wait()
            run_worker(app, at)
        except BaseException as error:
            errors.append(error)

    for at in (utcnow(), day_end()):  # both schedule at once, then both deliver at once
        threads = [threading.Thread(target=work, args=(app, at)) for app in apps]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    assert len(mailbox.messages) == 1
    assert len(digest_events(services_of(digest_app).engine, due_by=day_end())) == 1


def put_digest(client: FlaskClient, value: object) -> Any:
    return client.put("/api/moderation/settings", json={"spam_digest": value}, headers=MODERATOR)


def test_the_author_chooses_weekly_or_off_through_the_settings_api(
    client: FlaskClient, digest_app: Flask, mailbox: Mailbox
) -> None:
    shown = client.get("/api/moderation/settings", headers=MODERATOR).json
    assert shown["rules"]["spam_digest"] == "daily"

    turned_off = put_digest(client, "off")
    send(client, body="casino")
    run_worker(digest_app, utcnow())
    run_worker(digest_app, day_end())
    assert turned_off.json["rules"]["spam_digest"] == "off"
    assert mailbox.messages == []
    assert digest_events(services_of(digest_app).engine) == []

    weekly = put_digest(client, "weekly")
    now = utcnow()
    run_worker(digest_app, now)
    _, week_end = spam_digest.period_of(now, "weekly")
    assert week_end.weekday() == 0 and week_end.time() == datetime.min.time()  # Monday, 00:00
    run_worker(digest_app, week_end - timedelta(minutes=1))
    assert mailbox.messages == []  # not before the week ends
    run_worker(digest_app, week_end + spam_digest.GRACE)

    assert weekly.json["changed"] == ["spam_digest"]
    [message] = mailbox.messages
    assert "once a week" in text_of(message)
    assert put_digest(client, "hourly").status_code == 422
    assert put_digest(client, None).json["rules"]["spam_digest"] == "daily"


def test_a_digest_that_failed_is_skipped_if_the_author_turned_digests_off_meanwhile(
    make_app: Callable[..., Flask],
    client: FlaskClient,
    digest_app: Flask,
    mailbox: Mailbox,
    refused_port: int,
) -> None:
    mail_down = make_app(
        smtp_url=f"smtp://127.0.0.1:{refused_port}",
        notify_email=AUTHOR,
        moderation=ModerationMode.NONE,
        disallowed_keywords=("casino",),
    )
    send(client, body="casino")
    run_worker(mail_down, day_end())  # enqueued, and its first attempt fails
    [failed] = digest_events(services_of(digest_app).engine)
    put_digest(client, "off")
    run_worker(digest_app, day_end() + timedelta(hours=1))  # retried after the change

    assert failed.state is OutboxState.PENDING and failed.last_error
    assert mailbox.messages == []
    [event] = digest_events(services_of(digest_app).engine)
    assert event.state is OutboxState.SKIPPED


def test_a_digest_that_could_not_be_sent_leaves_its_catch_to_the_next(
    make_app: Callable[..., Flask],
    client: FlaskClient,
    digest_app: Flask,
    mailbox: Mailbox,
    refused_port: int,
) -> None:
    mail_down = make_app(
        smtp_url=f"smtp://127.0.0.1:{refused_port}",
        notify_email=AUTHOR,
        moderation=ModerationMode.NONE,
        disallowed_keywords=("casino",),
        max_attempts=1,
    )
    send(client, name="Ana", body="casino")
    run_worker(mail_down, day_end())  # given up at once: one attempt only
    with Session(services_of(digest_app).engine) as session:
        tomorrow = spam_digest.caught(session, day_end() - spam_digest.GRACE + timedelta(days=1))

    assert [comment.name for comment, _ in tomorrow.items] == ["Ana"]  # the next day lists it


def test_periods_are_aligned_to_utc_days_and_monday_weeks() -> None:
    moment = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # a Thursday

    assert spam_digest.period_of(moment, "daily") == (
        datetime(2026, 11, 26, tzinfo=UTC),
        datetime(2026, 11, 27, tzinfo=UTC),
    )
    assert spam_digest.period_of(moment, "weekly") == (
        datetime(2026, 11, 23, tzinfo=UTC),
        datetime(2026, 11, 30, tzinfo=UTC),
    )


def test_a_long_catch_lists_the_first_and_counts_the_rest(
    client: FlaskClient, digest_app: Flask, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spam_digest, "MAX_ITEMS", 2)
    for number in range(5):
        send(client, name=f"Bot {number}", body=f"casino {number}")

    run_worker(digest_app, day_end())

    [message] = mailbox.messages
    assert message["Subject"] == "Spam caught: 5 comments to glance at"
    assert text_of(message).count("Not spam: ") == 2
    assert "…and 3 more in the console." in text_of(message)
