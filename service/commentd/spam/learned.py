"""The filter that learns from the author: lessons stored in the database, scores from a copy.

A naive-Bayes family classifier as SpamBayes made it: each known feature of a comment gets
Robinson's estimate of how spammy it is (from how many spam and ham lessons had it, smoothed
towards 0.5 when seldom seen), and the strongest ones are combined with Fisher's chi-square
method into one score from 0 (ham) to 1 (spam); near 0.5 means the filter cannot tell.

Lessons: approving teaches "ham", marking spam teaches "spam", rejecting teaches nothing, and
each comment remembers its lesson, so a changed decision first untrains the earlier one.
Every process scores from its own copy of the counts and reloads only the features changed
since the generation it holds: one small query per comment, no query per word.

Unsure means held, never spam (issue 17). Each judgement has two numbers: the score, from
every feature, which holds a comment from the hold threshold up; and the evidence, the score
of the text's own features alone (who-features, such as the name's words, the email's and the
website's domains, left out), pulled towards 0.5 when the text has fewer than SURE_CLUES
clues, so that a short text or one of mostly unknown words stays near 0.5. The filter may
send a comment to the spam folder alone only when both reach the spam threshold and it has
SURE_LESSONS of each kind.

A comment's writing system (features.only_clears) may only lean its score towards ham: a
site's readers who write Polish speak for the next Polish reader, whose words are new to the
filter; spam written in Chinese must not hold a Chinese reader.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from commentd.models import Comment, CommentStatus, SpamFeature, SpamFilterState
from commentd.spam import FilterJudgement
from commentd.spam.features import extract, is_who, only_clears

SPAM, HAM = "spam", "ham"
MIN_LESSONS = 5  # of each kind before the filter's score may act
STRENGTH = 1.0  # Robinson's s: how much an unproven feature leans to the neutral 0.5
NEUTRAL = 0.5  # Robinson's x
MIN_DEVIATION = 0.1  # features closer than this to 0.5 say nothing and are skipped
MAX_DISCRIMINATORS = 150  # the strongest features that decide a score
# Before this many lessons of each kind the filter only holds: nothing goes to spam on its say.
SURE_LESSONS = 50
# The evidence of a text with fewer clues than this is pulled towards 0.5 in proportion (3
# clues: 3/10 of the way from 0.5): two or three known words, however spammy, cannot send a
# comment to spam.
SURE_CLUES = 10
# Word pairs are still counted in lessons (so a lesson is untaught exactly, and a later filter
# may weigh them) but not weighed: with a few hundred lessons a pair only repeats its words'
# evidence, and leaving them out held 8% of real comments instead of 11% for the same 5% of
# spam published on the tuning posts (bench/spam_eval.py, docs/spam.md).
STATE_ID = 1


def lesson_for(status: CommentStatus) -> str | None:
    """What the author's decision teaches: approve is ham, spam is spam, the rest nothing."""
    if status is CommentStatus.SPAM:
        return SPAM
    if status is CommentStatus.APPROVED:
        return HAM
    return None


def features_of(comment: Comment) -> set[str]:
    """The filter's features of a stored comment (features.extract)."""
    return extract(comment.body, comment.name, comment.website, comment.email)


def _chi2_survival(chi2: float, degrees: int) -> float:
    """P(X >= chi2) for a chi-square variable with an even number of degrees of freedom."""
    m = chi2 / 2.0
    term = total = math.exp(-m)
    for i in range(1, degrees // 2):
        term *= m / i
        total += term
    return min(total, 1.0)


def combine(probabilities: list[float]) -> float:
    """Fisher's method both ways (SpamBayes' chi-combining): (1 + S - H) / 2."""
    if not probabilities:
        return NEUTRAL
    if len(probabilities) > MAX_DISCRIMINATORS:
        probabilities = sorted(probabilities, key=lambda p: abs(p - NEUTRAL), reverse=True)
        del probabilities[MAX_DISCRIMINATORS:]
    n = len(probabilities)
    spamminess = 1.0 - _chi2_survival(-2.0 * sum(math.log1p(-p) for p in probabilities), 2 * n)
    hamminess = 1.0 - _chi2_survival(-2.0 * sum(math.log(p) for p in probabilities), 2 * n)
    return (1.0 + spamminess - hamminess) / 2.0


@dataclass(frozen=True)
class Counts:
    """How many spam and ham lessons the filter has taken."""

    spam_lessons: int
    ham_lessons: int


@dataclass(frozen=True)
class FilterState:
    """The spam_filter row: what a process compares its copy with."""

    generation: int
    rebuilt_at: int
    spam_lessons: int
    ham_lessons: int


STATE_COLUMNS = (
    SpamFilterState.generation,
    SpamFilterState.rebuilt_at,
    SpamFilterState.spam_lessons,
    SpamFilterState.ham_lessons,
)


def read_state(session: Session) -> FilterState:
    """The spam_filter row as it is stored now."""
    row = session.execute(select(*STATE_COLUMNS).where(SpamFilterState.id == STATE_ID)).one()
    return FilterState(*row)


class SpamFilter:
    """One process's copy of the lessons, refreshed when the generation in the database moves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = -1  # nothing loaded yet
        self._features: dict[str, tuple[int, int]] = {}
        self._lessons = Counts(0, 0)

    def refresh(self, session: Session, state: FilterState | None = None) -> None:
        """Catch up with the database: nothing more than reading `state` when nothing changed.

        The post path passes the state it read together with the rules (site_rules.py).
        """
        state = state or read_state(session)
        if state.generation == self._generation:
            return
        with self._lock:
            if state.generation == self._generation:
                return
            full = state.rebuilt_at > self._generation or state.generation < self._generation
            query = select(SpamFeature.feature, SpamFeature.spam, SpamFeature.ham)
            if not full:
                query = query.where(SpamFeature.generation > self._generation)
            changed = {row.feature: (row.spam, row.ham) for row in session.execute(query)}
            if full:
                self._features = changed
            else:
                self._features.update(changed)  # readers meanwhile see old or new counts
            self._lessons = Counts(state.spam_lessons, state.ham_lessons)
            self._generation = state.generation

    @classmethod
    def from_counts(cls, features: dict[str, tuple[int, int]], lessons: Counts) -> SpamFilter:
        """A filter holding these counts ({feature: (spam, ham)}), with no database behind it:
        for measuring and testing the scores offline (bench/spam_eval.py, tests/unit)."""
        made = cls()
        made._features = dict(features)
        made._lessons = lessons
        return made

    def score(self, features: Iterable[str]) -> float | None:
        """The spam score of a comment's features, or None before MIN_LESSONS of each kind."""
        judgement = self.judge(features)
        return None if judgement is None else judgement.score

    def judge(self, features: Iterable[str]) -> FilterJudgement | None:
        """The score and the evidence (module docstring) of a comment's features, both 0 (ham)
        to 1 (spam); None before MIN_LESSONS of each kind. The evidence is None before
        SURE_LESSONS of each kind: the filter is not sure of anything yet."""
        lessons, known = self._lessons, self._features
        if lessons.spam_lessons < MIN_LESSONS or lessons.ham_lessons < MIN_LESSONS:
            return None
        text: list[float] = []
        who: list[float] = []
        for feature in features:
            if " " in feature:
                continue  # a word pair: counted, not weighed (above)
            counts = known.get(feature)
            if counts is None:
                continue
            # Never below zero, even if features were extracted differently when taught.
            spam_count, ham_count = max(counts[0], 0), max(counts[1], 0)
            if not spam_count + ham_count:
                continue
            spam_ratio = spam_count / lessons.spam_lessons
            ham_ratio = ham_count / lessons.ham_lessons
            seen = spam_count + ham_count
            estimate = spam_ratio / (spam_ratio + ham_ratio)
            estimate = (STRENGTH * NEUTRAL + seen * estimate) / (STRENGTH + seen)
            if estimate > NEUTRAL and only_clears(feature):
                continue  # a language is no evidence of spam (features.only_clears)
            if abs(estimate - NEUTRAL) >= MIN_DEVIATION:
                (who if is_who(feature) else text).append(estimate)
        score = combine(text + who)
        if min(lessons.spam_lessons, lessons.ham_lessons) < SURE_LESSONS:
            return FilterJudgement(score, None, len(text))
        weight = min(len(text), SURE_CLUES) / SURE_CLUES
        return FilterJudgement(score, NEUTRAL + (combine(text) - NEUTRAL) * weight, len(text))

    @property
    def lessons(self) -> Counts:
        """The lessons this copy holds."""
        return self._lessons

    def counts(self, feature: str) -> tuple[int, int] | None:
        """(spam, ham) lessons this copy holds for a feature, as last refreshed."""
        return self._features.get(feature)


def _upsert(session: Session, rows: list[dict[str, object]]) -> None:
    """Add (or subtract) counts feature by feature in one statement."""
    # Imported here: a PostgreSQL engine loads its dialect anyway, and a server on SQLite
    # stays 2 MB smaller per process without it (docs/architecture.md, "Performance seams").
    on_postgresql = session.get_bind().dialect.name == "postgresql"
    if on_postgresql:
        from sqlalchemy.dialects import postgresql
    insert = postgresql.insert if on_postgresql else sqlite.insert
    statement = insert(SpamFeature).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=[SpamFeature.feature],
        set_={
            "spam": SpamFeature.spam + statement.excluded.spam,
            "ham": SpamFeature.ham + statement.excluded.ham,
            "generation": statement.excluded.generation,
        },
    )
    session.execute(statement)


def teach(session: Session, comment: Comment, lesson: str | None) -> None:
    """Make `lesson` the one the filter holds from this comment, untraining any earlier one.

    Flushes, never commits. Features whose counts fall to zero are removed, so an erased
    comment leaves no trace of its words in the filter.
    """
    previous = comment.lesson
    if previous == lesson:
        return
    spam_delta = (lesson == SPAM) - (previous == SPAM)
    ham_delta = (lesson == HAM) - (previous == HAM)
    generation = session.execute(
        update(SpamFilterState)
        .where(SpamFilterState.id == STATE_ID)
        .values(
            generation=SpamFilterState.generation + 1,
            spam_lessons=SpamFilterState.spam_lessons + spam_delta,
            ham_lessons=SpamFilterState.ham_lessons + ham_delta,
        )
        .returning(SpamFilterState.generation)
    ).scalar_one()
    features = sorted(features_of(comment))
    _upsert(
        session,
        [
            {"feature": f, "spam": spam_delta, "ham": ham_delta, "generation": generation}
            for f in features
        ],
    )
    if previous is not None:
        removed = session.execute(
            delete(SpamFeature).where(
                SpamFeature.feature.in_(features), SpamFeature.spam <= 0, SpamFeature.ham <= 0
            )
        )
        if removed.rowcount:  # type: ignore[attr-defined]
            session.execute(
                update(SpamFilterState)
                .where(SpamFilterState.id == STATE_ID)
                .values(rebuilt_at=generation)
            )
    comment.lesson = lesson
    session.flush()
