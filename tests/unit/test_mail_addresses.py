"""Mail addresses and error texts (issue 12), without an app or a mail server."""

from __future__ import annotations

import pytest

from commentd.notify import outbox, smtp


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("dana@example.com", "dana@example.com"),
        ("dana@bücher.example", "dana@xn--bcher-kva.example"),
        ("Dana@BÜCHER.example", "Dana@xn--bcher-kva.example"),
        ("dana@xn--bcher-kva.example", "dana@xn--bcher-kva.example"),
        ("dana@例え.テスト", "dana@xn--r8jz45g.xn--zckzah"),
        ("dänä@bücher.example", "dänä@xn--bcher-kva.example"),  # needs SMTPUTF8 still
    ],
)
def test_smtp_addresses_carry_their_domain_in_ascii(address: str, expected: str) -> None:
    assert smtp.smtp_address(address) == expected


def test_an_address_whose_domain_has_no_ascii_form_is_undeliverable() -> None:
    with pytest.raises(smtp.Undeliverable):
        smtp.smtp_address("dana@bü..example")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "WebhookFailed: https://api.netlify.com/build_hooks/5f1e?k=1 answered 500",
            "WebhookFailed: https://api.netlify.com/… answered 500",
        ),
        (
            "smtps://me%40x.example:app-pass@smtp.x.example:465 down",
            "smtps://smtp.x.example:465 down",
        ),
        (
            "SMTPRecipientsRefused: {'dana@example.com': (550, b'<dana@example.com> unknown')}",
            "SMTPRecipientsRefused: {'<address>': (550, b'<<address>> unknown')}",
        ),
        ("ConnectionRefusedError: [Errno 111] Connection refused", None),
    ],
)
def test_error_texts_lose_urls_paths_credentials_and_addresses(
    text: str, expected: str | None
) -> None:
    assert outbox.scrub(text) == (expected if expected is not None else text)
