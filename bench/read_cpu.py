"""The worker's CPU per public read, in-process, on SQLite and PostgreSQL (no HTTP, no wrk).

    .venv/bin/python -m bench.read_cpu                  # both backends, 20,000 comments
    .venv/bin/python -m bench.read_cpu --backends postgresql --reads 5000

Seeds a database (bench/seed.py), builds the app as `commentd serve` does (create_app), and
times with the process's CPU clock (time.process_time: the worker's own CPU, not the
database server's) the mean cost of:

- `version lookup`: PageCache.current_version, the one query of every public read;
- `cached read`: a whole GET of `bench-20`'s comments through the app's WSGI callable
  (the PublicReads accelerator), the page in the cache;
- `long-tail read`: the same GET of a random post, never in the cache (an empty page cache
  before each read: the rebuild every uncached post costs).

The figures are the median of `--repeats` runs of `--reads` reads each; the machine's other
load moves them, so compare figures taken in the same run of this script.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

from .run import database
from .seed import post_slug, seed


def cpu_per_call(call: Callable[[int], Any], reads: int, repeats: int) -> float:
    """Median over `repeats` of the mean CPU µs of `call(i)` for i in range(reads)."""
    runs = []
    for _ in range(repeats):
        started = time.process_time()
        for i in range(reads):
            call(i)
        runs.append((time.process_time() - started) / reads * 1e6)
    return statistics.median(runs)


def measure(database_url: str, posts: int, reads: int, repeats: int) -> dict[str, float]:
    from commentd.config import Settings
    from commentd.web.app import create_app
    from commentd.web.services import of as services_of

    settings = Settings(
        database_url=database_url, admin_token="x" * 32, public_url="https://comments.example"
    )
    app = create_app(settings)
    services = services_of(app)
    cache = services.page_cache
    wsgi = app.wsgi_app
    status: list[str] = []

    def start_response(code: str, _headers: Iterable[Any], *_rest: Any) -> None:
        status.append(code)

    def environ(slug: str) -> dict[str, Any]:
        return EnvironBuilder(path=f"/api/posts/{slug}/comments").get_environ()

    def get(env: dict[str, Any]) -> bytes:
        status.clear()
        body = b"".join(wsgi(dict(env), start_response))
        assert status[0].startswith("200"), status
        return body

    randomly = random.Random(19)
    slugs = [post_slug(randomly.randrange(1, posts + 1)) for _ in range(reads)]
    environs = [environ(slug) for slug in slugs]
    cached = environ("bench-20")
    get(cached)

    def long_tail(i: int) -> None:
        with cache._lock:  # an empty cache: every read rebuilds its page
            cache._pages.clear()
            cache._cached_bytes = 0
        get(environs[i])

    try:
        return {
            "version lookup": cpu_per_call(
                lambda i: cache.current_version(slugs[i]), reads, repeats
            ),
            "cached read": cpu_per_call(lambda _i: get(cached), reads, repeats),
            "long-tail read": cpu_per_call(long_tail, reads, repeats),
        }
    finally:
        services.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--comments", type=int, default=20_000)
    parser.add_argument("--posts", type=int, default=2_000)
    parser.add_argument("--reads", type=int, default=2_000, help="reads per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the request log costs the same either way; keep it out
    print(f"CPU µs per call, median of {args.repeats} runs of {args.reads} reads", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="commentd-read-cpu-") as tmp:
        for backend in args.backends.split(","):
            with database(backend, Path(tmp), "readcpu") as url:
                seed(url, posts=args.posts, comments=args.comments)
                figures = measure(url, args.posts, args.reads, args.repeats)
            for name, value in figures.items():
                print(f"{backend:10} {name:15} {value:8.1f} µs")


if __name__ == "__main__":
    main()
