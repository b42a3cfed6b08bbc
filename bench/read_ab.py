"""Two checkouts of commentd side by side: the cached 20-comment read (or posting) on embedded
defaults.

    mkdir /tmp/before && git archive <commit> service migrations alembic.ini | tar -x -C /tmp/before
    .venv/bin/python -m bench.read_ab /tmp/before .            # medians of 3 runs of 5 s
    .venv/bin/python -m bench.read_ab /tmp/before . --posting  # posting, as bench.run posts
    .venv/bin/python -m bench.read_ab /tmp/before . --random --comments 100000 --posts 20000
    .venv/bin/python -m bench.read_ab /tmp/before . --backend postgresql   # as compose runs

Each tree's `commentd serve` runs on its own copy of one seeded SQLite database (bench/seed.py,
rate limits lifted as in bench/run.py), and wrk (16 connections, bench/wrk.lua) reads
`bench-20` from each in turn, round after round, so the host's noise falls on both alike.
With `--posting` it posts instead, as bench.run's posting figure does (a new comment from a new
address to a random seeded post, with a form token). With `--backend postgresql` each tree
serves its own seeded PostgreSQL database with Redis for its limits (bench.run's second
backend, BENCH_POSTGRES and BENCH_REDIS), without bench.run's -OO (memory is not compared).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import requests

from .run import (
    CONNECTIONS,
    Figure,
    database,
    measure_posting,
    rate_limit_storage,
    server_env,
    serving,
    wrk,
)
from .seed import seed

# `commentd serve` from the given tree, whatever is installed or current (`-m` would take the
# cwd's): the package is `commentd` in `service/` since issue 13's reshape, and was the flat
# package `service` before it, so a tree of either age can be compared with the other.
FROM_TREE = [
    sys.executable,
    "-c",
    "import os, runpy, sys; os.chdir(sys.argv.pop(1)); "
    "reshaped = os.path.isdir('service/commentd'); "
    "sys.path.insert(0, os.path.join(os.getcwd(), 'service') if reshaped else os.getcwd()); "
    "runpy.run_module('commentd.ops.cli' if reshaped else 'service.cli', run_name='__main__')",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", type=Path, help="source trees to compare")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--comments", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=500)
    parser.add_argument("--posting", action="store_true", help="measure posting, not the read")
    parser.add_argument(
        "--random",
        action="store_true",
        help="reads of random seeded posts (bench.run's long tail; seed more posts than fit "
        "the page cache, e.g. --comments 100000 --posts 20000)",
    )
    parser.add_argument(
        "--conditional",
        action="store_true",
        help="the read as a revalidation (If-None-Match: its ETag), answered 304",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="commentd-read-ab-"))
    try:
        seeded = workdir / "seed.db"
        if args.backend == "sqlite":
            seed(f"sqlite:///{seeded}", posts=args.posts, comments=args.comments)
        runs: dict[str, list[Figure]] = {}
        with ExitStack() as stack:
            servers = {}
            for n, tree in enumerate(args.trees):
                if args.backend == "sqlite":
                    url = f"sqlite:///{workdir / f'tree{n}.db'}"
                    shutil.copy(seeded, url.removeprefix("sqlite:///"))
                else:
                    url = stack.enter_context(database(args.backend, workdir, f"tree{n}"))
                    seed(url, posts=args.posts, comments=args.comments)
                limits = stack.enter_context(rate_limit_storage(args.backend))
                env = server_env(url, limits)
                servers[str(tree)] = stack.enter_context(
                    serving(
                        [*FROM_TREE, str(tree.resolve()), "serve"], env, workdir / f"tree{n}.log"
                    )
                )
            for n, tree in enumerate(args.trees):
                log = (workdir / f"tree{n}.log").read_text()
                print(tree, next(x for x in log.splitlines() if "Using worker" in x), flush=True)
            for server in servers.values():  # warm-up
                wrk("warm-up", f"{server.url}/api/posts/bench-20/comments", 2)
            revalidating = {
                name: {"If-None-Match": etag_of(f"{server.url}/api/posts/bench-20/comments")}
                if args.conditional
                else None
                for name, server in servers.items()
            }
            for _ in range(args.rounds):
                for name, server in servers.items():
                    if args.posting:
                        figure = measure_posting(server, args.duration, args.posts, name)
                    elif args.random:
                        figure = wrk(
                            name,
                            f"{server.url}/",
                            args.duration,
                            env={"BENCH_MODE": "random", "BENCH_POSTS": str(args.posts)},
                        )
                    else:
                        figure = wrk(
                            name,
                            f"{server.url}/api/posts/bench-20/comments",
                            args.duration,
                            headers=revalidating[name],
                        )
                    runs.setdefault(name, []).append(figure)
                    print(f"{name}: {figure.rps} req/s, p99 {figure.p99_ms} ms", flush=True)
        what = "posting" if args.posting else "read 20 comments (cached)"
        if args.random:
            what = "read random posts (the long tail)"
        if args.conditional and not args.posting:
            what = "revalidate 20 comments (304)"
        print(f"{what}, {CONNECTIONS} connections, medians:")
        for name, figures in runs.items():
            print(
                f"  {name}: {statistics.median(f.rps for f in figures)} req/s, "
                f"p50 {statistics.median(f.p50_ms for f in figures)} ms, "
                f"p99 {statistics.median(f.p99_ms for f in figures)} ms, "
                f"errors {sum(f.errors for f in figures)} "
                f"(runs: {[f.rps for f in figures]})"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def etag_of(url: str) -> str:
    """The ETag a read of `url` answers with."""
    return str(requests.get(url, timeout=10).headers["ETag"])


if __name__ == "__main__":
    main()
