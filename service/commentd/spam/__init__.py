"""Small checks on one submission -> SpamVerdict(action, score, reasons in words).

`assess` is pure: what it needs from the database (an earlier comment with the same text, the
learned filter's score) comes in as Signals, gathered by `spam.screening.screen`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from commentd.config import ModerationMode
from commentd.spam.keywords import KeywordList
from commentd.spam.proof import ProofCheck, ProofState
from commentd.spam.traps import FormTokenCheck, FormTokenState


class Submission(Protocol):
    """What the spam layers read of a reader's comment (comments.validation.CommentSubmission
    has it all; spam imports nothing from comments)."""

    @property
    def name(self) -> str:
        """The name as given (1 to 80 visible characters)."""
        ...

    @property
    def email(self) -> str:
        """The address as given, normalised (never shown to anyone)."""
        ...

    @property
    def body(self) -> str:
        """The comment's Markdown source (1 to 10,000 characters)."""
        ...

    @property
    def website(self) -> str | None:
        """The http(s) URL given, or None."""
        ...

    @property
    def form_token(self) -> str | None:
        """The signed token the form was served with, or None (a form without script)."""
        ...

    @property
    def altcha(self) -> str | None:
        """The proof of work as sent (ALTCHA's base64 payload, spam.proof), or None."""
        ...

    @property
    def honeypot(self) -> str:
        """The hidden field people never fill in: "" for a person."""
        ...


def count_links(html: str) -> int:
    """Links in a comment's rendered HTML (comments.rendering.render_body): its linkify rule
    makes bare URLs anchors too, so every link, typed or bare, is one `<a `."""
    return html.count("<a ")


class SpamAction(StrEnum):
    """What the spam layers together say should happen to a comment."""

    ACCEPT = "accept"  # nothing suspicious: the moderation mode decides
    HOLD = "hold"  # waits for the author, whatever the moderation mode
    SPAM = "spam"  # straight to the spam folder (kept, never deleted)


NO_KEYWORDS = KeywordList(())


@dataclass(frozen=True, kw_only=True)
class SpamRules:
    """The author's spam rules, compiled (spam.rules.compile_rules builds them from Settings and
    the stored changes). Counts are whole numbers, times seconds, thresholds filter scores 0-1."""

    hold_links: int = 2
    min_fill_seconds: int = 3
    moderation_keywords: KeywordList = NO_KEYWORDS  # a match holds the comment
    disallowed_keywords: KeywordList = NO_KEYWORDS  # a match sends it to the spam folder
    duplicate_window_seconds: int = 86400  # 0: the same text again is no reason
    spam_threshold: float = 0.84  # filter score (and text evidence) from which it is spam
    hold_threshold: float = 0.4  # filter score from which it waits for the author
    # Proof of work (spam.proof): the challenges' max number, 0 when the layer is off.
    pow_max_number: int = 0
    # What happens to a comment no defence holds (COMMENTD_MODERATION, or the author's choice).
    moderation: ModerationMode = ModerationMode.ALL


@dataclass(frozen=True)
class Duplicate:
    """An earlier comment with the same text, within the rules' window."""

    comment_id: int
    is_spam: bool


@dataclass(frozen=True)
class FilterJudgement:
    """The learned filter's say on one comment (spam.learned.SpamFilter.judge).

    `score`: from every feature, 0 (ham) to 1 (spam); it holds a comment from the hold
    threshold up. `evidence`: what the text alone says, pulled towards 0.5 when it has few
    clues (who-features such as name words and email domain left out), 0 to 1; None while the
    filter has too few lessons to be sure of anything. Spam needs both at or above the spam
    threshold. `clues`: the text's features that said something.
    """

    score: float
    evidence: float | None
    clues: int = 0


@dataclass(frozen=True, kw_only=True)
class Signals:
    """What the database knows about a submission, gathered by spam.screening.screen()."""

    duplicate: Duplicate | None = None
    filter: FilterJudgement | None = None  # None while the filter has too few lessons to judge
    proof: ProofCheck | None = None  # the proof of work, checked; None while that layer is off

    @property
    def filter_score(self) -> float | None:
        """The filter's score, None while it cannot judge."""
        return None if self.filter is None else self.filter.score


@dataclass(frozen=True)
class SpamVerdict:
    """The spam layers' joint answer: the strongest action, a score, and every reason in
    words (shown to the author in the moderation queue, stored with the comment)."""

    action: SpamAction
    score: float  # 0 (clean) to 1 (certainly spam): the filter's, or 1 / 0.5 / 0 by the rules
    reasons: tuple[str, ...] = ()


def _form_token_reason(check: FormTokenCheck, rules: SpamRules) -> str | None:
    if check.state is FormTokenState.MISSING:
        return "no form token (not sent from the comment form)"
    if check.state is FormTokenState.INVALID:
        return "form token forged or from another site"
    if check.state is FormTokenState.EXPIRED:
        return "form token expired"
    if check.age_seconds is not None and check.age_seconds < rules.min_fill_seconds:
        return (
            f"sent {check.age_seconds:.1f} s after the form loaded, "
            f"minimum {rules.min_fill_seconds}"
        )
    return None


def filter_verdict(
    judgement: FilterJudgement | None, rules: SpamRules
) -> tuple[SpamAction, str] | None:
    """The learned filter's action (SPAM or HOLD) and its reason in words, or None when it
    has nothing to say: spam only when the score and the text's own evidence both reach the
    spam threshold; held from the hold threshold otherwise, and when the score alone reaches
    the spam threshold. Pure."""
    if judgement is None:
        return None
    score, evidence = judgement.score, judgement.evidence
    spam_from, hold_from = rules.spam_threshold, rules.hold_threshold
    if score >= spam_from and evidence is not None and evidence >= spam_from:
        return SpamAction.SPAM, f"filter score {score:.2f}, spam from {spam_from:.2f}"
    if score >= spam_from:
        if evidence is None:
            return SpamAction.HOLD, f"filter score {score:.2f}, held: too few lessons to be sure"
        return SpamAction.HOLD, (
            f"filter score {score:.2f}, held: the text alone says {evidence:.2f}, "
            f"spam from {spam_from:.2f}"
        )
    if score >= hold_from:
        return SpamAction.HOLD, f"filter score {score:.2f}, held from {hold_from:.2f}"
    return None


_PROOF_REASONS = {
    ProofState.MISSING: "no proof of work (pow_missing: not solved by the comment widget)",
    ProofState.INVALID: "proof of work wrong or forged (pow_invalid)",
    ProofState.EXPIRED: "proof of work expired (pow_expired: challenge older than an hour)",
    ProofState.SPENT: "proof of work used before (pow_replayed)",
}


def _proof_reason(proof: ProofCheck | None) -> str | None:
    return None if proof is None else _PROOF_REASONS.get(proof.state)


def assess(
    submission: Submission,
    body_html: str,
    form_token: FormTokenCheck,
    rules: SpamRules,
    signals: Signals | None = None,
) -> SpamVerdict:
    """Every layer has its say; the strongest action wins and every reason is kept.

    `body_html` is the submission's body as rendered (for its links); `form_token` what
    traps.check made of its form token. Pure: reads nothing else, raises nothing.
    """
    signals = signals or Signals()
    fields = (submission.body, submission.name, submission.website, submission.email)
    spam_reasons: list[str] = []
    hold_reasons: list[str] = []
    if submission.honeypot:
        spam_reasons.append("honeypot filled")
    disallowed = rules.disallowed_keywords.first_match(*fields)
    if disallowed:
        spam_reasons.append(f"matched disallowed keyword '{disallowed}'")
    if signals.duplicate is not None and signals.duplicate.is_spam:
        spam_reasons.append(f"same text as spam comment {signals.duplicate.comment_id}")

    token_reason = _form_token_reason(form_token, rules)
    proven = signals.proof is not None and signals.proof.state is ProofState.VALID
    if proven and form_token.state is not FormTokenState.VALID:
        # Work done in a browser vouches for a form without (or with a stale) token.
        token_reason = None
    if token_reason:
        hold_reasons.append(token_reason)
    proof_reason = _proof_reason(signals.proof)
    if proof_reason:
        hold_reasons.append(proof_reason)
    links = count_links(body_html)
    if rules.hold_links and links >= rules.hold_links:
        hold_reasons.append(f"{links} link{'s' * (links != 1)}, limit {rules.hold_links}")
    keyword = rules.moderation_keywords.first_match(*fields)
    if keyword:
        hold_reasons.append(f"matched keyword '{keyword}'")
    if signals.duplicate is not None and not signals.duplicate.is_spam:
        hold_reasons.append(f"same text as comment {signals.duplicate.comment_id}")

    score = signals.filter_score
    said = filter_verdict(signals.filter, rules)
    if said is not None:
        (spam_reasons if said[0] is SpamAction.SPAM else hold_reasons).append(said[1])

    # The score is the filter's when it could judge; until then, the rules' action in numbers.
    if spam_reasons:
        return SpamVerdict(
            SpamAction.SPAM, 1.0 if score is None else score, (*spam_reasons, *hold_reasons)
        )
    if hold_reasons:
        return SpamVerdict(SpamAction.HOLD, 0.5 if score is None else score, tuple(hold_reasons))
    return SpamVerdict(SpamAction.ACCEPT, score or 0.0)
