"""Where an import's time and memory go: `run_import` in-process under cProfile or tracemalloc.

    .venv/bin/python -m bench.import_profile FILE                      # time, SQLite
    .venv/bin/python -m bench.import_profile FILE --backend postgresql
    .venv/bin/python -m bench.import_profile FILE --cprofile           # every call, counted
    .venv/bin/python -m bench.import_profile FILE --memory             # what grows, and where
    .venv/bin/python -m bench.import_profile FILE --rss                # resident memory by kind

FILE is a Disqus export (bench/disqus_export.py writes one; 50,000 comments is enough). Each
run imports it into a fresh, migrated database, exactly as `commentd import disqus FILE` does
but in this process. By default a sampler looks at the stack every millisecond of wall time
and weighs each look by the time since the last one (a long call into SQLite or the database
driver counts for all its time): it lists the share of wall time spent in each function,
with what it calls (inclusive) and in its own lines (self; time in C counts for the line
that called it). cProfile (--cprofile) counts every call but slows pure-Python code several
times more than C, which skews the shares. --memory traces allocations instead (several times
slower): it takes a snapshot when a quarter of the file has been read and another when all of
it has, and lists the source lines whose live memory grew most in between (what would grow
with a bigger file), then the peak the trace saw and what was still held after the import
returned. --rss (no slower) prints, at each tenth of the file read, the resident memory by
kind (anonymous: the heaps, Python's and SQLite's; file-backed; shared: SQLite's WAL index) and
the blocks Python's allocator holds.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import signal
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import FrameType

from commentd.db import make_engine
from commentd.keys import load_or_create_secret
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


class ResidentMemory:
    """A Progress that prints this process's resident memory at each tenth of the file."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.tenths = 0

    def start(self, total: int | None, unit: str) -> None:
        self.total = total or 0
        print("read   RssAnon  RssFile  RssShmem  (MB)  Python blocks")

    def advance(self, amount: int) -> None:
        self.done += amount
        if self.total and self.done * 10 >= self.total * (self.tenths + 1):
            self.tenths += 1
            self.show(f"{self.tenths * 10:3d}%")

    @staticmethod
    def show(label: str) -> None:
        status = Path("/proc/self/status").read_text()
        kinds = [re.search(rf"{kind}:\s+(\d+) kB", status) for kind in RSS_KINDS]
        mb = [f"{int(k[1]) / 1024:8.1f}" if k else "       ?" for k in kinds]
        print(f"{label}  {' '.join(mb)}        {sys.getallocatedblocks():,}", flush=True)


RSS_KINDS = ("RssAnon", "RssFile", "RssShmem")


class Sampler:
    """Wall-time samples of the main thread's stack (SIGALRM), each weighed by the time since
    the previous one."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.inclusive: dict[str, float] = {}
        self.own: dict[str, float] = {}
        self.total = 0.0
        self.last = 0.0

    def __enter__(self) -> Sampler:
        self.last = time.perf_counter()
        signal.signal(signal.SIGALRM, self.sample)
        signal.setitimer(signal.ITIMER_REAL, self.interval, self.interval)
        return self

    def __exit__(self, *_: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    def sample(self, _signal: int, frame: FrameType | None) -> None:
        now = time.perf_counter()
        weight, self.last = now - self.last, now
        self.total += weight
        if frame is None:
            return
        code = frame.f_code
        line = f"{_short(code.co_filename)}:{frame.f_lineno} {code.co_name}"
        self.own[line] = self.own.get(line, 0.0) + weight
        seen = set()
        while frame is not None:
            code = frame.f_code
            name = f"{_short(code.co_filename)}:{code.co_firstlineno} {code.co_qualname}"
            if name not in seen:
                seen.add(name)
                self.inclusive[name] = self.inclusive.get(name, 0.0) + weight
            frame = frame.f_back

    def report(self, top: int) -> None:
        print(
            f"sampled {self.total:.1f} s of wall time\n\ninclusive (the function and all it calls):"
        )
        for name, seconds in _largest(self.inclusive, top):
            print(f"  {seconds / self.total:6.1%}  {seconds:7.2f} s  {name}")
        print("\nself, by line (C calls count for the line that made them):")
        for name, seconds in _largest(self.own, top):
            print(f"  {seconds / self.total:6.1%}  {seconds:7.2f} s  {name}")


def _largest(seconds: dict[str, float], top: int) -> list[tuple[str, float]]:
    return sorted(seconds.items(), key=lambda item: item[1], reverse=True)[:top]


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/service/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--format", default="disqus")
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--memory", action="store_true", help="trace allocations, not time")
    parser.add_argument("--cprofile", action="store_true", help="cProfile, not the sampler")
    parser.add_argument("--rss", action="store_true", help="resident memory at each tenth")
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
            secret = load_or_create_secret(engine)
            started = time.perf_counter()
            if args.memory:
                progress = Snapshots()
                tracemalloc.start(8)
                summary = run_import(
                    engine, args.format, args.file, secret=secret, progress=progress
                )
                current, peak = tracemalloc.get_traced_memory()
                after = tracemalloc.take_snapshot()
                tracemalloc.stop()
            elif args.rss:
                summary = run_import(
                    engine, args.format, args.file, secret=secret, progress=ResidentMemory()
                )
                ResidentMemory.show("done")
            elif args.cprofile:
                profile = cProfile.Profile()
                summary = profile.runcall(run_import, engine, args.format, args.file, secret=secret)
            else:
                with Sampler() as sampler:
                    summary = run_import(engine, args.format, args.file, secret=secret)
            seconds = time.perf_counter() - started
        finally:
            engine.dispose()
    print("\n".join(summary.lines(args.file.name)))
    print(f"\n{seconds:.1f} s in run_import ({args.backend})\n")
    if args.rss:
        return
    if not args.memory and not args.cprofile:
        sampler.report(args.top)
        return
    if args.cprofile:
        stats = pstats.Stats(profile, stream=sys.stdout)
        if args.save:
            stats.dump_stats(args.save)
        stats.sort_stats(args.sort).print_stats(args.top)
        return
    print(f"traced: peak {peak / 2**20:.1f} MiB, still held after the import {current / 2**20:.1f}")
    if 25 in progress.taken and 100 in progress.taken:
        print("\ngrowth from 25% to 100% of the file read, by line:")
        for diff in progress.taken[100].compare_to(progress.taken[25], "lineno")[: args.top]:
            print(f"  {diff}")
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
