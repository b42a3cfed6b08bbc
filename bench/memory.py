"""Resident memory of `commentd serve`'s worker processes under a short mixed load (issue 19).

    .venv/bin/python -m bench.memory --database sqlite:////tmp/m.db --seed --duration 3
    .venv/bin/python -m bench.memory --database postgresql+psycopg://postgres@127.0.0.1/x \\
        --redis --duration 3

Starts `commentd serve` as bench/run.py does (limits lifted), samples VmRSS of every process
every half second (bench.run.watching_memory), and loads it from wrk with the reads of
bench/run.py (20 and 200 comments, a 304, counts, random posts) and posting, `--duration`
seconds each, `--cycles` times. Prints each worker's first sample, maximum and last, and at
the end what its memory is made of (/proc/PID/smaps_rollup: anonymous against file-backed)
and how many malloc heaps it has (glibc's per-thread arenas: the 64 MiB-aligned mappings in
/proc/PID/maps). `--env NAME=VALUE` sets a variable for the server, to compare settings;
`--optimized` serves with -OO, as the compose stack's image does (bench.run.optimized_env).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
from pathlib import Path

from .run import (
    measure_posting,
    measure_reads,
    optimized_env,
    process_tree,
    rate_limit_storage,
    serve_command,
    server_env,
    serving,
    watching_memory,
)
from .seed import seed


def composition(pid: int) -> dict[str, float]:
    """MB of the process's resident memory by kind, and its number of malloc heaps."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    except OSError:
        return {}
    kinds = {
        k: int(v) / 1024
        for k, v in re.findall(r"^(Rss|Anonymous|Shared_Clean):\s+(\d+) kB", rollup, re.M)
    }
    # A glibc arena other than the main one is a heap reserved 64 MiB at a time, aligned on it.
    heaps = 0
    for line in maps:
        fields = line.split()
        start = int(fields[0].split("-")[0], 16)
        if len(fields) == 5 and start % (64 << 20) == 0:
            heaps += 1
    return {**{k: round(v, 1) for k, v in kinds.items()}, "heaps": heaps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="a database URL (seeded, or --seed)")
    parser.add_argument("--seed", action="store_true", help="seed the (empty) database first")
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--cycles", type=int, default=1)
    parser.add_argument("--redis", action="store_true", help="rate limits in Redis (compose)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    parser.add_argument(
        "--optimized", action="store_true", help="serve with -OO, as the compose image does"
    )
    args = parser.parse_args()
    if args.seed:
        seed(args.database, posts=args.posts, comments=args.comments)
    extra = dict(pair.split("=", 1) for pair in args.env)
    with (
        rate_limit_storage("postgresql" if args.redis else "sqlite") as limits,
        tempfile.TemporaryDirectory() as workdir,
    ):
        env = server_env(args.database, limits | extra)
        if args.optimized:
            env = optimized_env(env, Path(workdir))
        measure(args, serve_command(args.optimized), env, Path(workdir))


def measure(
    args: argparse.Namespace, command: list[str], env: dict[str, str], workdir: Path
) -> None:
    """Serve with `command` and `env`, load it, and print each worker's memory."""
    with (
        serving(command, env, workdir / "log") as server,
        watching_memory(server.process.pid) as memory,
    ):
        figures = []
        for _ in range(args.cycles):
            figures += measure_reads(server, args.duration, args.posts)
            figures.append(measure_posting(server, args.duration, args.posts))
        workers = process_tree(server.process.pid)[1:]
        made_of = {pid: composition(pid) for pid in workers}
    for pid in workers:
        values = memory.samples.get(pid, [])
        if values:
            print(
                f"worker {pid}: first {values[0]:.1f}, max {max(values):.1f}, "
                f"last {values[-1]:.1f} MB; {made_of[pid]}"
            )
    print("req/s: " + ", ".join(f"{f.name} {f.rps:.0f}" for f in figures))
    lasts = [memory.samples[p][-1] for p in workers if memory.samples.get(p)]
    if lasts:
        print(f"median last {statistics.median(lasts):.1f} MB, max {max(lasts):.1f} MB")


if __name__ == "__main__":
    main()
