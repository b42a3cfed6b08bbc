"""Where an import's time and memory go: `run_import` in-process under cProfile or tracemalloc.

    .venv/bin/python -m bench.import_profile FILE                      # time, SQLite
    .venv/bin/python -m bench.import_profile FILE --backend postgresql
    .venv/bin/python -m bench.import_profile FILE --memory             # what grows, and where

FILE is a Disqus export (bench/disqus_export.py writes one; 50,000 comments is enough). Each
run imports it into a fresh, migrated database, exactly as `commentd import disqus FILE` does
but in this process. --memory traces allocations instead (several times slower): it takes a
snapshot when a quarter of the file has been read and another when all of it has, and lists
the source lines whose live memory grew most in between (what would grow with a bigger file),
then the peak the trace saw and what was still held after the import returned.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from commentd.db import make_engine
from commentd.ops.migrate import upgrade
from commentd.portability.importing import run_import

from .run import database


class Snapshots:
    """A Progress that takes a tracemalloc snapshot at 25% and 100% of the file's bytes."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.taken: dict[int, tracemalloc.Snapshot] = {}

    def start(self, total: int | None, unit: str) -> None:
        self.total = total or 0

    def advance(self, amount: int) -> None:
        self.done += amount
        for share in (25, 100):
            if share not in self.taken and self.total and self.done * 100 >= self.total * share:
                self.taken[share] = tracemalloc.take_snapshot()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--format", default="disqus")
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--memory", action="store_true", help="trace allocations, not time")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", help="pstats key: tottime, cumulative")
    parser.add_argument("--save", type=Path, help="keep the raw profile here (pstats format)")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="commentd-import-profile-") as tmp,
        database(args.backend, Path(tmp), "profile") as url,
    ):
        engine = make_engine(url)
        try:
            upgrade(engine)
            started = time.perf_counter()
            if args.memory:
                progress = Snapshots()
                tracemalloc.start(8)
                summary = run_import(engine, args.format, args.file, progress=progress)
                current, peak = tracemalloc.get_traced_memory()
                after = tracemalloc.take_snapshot()
                tracemalloc.stop()
            else:
                profile = cProfile.Profile()
                summary = profile.runcall(run_import, engine, args.format, args.file)
            seconds = time.perf_counter() - started
        finally:
            engine.dispose()
    print("\n".join(summary.lines(args.file.name)))
    print(f"\n{seconds:.1f} s in run_import ({args.backend})\n")
    if not args.memory:
        stats = pstats.Stats(profile, stream=sys.stdout)
        if args.save:
            stats.dump_stats(args.save)
        stats.sort_stats(args.sort).print_stats(args.top)
        return
    print(f"traced: peak {peak / 2**20:.1f} MiB, still held after the import {current / 2**20:.1f}")
    if 25 in progress.taken and 100 in progress.taken:
        print("\ngrowth from 25% to 100% of the file read, by line:")
        for stat in progress.taken[100].compare_to(progress.taken[25], "lineno")[: args.top]:
            print(f"  {stat}")
        print("\nlive at 100% of the file read, by traceback (the largest three):")
        for stat in progress.taken[100].statistics("traceback")[:3]:
            print(f"  {stat.size / 2**20:.1f} MiB in {stat.count} blocks")
            for line in stat.traceback.format()[-8:]:
                print(f"    {line}")
    print("\nstill held after the import, by line:")
    for stat in after.statistics("lineno")[: min(args.top, 10)]:
        print(f"  {stat}")


if __name__ == "__main__":
    main()
