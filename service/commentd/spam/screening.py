"""Screening a new comment: gather what the database knows (an earlier comment with the same
text, the learned filter's score), run every layer (spam.assess), and choose its status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from commentd import spam
from commentd.config import ModerationMode
from commentd.keys import keyed_hash
from commentd.models import Comment, CommentStatus
from commentd.spam import proof, traps
from commentd.spam.features import extract
from commentd.spam.learned import SpamFilter
from commentd.spam.rules import RulesCache, bring_up_to_date


@dataclass(frozen=True, kw_only=True)
class SiteRules:
    """The site's policy for new comments: the moderation mode and the spam rules in force."""

    moderation: ModerationMode
    spam: spam.SpamRules
    # The process's copy of the learning filter, brought up to date by whoever made these
    # rules (current_site_rules); None scores nothing (the rules still apply).
    spam_filter: SpamFilter | None = None


@dataclass(frozen=True)
class Screening:
    """What screening found: the verdict, and the body's duplicate key (stored with the
    comment, so a later comment with the same text finds it)."""

    verdict: spam.SpamVerdict
    body_key: str


def current_site_rules(session: Session, cache: RulesCache, spam_filter: SpamFilter) -> SiteRules:
    """The rules a comment posted now meets (the moderation mode among them): the environment's
    with the author's stored changes, and the learning filter, both brought up to date (one
    query; reloads only what moved since this process last looked)."""
    spam_rules = bring_up_to_date(session, cache, spam_filter)
    return SiteRules(moderation=spam_rules.moderation, spam=spam_rules, spam_filter=spam_filter)


def body_key(secret: str, body: str) -> str:
    """The same text, whatever its case and spacing, gives the same key (32 hex characters,
    a keyed hash: the duplicate rule compares these, never the text)."""
    return keyed_hash(secret, "body", " ".join(body.lower().split()))


_COMMENTS = cast(Table, Comment.__table__)
# Built once and run on the connection, past the ORM: 55 µs of CPU a post against 280-340 µs
# for the same select built per call through session.execute (SQLite, this machine; see
# comments/fast_path.py for the whole post path's figure).
_LATEST_SAME_TEXT = (
    select(_COMMENTS.c.id, _COMMENTS.c.status)
    .where(_COMMENTS.c.body_key == bindparam("key"), _COMMENTS.c.created_at >= bindparam("since"))
    .order_by(_COMMENTS.c.id.desc())
    .limit(1)
)
# The same, leaving out one comment (an edited comment is no duplicate of itself).
_LATEST_SAME_TEXT_BUT = _LATEST_SAME_TEXT.where(_COMMENTS.c.id != bindparam("other_than"))


def find_duplicate(
    session: Session, key: str, window_seconds: int, now: datetime, other_than: int | None = None
) -> spam.Duplicate | None:
    """The latest comment with this body_key stored within `window_seconds` before `now`
    (aware UTC), whatever its status, other than the comment `other_than`; None when there is
    none or the window is 0 (off)."""
    if not window_seconds:
        return None
    since = now - timedelta(seconds=window_seconds)
    if other_than is None:
        statement, values = _LATEST_SAME_TEXT, {"key": key, "since": since}
    else:
        statement = _LATEST_SAME_TEXT_BUT
        values = {"key": key, "since": since, "other_than": other_than}
    row = session.connection().execute(statement, values).one_or_none()
    if row is None:
        return None
    return spam.Duplicate(row.id, row.status is CommentStatus.SPAM)


def filter_judgement(
    spam_filter: SpamFilter | None, submission: spam.Submission
) -> spam.FilterJudgement | None:
    """The learned filter's score and evidence; None without a filter, or while it has too
    few lessons to judge."""
    if spam_filter is None:
        return None
    return spam_filter.judge(
        extract(submission.body, submission.name, submission.website, submission.email)
    )


def screen(
    session: Session,
    submission: spam.Submission,
    body_html: str,
    rules: SiteRules,
    secret: str,
    now: datetime,
    *,
    edited_id: int | None = None,
) -> Screening:
    """Every spam layer's say on a submission about to be stored at `now` (aware UTC).

    `body_html` is its body as rendered (links are counted there); `secret` the site's (form
    tokens and body keys are signed or hashed with it); `edited_id` the comment a submission
    is the new text of (an edit), which is no duplicate of itself. Writes only when proof of
    work is on and the submission's solution is valid: it is spent (spam.proof.redeem), in the
    caller's transaction. Raises nothing of its own.
    """
    key = body_key(secret, submission.body)
    window = rules.spam.duplicate_window_seconds
    signals = spam.Signals(
        duplicate=find_duplicate(session, key, window, now, edited_id),
        filter=filter_judgement(rules.spam_filter, submission),
        proof=(
            proof.redeem(session, secret, submission.altcha, now)
            if rules.spam.pow_max_number
            else None
        ),
    )
    verdict = spam.assess(
        submission, body_html, traps.check(secret, submission.form_token), rules.spam, signals
    )
    return Screening(verdict, key)


def choose_status(
    verdict: spam.SpamVerdict, mode: ModerationMode, trusted_commenter: bool
) -> CommentStatus:
    """The status a new comment is stored with: the spam verdict first (spam, or held for the
    author), then the moderation mode (`none` publishes; `known` publishes a trusted
    commenter's, API.md; `all` holds everything)."""
    if verdict.action is spam.SpamAction.SPAM:
        return CommentStatus.SPAM
    if verdict.action is spam.SpamAction.HOLD:
        return CommentStatus.PENDING
    if mode is ModerationMode.NONE or (mode is ModerationMode.KNOWN and trusted_commenter):
        return CommentStatus.APPROVED
    return CommentStatus.PENDING
