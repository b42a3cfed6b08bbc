"""The hosted page's session cookie value (web/session_cookie.py): signed, timed, bound."""

from __future__ import annotations

import time

import pytest

from commentd.web import session_cookie as cookies

SECRET = "a-site-secret-for-these-tests-0123456789"


def test_a_signed_value_reads_back_within_its_lifetime_and_not_after() -> None:
    binding = cookies.token_binding(SECRET, "ab" * 32)
    value = cookies.sign(SECRET, 7, binding)
    now = time.time()

    claim = cookies.read(SECRET, value, 3600, now=now)

    assert claim is not None and (claim.token_id, claim.binding) == (7, binding)
    assert abs(claim.signed_at - now) <= 1
    assert cookies.read(SECRET, value, 3600, now=now + 3599) is not None
    assert cookies.read(SECRET, value, 3600, now=now + 3602) is None  # expired
    assert cookies.read(SECRET, value, 3600, now=now - 30) is not None  # a clock a little behind
    assert cookies.read(SECRET, value, 3600, now=now - 120) is None  # signed "in the future"
    assert cookies.read(SECRET + "x", value, 3600, now=now) is None  # another secret


def test_each_sign_in_has_its_own_nonce_and_csrf_value() -> None:
    first = cookies.read(SECRET, cookies.sign(SECRET, None, "b"), 60)
    second = cookies.read(SECRET, cookies.sign(SECRET, None, "b"), 60)

    assert first is not None and second is not None and first.token_id is None
    assert first.nonce != second.nonce
    assert cookies.csrf_value(SECRET, first.nonce) != cookies.csrf_value(SECRET, second.nonce)
    assert len(cookies.csrf_value(SECRET, first.nonce)) == 32


def test_the_value_never_holds_the_token_or_its_stored_hash() -> None:
    admin = "the-admin-token-value-0123456789"
    stored_hash = "cd" * 32
    values = [
        cookies.sign(SECRET, None, cookies.admin_binding(SECRET, admin)),
        cookies.sign(SECRET, 3, cookies.token_binding(SECRET, stored_hash)),
    ]

    for value in values:
        assert admin not in value and stored_hash not in value
        assert len(value) < cookies.MAX_COOKIE_CHARS
    assert cookies.admin_binding(SECRET, admin) != cookies.admin_binding(SECRET, admin + "2")


@pytest.mark.parametrize("value", ["", "x", "a.b.c", "é" * 10, "A" * 600])
def test_anything_else_reads_as_nothing(value: str) -> None:
    assert cookies.read(SECRET, value, 60) is None


def test_same_value_compares_any_text_without_error() -> None:
    assert cookies.same_value("abc", "abc")
    assert not cookies.same_value("abd", "abc")
    assert not cookies.same_value("é\udcff", "abc")


@pytest.mark.parametrize(
    "payload",
    [
        [1, "b", "n"],
        {"t": True, "b": "b", "n": "n"},
        {"t": "3", "b": "b", "n": "n"},
        {"t": 3, "b": 2, "n": "n"},
        {"t": 3, "b": "b"},
    ],
)
def test_a_signed_value_of_another_shape_reads_as_nothing(payload: object) -> None:
    value = cookies._serializer(SECRET).dumps(payload)

    assert cookies.read(SECRET, value, 60) is None
