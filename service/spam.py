"""Small checks on one submission -> SpamVerdict(action, score, reasons in words)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .formtokens import FormTokenCheck, FormTokenState
from .rendering import count_links
from .validation import CommentSubmission


class SpamAction(StrEnum):
    ACCEPT = "accept"  # nothing suspicious: the moderation mode decides
    HOLD = "hold"  # waits for the author, whatever the moderation mode
    SPAM = "spam"  # straight to the spam folder (kept, never deleted)


@dataclass(frozen=True, kw_only=True)
class SpamRules:
    hold_links: int = 2
    min_fill_seconds: int = 3


@dataclass(frozen=True)
class SpamVerdict:
    action: SpamAction
    score: float  # 0 (clean) to 1 (certainly spam)
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
    submission: CommentSubmission, body_html: str, form_token: FormTokenCheck, rules: SpamRules
) -> SpamVerdict:
    """Every layer has its say; the strongest action wins and every reason is kept."""
    if submission.honeypot:
        return SpamVerdict(SpamAction.SPAM, 1.0, ("honeypot filled",))
    reasons: list[str] = []
    token_reason = _form_token_reason(form_token, rules)
    if token_reason:
        reasons.append(token_reason)
    links = count_links(body_html)
    if rules.hold_links and links >= rules.hold_links:
        reasons.append(f"{links} links, limit {rules.hold_links}")
    if reasons:
        return SpamVerdict(SpamAction.HOLD, 0.5, tuple(reasons))
    return SpamVerdict(SpamAction.ACCEPT, 0.0)
