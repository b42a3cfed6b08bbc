"""What the HTML fragment of a thread costs to make (publishing/fragment.py), in process:

    .venv/bin/python -m bench.fragment

`render_thread` for posts of 0, 2, 5 and 20 comments (what `commentd export static` pays per
post besides the JSON), and `public_page(..., inline_avatars=True)` for 20 distinct commenters
(the identicons drawn and inlined once each). Medians of 5 rounds, in milliseconds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from commentd.comments.public import avatar_data_uri
from commentd.publishing.fragment import render_thread

PUBLIC_URL = "https://comments.example"
ROUNDS = 5


def page(n: int) -> dict[str, Any]:
    """A public list of `n` comments, every third a reply, every other with a website."""
    return {
        "slug": "2026/bench-post",
        "count": n,
        "closed": False,
        "comments": [
            {
                "id": i + 1,
                "parent_id": i if i % 3 else None,
                "author": {
                    "name": f"Reader {i}",
                    "website": "https://reader.example" if i % 2 else None,
                    "avatar": avatar_data_uri(f"{i:032x}"),
                },
                "body_html": "<p>A comment of a sentence or two, with <em>emphasis</em> and "
                '<a href="https://example.org" rel="nofollow ugc noopener">a link</a>.</p>',
                "created_at": f"2026-11-{i % 28 + 1:02d}T09:30:00Z",
            }
            for i in range(n)
        ],
    }


def median_ms(work: Callable[[], object], repeat: int) -> float:
    """Median over ROUNDS of the mean time of `repeat` calls of `work`, in milliseconds."""
    work()
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(repeat):
            work()
        rounds.append((time.perf_counter() - started) / repeat * 1000)
    return statistics.median(rounds)


def render_one(thread: dict[str, Any]) -> str:
    """The fragment of `thread` in English."""
    return render_thread(thread, version="v", language="en", public_url=PUBLIC_URL)


def main() -> None:
    """Print one line per measurement."""
    for n in (0, 2, 5, 20):
        ms = median_ms(partial(render_one, page(n)), 2000 if n < 20 else 500)
        print(f"render_thread, {n:2d} comments: {ms:.3f} ms")

    def draw_twenty() -> None:
        avatar_data_uri.cache_clear()
        for i in range(20):
            avatar_data_uri(f"{i:032x}")

    print(f"20 identicons drawn and inlined (uncached): {median_ms(draw_twenty, 200):.3f} ms")


if __name__ == "__main__":
    main()
