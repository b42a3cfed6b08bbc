"""Keyword lists: time to assess one 3,000-character comment against small and maximum lists.

The matching cost must not grow with the lists' size (issue 12). Prints, for 10 and for
10,000 keywords (two lists of 5,000, the documented maximum), the median time of
`spam.assess` over one comment that matches no keyword (the common case: every list is
searched to the end), and building the lists once.

Run from the repository: `.venv/bin/python -m bench.keywords`.
"""

from __future__ import annotations

import random
import statistics
import string
import time

from commentd import spam
from commentd.comments.validation import CommentSubmission
from commentd.spam.keywords import ENTRIES_MAX, KeywordList
from commentd.spam.traps import FormTokenCheck, FormTokenState

ROUNDS = 50


def words(count: int, rng: random.Random) -> list[str]:
    """Made-up entries like an author's: words, a few phrases and `*` entries."""
    entries = []
    for i in range(count):
        word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 10)))
        if i % 10 == 0:
            word += " " + "".join(rng.choices(string.ascii_lowercase, k=6))
        elif i % 17 == 0:
            word = "*" + word + "*"
        entries.append(word)
    return entries


def comment(rng: random.Random) -> CommentSubmission:
    text = []
    while sum(len(word) + 1 for word in text) < 3000:
        text.append("".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))))
    body = " ".join(text)[:3000]
    return CommentSubmission(
        name="Dana", email="dana@example.com", body=body, website="https://dana.example"
    )


def measure(keyword_count: int) -> tuple[float, float]:
    rng = random.Random(12)
    per_list = keyword_count // 2
    started = time.perf_counter()
    rules = spam.SpamRules(
        moderation_keywords=KeywordList(words(per_list, rng)),
        disallowed_keywords=KeywordList(words(per_list, rng)),
    )
    built = time.perf_counter() - started
    submission = comment(random.Random(3))
    token = FormTokenCheck(FormTokenState.MISSING)
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        verdict = spam.assess(submission, "<p></p>", token, rules)
        times.append(time.perf_counter() - started)
    assert not any("keyword" in reason for reason in verdict.reasons), verdict
    return statistics.median(times), built


def main() -> None:
    assert 2 * ENTRIES_MAX == 10_000
    for count in (10, 2 * ENTRIES_MAX):
        assess, built = measure(count)
        print(
            f"{count:>6} keywords: assess a 3,000-character comment {assess * 1000:8.3f} ms "
            f"(median of {ROUNDS}); lists built in {built * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
