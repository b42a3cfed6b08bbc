"""Form tokens (spam/traps.py): when the form was shown, signed; checked without an app."""

from __future__ import annotations

import time

import pytest

from commentd.spam.traps import FORM_TOKEN_LIFETIME, FormTokenState, check, issue

SECRET = "form-token-secret-0123456789"


def test_a_fresh_token_is_valid_and_knows_its_age() -> None:
    token = issue(SECRET)

    checked = check(SECRET, token, now=time.time() + 30)

    assert checked.state is FormTokenState.VALID
    assert checked.age_seconds is not None and 29 <= checked.age_seconds <= 32


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_is_missing(token: str | None) -> None:
    assert check(SECRET, token).state is FormTokenState.MISSING


@pytest.mark.parametrize("token", ["junk", "a.b.c", issue("another site's secret")])
def test_a_forged_token_or_one_from_another_key_is_invalid(token: str) -> None:
    assert check(SECRET, token).state is FormTokenState.INVALID


def test_a_token_past_its_lifetime_is_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue(SECRET)
    later = time.time() + FORM_TOKEN_LIFETIME + 5
    monkeypatch.setattr(time, "time", lambda: later)  # itsdangerous reads the clock itself

    assert check(SECRET, token).state is FormTokenState.EXPIRED


def test_every_token_differs() -> None:
    assert len({issue(SECRET) for _ in range(20)}) == 20
