"""A post's cost in-process: SQL statements and CPU per POST, and where the CPU goes.

    .venv/bin/python -m bench.post_profile [--posts 400] [--database-url URL] [--profile]

The app as `commentd serve` builds it (create_app, every layer on, the limits lifted but each
still hit), Flask's test client as the client, on a fresh SQLite file (or the database named,
whose tables it creates with `commentd migrate` first). Each post comes from another address
and email (new identity) and every fourth one again with the token it got (proven identity).
Prints statements per post (counted with an SQLAlchemy event) and CPU per post (process
time), then, with --profile, cProfile's 25 largest cumulative entries.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import event

LIFTED = {
    "COMMENTD_POST_RATE_LIMIT": "100000 per second",
    "COMMENTD_SITE_RATE_LIMIT": "100000 per second",
    "COMMENTD_EMAIL_RATE_LIMIT": "100000 per second",
    "COMMENTD_SLUG_RATE_LIMIT": "100000 per second",
    "COMMENTD_MIN_POST_INTERVAL": "1",  # kept on: one hit more per post, as shipped
    "COMMENTD_MIN_FILL_SECONDS": "0",
    "COMMENTD_DUPLICATE_WINDOW_SECONDS": "0",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=400)
    parser.add_argument("--database-url")
    parser.add_argument("--storage-uri", default="memory://")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (tottime: own)")
    parser.add_argument("--top", type=int, default=25, help="entries of the profile printed")
    parser.add_argument("--show-sql", action="store_true", help="print every statement")
    parser.add_argument("--in-process", action="store_true", help="memory:// as one process")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="post-profile-"))
    url = args.database_url or f"sqlite:///{workdir / 'c.db'}"
    env = (
        os.environ
        | LIFTED
        | {
            "COMMENTD_DATABASE_URL": url,
            "COMMENTD_RATELIMIT_STORAGE_URI": args.storage_uri,
            "COMMENTD_DATA_DIR": str(workdir),
        }
    )
    os.environ.update(env)
    subprocess.run([sys.executable, "-m", "commentd", "migrate"], check=True, env=env)

    from commentd.config import Settings

    try:
        from commentd.ops.server import shared_limits
    except ImportError:  # a tree from before the shared counters file (a before/after run)
        shared_limits = None  # type: ignore[assignment]
    from commentd.web.app import create_app
    from commentd.web.services import of

    settings = Settings.from_env(env)
    if not args.in_process and shared_limits is not None:
        settings = shared_limits(settings, workdir)
    app = create_app(settings)
    statements: Counter[str] = Counter()

    @event.listens_for(of(app).engine, "before_cursor_execute")
    def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements[statement.split(None, 1)[0].upper()] += 1
        if args.show_sql:
            print("   ", " ".join(statement.split())[:160])

    client = app.test_client()
    tokens: list[str] = []

    def post(n: int) -> None:
        fields = {
            "name": "Bench reader",
            "email": f"r{n}@example.com",
            "website": "https://example.org",
            # bench/wrk.lua's comment
            "body": f"Benchmark comment {n}: *emphasis*, `code` and a link https://example.org/{n}",
        }
        if n % 4 == 3 and tokens:
            fields |= {"email": f"r{n - 3}@example.com", "commenter_token": tokens[-1]}
        answer = client.post(
            f"/api/posts/p{n % 50}/comments",
            json=fields,
            environ_base={"REMOTE_ADDR": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"},
        )
        assert answer.status_code == 201, answer.get_data(as_text=True)
        if n % 4 == 0:
            tokens.append(answer.get_json()["commenter_token"])

    for n in range(50):  # warm: every post exists, caches filled
        post(n)
    statements.clear()
    profiler = cProfile.Profile() if args.profile else None
    started = time.process_time()
    if profiler:
        profiler.enable()
    for n in range(50, 50 + args.posts):
        post(n)
    if profiler:
        profiler.disable()
    cpu = (time.process_time() - started) / args.posts
    total = sum(statements.values())
    print(f"database: {url.split(':', 1)[0]}, limits: {settings.ratelimit_storage_uri[:20]}")
    print(f"statements per post: {total / args.posts:.2f}  ({dict(statements)})")
    print(f"CPU per post: {cpu * 1000:.2f} ms (process time, {args.posts} posts)")
    if profiler:
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
