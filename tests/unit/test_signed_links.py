"""The email links' signed tokens (notify/links.py): each kind reads back only as itself,
only with the site's secret; checked without an app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from commentd.notify import links

SECRET = "links-secret-0123456789"
CONFIRMATION = links.ConfirmationLink(7, 3, "nonce-c", stamp=11)
UNSUBSCRIBE = links.UnsubscribeLink(7, stamp=11)
MODERATION = links.ModerationLink(7, links.Action.SPAM, "nonce-m", stamp=11)

# (make a token, read one back) of each kind
KINDS: dict[str, tuple[Callable[[str], str], Callable[[str, str], Any]]] = {
    "moderation": (
        lambda secret: links.moderation_token(secret, MODERATION),
        lambda secret, token: links.read_moderation_token(secret, token, max_age=60),
    ),
    "confirmation": (
        lambda secret: links.confirmation_token(secret, CONFIRMATION),
        lambda secret, token: links.read_confirmation_token(secret, token, max_age=60),
    ),
    "notices": (
        lambda secret: links.notices_token(secret, CONFIRMATION),
        lambda secret, token: links.read_notices_token(secret, token, max_age=60),
    ),
    "unsubscribe": (
        lambda secret: links.unsubscribe_token(secret, UNSUBSCRIBE),
        lambda secret, token: links.read_unsubscribe_token(secret, token),
    ),
}
EXPECTED = {
    "moderation": MODERATION,
    "confirmation": CONFIRMATION,
    "notices": CONFIRMATION,
    "unsubscribe": UNSUBSCRIBE,
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_token_reads_back_as_the_link_it_was_made_for(kind: str) -> None:
    make, read = KINDS[kind]

    assert read(SECRET, make(SECRET)) == EXPECTED[kind]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_token_signed_with_another_secret_is_invalid(kind: str) -> None:
    make, read = KINDS[kind]

    with pytest.raises(links.LinkInvalid):
        read(SECRET, make("another site's secret"))


@pytest.mark.parametrize(
    ("made", "read_as"),
    [(a, b) for a in sorted(KINDS) for b in sorted(KINDS) if a != b],
)
def test_a_token_of_one_kind_is_no_token_of_another(made: str, read_as: str) -> None:
    token = KINDS[made][0](SECRET)

    with pytest.raises(links.LinkInvalid):
        KINDS[read_as][1](SECRET, token)


@pytest.mark.parametrize("token", ["", "junk", "a.b.c", "W10.x.y"])
def test_garbage_is_invalid_for_every_kind(token: str) -> None:
    for _, read in KINDS.values():
        with pytest.raises(links.LinkInvalid):
            read(SECRET, token)


def test_nonces_differ() -> None:
    assert len({links.new_nonce() for _ in range(50)}) == 50
