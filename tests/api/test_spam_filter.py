"""The learning filter: features, scores, lessons from the author's decisions, and their undoing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from commentd.config import ModerationMode
from commentd.models import Comment, SpamFeature, SpamFilterState, utcnow
from commentd.ops.cli import main as cli
from commentd.spam.learned import MIN_LESSONS, Counts, SpamFilter
from commentd.web.services import of as services_of
from tests.helpers import HAM_TEXTS, MODERATOR, SPAM_TEXTS, moderate, post_comment, signals

# Posts as the widget sends them (with a fresh form token).
submit = partial(post_comment, widget=True)


def lessons(session: Session) -> tuple[int, int]:
    """The filter's lesson counts; ends the read, so the app's writers are not kept waiting."""
    session.expire_all()
    state = session.get(SpamFilterState, 1)
    assert state is not None
    counts = state.spam_lessons, state.ham_lessons
    session.rollback()
    return counts


def feature_counts(session: Session, feature: str) -> tuple[int, int] | None:
    row = session.get(SpamFeature, feature)
    counts = (row.spam, row.ham) if row is not None else None
    session.rollback()
    return counts


def teach_examples(client: FlaskClient, count: int = MIN_LESSONS + 1) -> None:
    """The author's decisions: the spam texts marked spam, the real comments approved."""
    for number in range(count):
        spam = submit(client, body=SPAM_TEXTS[number], email=f"s{number}@spam.example")
        moderate(client, spam["id"], "spam")
        ham = submit(client, body=HAM_TEXTS[number], email=f"h{number}@example.com")
        moderate(client, ham["id"], "approve")


@pytest.fixture
def open_client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(moderation=ModerationMode.NONE).test_client()


def test_until_it_has_enough_lessons_the_filter_scores_nothing(open_client: FlaskClient) -> None:
    teach_examples(open_client, count=MIN_LESSONS - 1)

    created = submit(open_client, body=SPAM_TEXTS[-1], email="late@spam.example")

    assert signals(open_client, created["id"]) == {"status": "approved", "reasons": []}


def test_after_a_few_decisions_the_filter_holds_what_it_would_call_spam(
    open_client: FlaskClient,
) -> None:
    """Unsure means held: before SURE_LESSONS of each kind nothing goes to spam on the filter's
    say (tests/api/test_spam_precision.py has the filter with a few hundred lessons)."""
    teach_examples(open_client, count=MIN_LESSONS)

    spam = submit(open_client, body="cheap viagra pills order online now", email="x@spam.example")
    ham = submit(open_client, body="The pigeon pose stretch helped my hip pain.", name="Ana")

    caught = open_client.get(f"/api/moderation/comments/{spam['id']}", headers=MODERATOR).json
    assert caught is not None and caught["status"] == "pending"
    assert caught["spam_score"] > 0.9
    assert caught["reasons"] == [
        f"filter score {caught['spam_score']:.2f}, held: too few lessons to be sure"
    ]
    assert signals(open_client, ham["id"]) == {"status": "approved", "reasons": []}


def test_the_grey_zone_is_held_even_when_moderation_is_none(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(
        moderation=ModerationMode.NONE, hold_threshold=0.0, spam_threshold=1.0
    ).test_client()
    teach_examples(client, count=MIN_LESSONS)

    created = submit(client, body="Something else entirely", email="new@example.org")

    shown = client.get(f"/api/moderation/comments/{created['id']}", headers=MODERATOR).json
    assert shown is not None and shown["status"] == "pending"
    assert shown["reasons"] == [f"filter score {shown['spam_score']:.2f}, held from 0.00"]


def test_not_spam_restores_the_comment_and_teaches_the_filter(
    open_client: FlaskClient, db_session: Session
) -> None:
    created = submit(open_client, body="Pigeon pose, wow", url2="filled by an autofill")
    assert created["status"] == "spam"
    moderate(open_client, created["id"], "spam")
    assert lessons(db_session) == (1, 0)

    restored = moderate(open_client, created["id"], "not-spam")

    assert restored["status"] == "approved"
    assert restored["reasons"] == ["honeypot filled"]  # why it was caught stays on record
    public = open_client.get("/api/posts/gluteus-medius/comments").json
    assert public is not None and [c["id"] for c in public["comments"]] == [created["id"]]
    assert lessons(db_session) == (0, 1)
    assert feature_counts(db_session, "pigeon") == (0, 1)


def test_changing_a_decision_untrains_the_earlier_lesson(
    open_client: FlaskClient, db_session: Session
) -> None:
    created = submit(open_client, body="Clamshells rock")

    moderate(open_client, created["id"], "approve")
    moderate(open_client, created["id"], "approve")
    assert (lessons(db_session), feature_counts(db_session, "clamshells")) == ((0, 1), (0, 1))
    moderate(open_client, created["id"], "spam")
    assert (lessons(db_session), feature_counts(db_session, "clamshells")) == ((1, 0), (1, 0))
    moderate(open_client, created["id"], "reject")

    assert lessons(db_session) == (0, 0)
    assert feature_counts(db_session, "clamshells") is None  # nothing left of it
    assert db_session.scalar(select(Comment.lesson).where(Comment.id == created["id"])) is None


def test_deleting_a_comment_removes_its_lesson_and_its_words(
    open_client: FlaskClient, db_session: Session
) -> None:
    kept = submit(open_client, body="Pigeon pose helps", email="kept@example.com")
    erased = submit(open_client, body="Pigeon pose and Zyxwvut", email="gone@example.com")
    moderate(open_client, kept["id"], "approve")
    moderate(open_client, erased["id"], "approve")

    response = open_client.delete(f"/api/moderation/comments/{erased['id']}", headers=MODERATOR)

    assert response.status_code == 204
    assert lessons(db_session) == (0, 1)
    assert feature_counts(db_session, "pigeon") == (0, 1)
    assert feature_counts(db_session, "zyxwvut") is None


def test_purge_spam_deletes_only_spam_older_than_the_retention_age(
    open_client: FlaskClient, db_session: Session, database_url: str
) -> None:
    old_spam = submit(open_client, body="old spam", url2="x")["id"]
    new_spam = submit(open_client, body="new spam", url2="x", email="b@example.com")["id"]
    old_real = submit(open_client, body="old real comment", email="c@example.com")["id"]
    moderate(open_client, old_spam, "spam")  # a lesson the filter keeps after the purge
    month_ago = utcnow() - timedelta(days=31)
    db_session.execute(
        update(Comment).where(Comment.id.in_([old_spam, old_real])).values(created_at=month_ago)
    )
    db_session.commit()

    result = CliRunner().invoke(
        cli,
        ["purge-spam"],
        env={"COMMENTD_DATABASE_URL": database_url, "COMMENTD_SPAM_RETENTION_DAYS": "30"},
    )

    assert result.exit_code == 0, result.output
    assert "Purged 1 spam comments older than 30 days." in result.output
    db_session.expire_all()
    remaining = db_session.scalars(select(Comment.id).order_by(Comment.id)).all()
    assert remaining == [new_spam, old_real]
    assert lessons(db_session) == (1, 0)


def test_each_lesson_moves_the_generation_once_and_counts_features_in_rows(
    open_client: FlaskClient, db_session: Session
) -> None:
    """Processes follow the generation to reload only what changed (spam_filter.py)."""
    teach_examples(open_client, count=MIN_LESSONS)

    rows = db_session.scalar(select(func.count()).select_from(SpamFeature))
    generation = db_session.scalar(select(SpamFilterState.generation))
    db_session.rollback()

    assert rows is not None and rows > 20
    assert generation == 2 * MIN_LESSONS


def test_another_processs_copy_follows_new_lessons_and_removed_words(
    make_app: Callable[..., Flask],
) -> None:
    """Incremental reloads for new counts; a full reload once counts were removed."""
    teacher = make_app(moderation=ModerationMode.NONE).test_client()
    other_app = make_app(moderation=ModerationMode.NONE)
    other = other_app.test_client()
    copy: SpamFilter = services_of(other_app).spam_filter
    kept = submit(teacher, body="Pigeon pose", email="kept@example.com")
    moderate(teacher, kept["id"], "approve")
    submit(other, body="first look", email="o1@example.com")
    assert (copy.counts("pigeon"), copy.counts("zyxwvut")) == ((0, 1), None)

    erased = submit(teacher, body="Pigeon Zyxwvut", email="gone@example.com")
    moderate(teacher, erased["id"], "spam")
    submit(other, body="second look", email="o2@example.com")
    assert (copy.counts("pigeon"), copy.counts("zyxwvut")) == ((1, 1), (1, 0))

    teacher.delete(f"/api/moderation/comments/{erased['id']}", headers=MODERATOR)
    submit(other, body="third look", email="o3@example.com")
    assert (copy.counts("pigeon"), copy.counts("zyxwvut")) == ((0, 1), None)
    assert copy.lessons == Counts(0, 1)
