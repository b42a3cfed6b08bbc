"""Every kind of reason a comment can carry in `reasons`, as the service writes it: spam.assess
run through each of its layers' states (every FormTokenState and ProofState, so a new state
is sampled without touching this file), a review request and an import. Used by the tests
that hold the reason codes (comments.search.REASON_PATTERNS), the console's words for them
(static/moderation.js, REASONS) and what the console shows together."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass

from commentd import spam
from commentd.comments.review import REVIEW_REQUESTED
from commentd.comments.search import REASON_PATTERNS
from commentd.portability.readers import READERS
from commentd.spam.keywords import KeywordList
from commentd.spam.proof import ProofCheck, ProofState
from commentd.spam.traps import FormTokenCheck, FormTokenState


@dataclass(frozen=True)
class _Submission:
    name: str = "Dana"
    email: str = "dana@example.com"
    body: str = "Pigeon pose"
    website: str | None = None
    form_token: str | None = None
    altcha: str | None = None
    honeypot: str = ""


RULES = spam.SpamRules(
    hold_links=2,
    min_fill_seconds=3,
    moderation_keywords=KeywordList(["hold me"]),
    disallowed_keywords=KeywordList(["buy now"]),
)
FRESH = FormTokenCheck(FormTokenState.VALID, age_seconds=60)
LINKS = '<p><a href="https://a.example">a</a> <a href="https://b.example">b</a></p>'


def _reasons(
    submission: _Submission = _Submission(),
    body_html: str = "<p>Pigeon pose</p>",
    form_token: FormTokenCheck = FRESH,
    rules: spam.SpamRules = RULES,
    signals: spam.Signals | None = None,
) -> tuple[str, ...]:
    return spam.assess(submission, body_html, form_token, rules, signals).reasons


def reason_texts() -> list[str]:
    """One stored reason of every kind (several of some), as spam.assess and the others write
    them; none twice."""
    found: list[str] = []
    found += _reasons(_Submission(honeypot="x"))
    found += _reasons(_Submission(body="Buy now"))
    found += _reasons(_Submission(body="Hold me"))
    for is_spam in (False, True):
        found += _reasons(signals=spam.Signals(duplicate=spam.Duplicate(7, is_spam)))
    for state in FormTokenState:
        found += _reasons(form_token=FormTokenCheck(state, age_seconds=1.0))
    for proof in ProofState:
        found += _reasons(signals=spam.Signals(proof=ProofCheck(proof)))
    found += _reasons(body_html=LINKS)
    one_link = '<p><a href="https://a.example">a</a></p>'
    found += _reasons(body_html=one_link, rules=spam.SpamRules(hold_links=1))
    for score, evidence in ((0.95, 0.95), (0.95, None), (0.95, 0.5), (0.5, None)):
        judgement = spam.FilterJudgement(score, evidence)
        found += _reasons(signals=spam.Signals(filter=judgement))
    found.append(REVIEW_REQUESTED)  # comments.review adds it
    found += [f"imported from {source}" for source in READERS]  # portability.importing's
    return list(dict.fromkeys(found))


def codes_of(reason: str) -> list[str]:
    """The codes of REASON_PATTERNS whose LIKE patterns match `reason` stored alone (as the
    service stores a comment's reasons: a JSON list), by SQLite's LIKE."""
    stored = json.dumps([reason])
    with closing(sqlite3.connect(":memory:")) as db:
        return [
            code
            for code, patterns in REASON_PATTERNS.items()
            if any(db.execute("SELECT ? LIKE ?", (stored, p)).fetchone()[0] for p in patterns)
        ]
