"""The learned spam filter's features and its combining of evidence, without a database."""

from __future__ import annotations

from commentd.spam.features import extract
from commentd.spam.learned import combine


def test_features_cover_words_pairs_links_and_shape() -> None:
    features = extract(
        "Call 0800 123 4567 now! See https://www.shop.example.co.uk/x",
        name="Deal Maker",
        website="https://deals.example",
        email="a@mail.example",
    )

    assert {"call", "call #4", "link:example.co.uk", "links:1", "has:phone"} <= features
    assert {"name:deal", "site:deals.example", "has:website", "email:mail.example"} <= features


def test_combining_no_evidence_is_undecided_and_strong_evidence_is_decisive() -> None:
    assert combine([]) == 0.5
    assert combine([0.99] * 5) > 0.95
    assert combine([0.01] * 5) < 0.05
