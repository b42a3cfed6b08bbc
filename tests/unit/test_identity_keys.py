"""Identity keys (COMMENTD_MODERATION=known): which names and websites count as one, without
an app."""

from __future__ import annotations


def test_identity_keys_fold_case_spacing_and_invisible_characters_only() -> None:
    from commentd.comments.identity import identity_key

    assert identity_key(" Zoë\u200b  Smith ", None) == identity_key("ZOË SMITH", "")
    assert identity_key("Zoe Smith", None) != identity_key("Zoë Smith", None)
    assert identity_key("A", "https://A.example/x/") == identity_key("a", "HTTPS://a.EXAMPLE/x")
    assert identity_key("A", "https://a.example/X") != identity_key("A", "https://a.example/x")
