"""Small checks on one submission -> SpamVerdict(action, score, reasons in words)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from commentd.comments.rendering import count_links
from commentd.comments.validation import CommentSubmission
from commentd.spam.keywords import KeywordList
from commentd.spam.traps import FormTokenCheck, FormTokenState


class SpamAction(StrEnum):
    ACCEPT = "accept"  # nothing suspicious: the moderation mode decides
    HOLD = "hold"  # waits for the author, whatever the moderation mode
    SPAM = "spam"  # straight to the spam folder (kept, never deleted)


NO_KEYWORDS = KeywordList(())


@dataclass(frozen=True, kw_only=True)
class SpamRules:
    hold_links: int = 2
    min_fill_seconds: int = 3
    moderation_keywords: KeywordList = NO_KEYWORDS  # a match holds the comment
    disallowed_keywords: KeywordList = NO_KEYWORDS  # a match sends it to the spam folder
    duplicate_window_seconds: int = 86400  # 0: the same text again is no reason
    spam_threshold: float = 0.55  # filter score from which a comment is spam
    hold_threshold: float = 0.3  # filter score from which it waits for the author


@dataclass(frozen=True)
class Duplicate:
    """An earlier comment with the same text, within the rules' window."""

    comment_id: int
    is_spam: bool


@dataclass(frozen=True, kw_only=True)
class Signals:
    """What the database knows about a submission, gathered by comments.submit()."""

    duplicate: Duplicate | None = None
    filter_score: float | None = None  # None while the filter has too few lessons to judge


@dataclass(frozen=True)
class SpamVerdict:
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


def assess(
    submission: CommentSubmission,
    body_html: str,
    form_token: FormTokenCheck,
    rules: SpamRules,
    signals: Signals | None = None,
) -> SpamVerdict:
    """Every layer has its say; the strongest action wins and every reason is kept."""
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
    if token_reason:
        hold_reasons.append(token_reason)
    links = count_links(body_html)
    if rules.hold_links and links >= rules.hold_links:
        hold_reasons.append(f"{links} link{'s' * (links != 1)}, limit {rules.hold_links}")
    keyword = rules.moderation_keywords.first_match(*fields)
    if keyword:
        hold_reasons.append(f"matched keyword '{keyword}'")
    if signals.duplicate is not None and not signals.duplicate.is_spam:
        hold_reasons.append(f"same text as comment {signals.duplicate.comment_id}")

    score = signals.filter_score
    if score is not None and score >= rules.spam_threshold:
        spam_reasons.append(f"filter score {score:.2f}, spam from {rules.spam_threshold:.2f}")
    elif score is not None and score >= rules.hold_threshold:
        hold_reasons.append(f"filter score {score:.2f}, held from {rules.hold_threshold:.2f}")

    # The score is the filter's when it could judge; until then, the rules' action in numbers.
    if spam_reasons:
        return SpamVerdict(
            SpamAction.SPAM, 1.0 if score is None else score, (*spam_reasons, *hold_reasons)
        )
    if hold_reasons:
        return SpamVerdict(SpamAction.HOLD, 0.5 if score is None else score, tuple(hold_reasons))
    return SpamVerdict(SpamAction.ACCEPT, score or 0.0)
