"""Proof of work without an app (spam/proof.py, spam.assess): challenges checked in every state,
what the layer says among the others, and COMMENTD_POW_MAX_NUMBER's bounds."""

from __future__ import annotations

import time

import pytest

from commentd import spam
from commentd.comments.validation import parse_submission
from commentd.config import POW_MAX_NUMBER_LIMIT, ConfigError, Settings
from commentd.spam.proof import (
    CHALLENGE_LIFETIME,
    ProofCheck,
    ProofState,
    issue,
    verify,
)
from commentd.spam.traps import FormTokenCheck, FormTokenState
from tests.helpers import solve_pow

SECRET = "proof-of-work-secret-0123456789"


def test_a_solved_challenge_is_valid_until_it_expires() -> None:
    solved = solve_pow(issue(SECRET, 500))

    assert verify(SECRET, solved) is ProofState.VALID
    assert verify(SECRET, solved, now=time.time() + CHALLENGE_LIFETIME - 5) is ProofState.VALID
    assert verify(SECRET, solved, now=time.time() + CHALLENGE_LIFETIME + 5) is ProofState.EXPIRED


def test_a_wrong_number_another_key_or_nothing_is_told_apart() -> None:
    challenge = issue(SECRET, 500)
    right = verify(SECRET, solve_pow(challenge))
    numbers = {verify(SECRET, solve_pow(challenge, number=n)) for n in range(501)}

    assert right is ProofState.VALID
    assert numbers == {ProofState.VALID, ProofState.INVALID}  # exactly one number is right
    assert verify("another secret, as long as ours", solve_pow(challenge)) is ProofState.INVALID
    assert verify(SECRET, None) is ProofState.MISSING


def test_challenges_differ_and_carry_the_max_number() -> None:
    challenges = [issue(SECRET, 1234) for _ in range(20)]

    assert len({c["challenge"] for c in challenges}) == 20
    assert {c["maxnumber"] for c in challenges} == {1234}


RULES = spam.SpamRules(min_fill_seconds=3, pow_max_number=1000)
TOKEN_MISSING = FormTokenCheck(FormTokenState.MISSING)
TOO_QUICK = FormTokenCheck(FormTokenState.VALID, age_seconds=1.0)
SUBMISSION = parse_submission({"name": "Dana", "email": "dana@example.com", "body": "Hello"})


def assess(form_token: FormTokenCheck, proof: ProofCheck | None) -> spam.SpamVerdict:
    return spam.assess(SUBMISSION, "<p>Hello</p>", form_token, RULES, spam.Signals(proof=proof))


def test_a_valid_proof_vouches_for_a_missing_form_token_but_not_a_too_quick_one() -> None:
    assert assess(TOKEN_MISSING, ProofCheck(ProofState.VALID)).action is spam.SpamAction.ACCEPT
    quick = assess(TOO_QUICK, ProofCheck(ProofState.VALID))
    assert quick.action is spam.SpamAction.HOLD
    assert quick.reasons == ("sent 1.0 s after the form loaded, minimum 3",)


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (ProofState.MISSING, "pow_missing"),
        (ProofState.INVALID, "pow_invalid"),
        (ProofState.EXPIRED, "pow_expired"),
        (ProofState.SPENT, "pow_replayed"),
    ],
)
def test_every_failed_proof_holds_with_its_reason(state: ProofState, code: str) -> None:
    verdict = assess(FormTokenCheck(FormTokenState.VALID, age_seconds=60), ProofCheck(state))

    assert verdict.action is spam.SpamAction.HOLD
    assert len(verdict.reasons) == 1 and code in verdict.reasons[0]


def test_with_the_layer_off_there_is_no_say() -> None:
    verdict = assess(FormTokenCheck(FormTokenState.VALID, age_seconds=60), None)

    assert verdict == spam.SpamVerdict(spam.SpamAction.ACCEPT, 0.0)


def test_the_difficulty_setting_is_bounded() -> None:
    assert Settings.from_env({}).pow_max_number > 0
    assert Settings.from_env({"COMMENTD_POW_MAX_NUMBER": "0"}).pow_max_number == 0
    for wrong in ("-1", str(POW_MAX_NUMBER_LIMIT + 1), "many"):
        with pytest.raises(ConfigError, match="COMMENTD_POW_MAX_NUMBER"):
            Settings.from_env({"COMMENTD_POW_MAX_NUMBER": wrong})
