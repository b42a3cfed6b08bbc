"""The reasons a comment carries, their codes and the console's words for them: every reason
the service can write has exactly one code (comments.search.REASON_PATTERNS, the reason
filter's), and the console (static/moderation.js, REASONS) has words for every code and for
no other. A new reason without a code, or a new code without words, fails here."""

from __future__ import annotations

import re
from pathlib import Path

from commentd.comments.search import REASON_PATTERNS
from tests.reason_samples import codes_of, reason_texts

CONSOLE = Path(__file__).resolve().parents[2] / "service/commentd/static/moderation.js"


def console_reason_codes() -> set[str]:
    """The keys of moderation.js's REASONS map, read from its source."""
    found = re.search(r"\n  var REASONS = \{(.*?)\};\n", CONSOLE.read_text(), re.DOTALL)
    assert found, "moderation.js has no REASONS map"
    return set(re.findall(r'(?:^|[{,])\s*"?([a-z_]+)"?\s*:\s*"', found.group(1)))


def test_every_reason_the_service_writes_has_exactly_one_code() -> None:
    coded = {reason: codes_of(reason) for reason in reason_texts()}
    assert {r: c for r, c in coded.items() if len(c) != 1} == {}
    # And every code is one the service can write (no dead option in the filter).
    assert {c[0] for c in coded.values()} == set(REASON_PATTERNS)


def test_the_console_has_words_for_every_reason_code_and_no_other() -> None:
    assert console_reason_codes() == set(REASON_PATTERNS)


def test_the_codes_are_read_from_the_console() -> None:
    # The parse above would pass on an empty map read from nothing: it reads the real one.
    assert {"honeypot", "form_token", "filter"} <= console_reason_codes()
