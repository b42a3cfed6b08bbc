"""The import benchmark: a generated Disqus export into a fresh SQLite and PostgreSQL database.

    .venv/bin/python -m bench.import_bench                     # 100k, 300k, 1M; both backends
    .venv/bin/python -m bench.import_bench --sizes 20000 --backends sqlite --rounds 1   # a look

For each size it writes (once: cached in --cache, default /tmp/commentd-bench-import) a Disqus
export of that many comments over a tenth as many threads (bench/disqus_export.py), then, for
each backend and round, creates an empty database, runs `commentd migrate` on it (not timed)
and times `commentd import disqus FILE --quiet` as an operator runs it: a child process, from
its start to its exit, so the interpreter's start and the final commit are counted. It takes
the largest process's peak resident memory from the kernel (wait4's ru_maxrss, KiB on
Linux: the maximum over the child and the processes it started, not their sum), and samples
every quarter second the proportional set size (PSS, /proc/PID/smaps_rollup: shared pages
split between the processes sharing them) of the whole process tree, summed: the import reads
and prepares in a second process, so this sum is the memory the import costs, and its samples
through the run show whether it grows with the file. It checks
the summary the command prints against what the generator wrote (every comment either
imported or skipped) and the comments table against the summary.

Throughput is (imported + skipped) / wall seconds. PostgreSQL is BENCH_POSTGRES (default
postgresql://postgres@127.0.0.1:5432/postgres, trust authentication): a database of a unique
name is created for each import and dropped after it. Results: bench/results/import-<date>.json
and a Markdown table on standard output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, text

from .disqus_export import write_export
from .run import POSTGRES_SERVER, database, process_tree

HERE = Path(__file__).resolve().parent
COMMENTD = [sys.executable, "-m", "commentd"]
TARGET_PER_SECOND = {"sqlite": 10_000}  # the targets
TARGET_PEAK_MB = 150
SUMMARY = {
    "read": re.compile(r"Read ([\d,]+) comments?"),
    "imported": re.compile(r"Imported ([\d,]+)"),
    "posts": re.compile(r"Imported [\d,]+ on ([\d,]+) posts?"),
    "already": re.compile(r"Already imported before: ([\d,]+)"),
    "skipped": re.compile(r"Skipped ([\d,]+)"),
    "orphans": re.compile(r"now top-level: ([\d,]+)"),
}


@dataclass
class Run:
    """One import of one file into one fresh database."""

    seconds: float
    comments_per_second: float
    peak_pss_mb: float  # the highest sampled sum of PSS over the child's process tree
    peak_rss_mb: float  # the kernel's high-water mark of the largest process (ru_maxrss)
    pss_mb_quartiles: list[float]  # the summed PSS at 25, 50, 75 and 100% of the run
    processes: int  # the most processes the tree had at once
    user_seconds: float
    system_seconds: float
    summary: dict[str, int]
    stored: int  # rows in comments afterwards
    stdout: str = ""


@dataclass
class Result:
    backend: str
    comments: int
    threads: int
    file_mb: float
    runs: list[Run] = field(default_factory=list)

    def median(self, name: str) -> float:
        return float(statistics.median(getattr(run, name) for run in self.runs))


def export_file(cache: Path, comments: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """The cached export of `comments` comments (written now if missing) and its stats."""
    threads = max(1, comments // 10)
    path = cache / f"disqus-{comments}c-{threads}t-s{seed}.xml"
    stats_path = path.with_name(path.name + ".json")
    if not (path.exists() and stats_path.exists()):  # the stats are written last
        print(f"writing {path} ...", file=sys.stderr, flush=True)
        stats_path.unlink(missing_ok=True)
        stats_path.write_text(json.dumps(asdict(write_export(path, comments, threads, seed))))
    return path, json.loads(stats_path.read_text())


def child_env(database_url: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "COMMENTD_DATABASE_URL": database_url,
    }
    if "PYTHONPATH" in os.environ:  # another tree's commentd (PYTHONPATH=/tree/service)
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def parse_summary(stdout: str) -> dict[str, int]:
    found = {}
    for name, pattern in SUMMARY.items():
        match = pattern.search(stdout)
        if match:
            found[name] = int(match[1].replace(",", ""))
    return found


def pss_mb(pid: int) -> float | None:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    found = re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE)
    return int(found[1]) / 1024 if found else None


def sampled(root: int, samples: list[tuple[float, float, int]], stop: threading.Event) -> None:
    """(seconds since the start, PSS summed over the process tree in MB, processes), 4/s."""
    started = time.perf_counter()
    while not stop.wait(0.25):
        values = [v for v in map(pss_mb, process_tree(root)) if v is not None]
        if values:
            samples.append((time.perf_counter() - started, sum(values), len(values)))


def quartiles(samples: list[tuple[float, float, int]], seconds: float) -> list[float]:
    """The summed PSS at the last sample before 25, 50, 75 and 100% of the run."""
    values = []
    for share in (0.25, 0.5, 0.75, 1.0):
        before = [mb for at, mb, _ in samples if at <= seconds * share]
        values.append(round(before[-1], 1) if before else 0.0)
    return values


def stored_comments(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM comments")).scalar_one())
    finally:
        engine.dispose()


def import_once(path: Path, database_url: str, workdir: Path, expected: int) -> Run:
    """`commentd migrate`, then `commentd import disqus` timed, on a fresh database."""
    env = child_env(database_url)
    migrated = subprocess.run([*COMMENTD, "migrate"], env=env, capture_output=True, cwd=workdir)
    if migrated.returncode != 0:
        raise SystemExit(f"commentd migrate failed:\n{migrated.stderr.decode(errors='replace')}")
    out, err = workdir / "import.out", workdir / "import.err"
    samples: list[tuple[float, float, int]] = []
    stop = threading.Event()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(
            [*COMMENTD, "import", "disqus", str(path), "--quiet"],
            env=env,
            stdout=stdout,
            stderr=stderr,
            cwd=workdir,
        )
        watcher = threading.Thread(target=sampled, args=(child.pid, samples, stop), daemon=True)
        watcher.start()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        stop.set()
        watcher.join()
    stdout_text = out.read_text(errors="replace")
    if child.returncode != 0:
        raise SystemExit(
            f"commentd import exited {child.returncode}:\n{stdout_text}\n"
            f"{err.read_text(errors='replace')[-3000:]}"
        )
    summary = parse_summary(stdout_text)
    processed = summary.get("imported", 0) + summary.get("skipped", 0)
    if processed != expected or summary.get("read", expected) != expected:
        print(
            f"warning: the summary accounts for {processed} of {expected} comments:\n{stdout_text}",
            file=sys.stderr,
        )
    stored = stored_comments(database_url)
    if stored != summary.get("imported"):
        print(
            f"warning: {stored} comments stored, summary says imported {summary}", file=sys.stderr
        )
    return Run(
        seconds=round(seconds, 2),
        comments_per_second=round(processed / seconds, 1),
        peak_pss_mb=round(max((mb for _, mb, _ in samples), default=0.0), 1),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        pss_mb_quartiles=quartiles(samples, seconds),
        processes=max((n for _, _, n in samples), default=1),
        user_seconds=round(usage.ru_utime, 2),
        system_seconds=round(usage.ru_stime, 2),
        summary=summary,
        stored=stored,
        stdout=stdout_text,
    )


def machine_facts() -> dict[str, Any]:
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    memory = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
    try:
        with psycopg.connect(POSTGRES_SERVER) as connection:
            row = connection.execute("SHOW server_version").fetchone()
        postgresql = row[0] if row else "unknown"
    except psycopg.Error:
        postgresql = "unavailable"
    return {
        "cpu": cpu[1] if cpu else "unknown",
        "cores": os.cpu_count(),
        "memory_gb": round(int(memory[1]) / 1024 / 1024, 1) if memory else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgresql,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def verdict(result: Result) -> str:
    """Which of the issue's targets this result meets."""
    notes = []
    target = TARGET_PER_SECOND.get(result.backend)
    if target is not None:
        met = result.median("comments_per_second") >= target
        notes.append(f"{'≥' if met else '<'} {target:,}/s")
    peak_met = result.median("peak_pss_mb") <= TARGET_PEAK_MB
    notes.append(f"{'≤' if peak_met else '>'} {TARGET_PEAK_MB} MB")
    return ", ".join(notes)


def markdown(report: dict[str, Any], results: list[Result]) -> str:
    rounds = max(len(r.runs) for r in results)
    lines = [
        f"Run at {report['started']} UTC, `{report['command']}`"
        + (f", medians of {rounds} rounds" if rounds > 1 else ""),
        "",
        "| backend | comments | threads | file MB | seconds | comments/s | peak MB (PSS, "
        "all processes) | MB at 25/50/75/100% | largest process MB (ru_maxrss) | targets |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for r in results:
        middle = sorted(r.runs, key=lambda run: run.seconds)[len(r.runs) // 2]
        lines.append(
            f"| {r.backend} | {r.comments:,} | {r.threads:,} | {r.file_mb:,.0f} "
            f"| {r.median('seconds'):,.1f} | **{r.median('comments_per_second'):,.0f}** "
            f"| **{r.median('peak_pss_mb'):.0f}** "
            f"| {' / '.join(f'{mb:.0f}' for mb in middle.pss_mb_quartiles)} "
            f"| {r.median('peak_rss_mb'):.0f} | {verdict(r)} |"
        )
    lines += ["", "Summary printed by the largest import of each backend:", ""]
    for backend in dict.fromkeys(r.backend for r in results):
        largest = max((r for r in results if r.backend == backend), key=lambda r: r.comments)
        lines += [f"{backend}, {largest.comments:,} comments:", "", "```"]
        lines += [largest.runs[-1].stdout.strip(), "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,300000,1000000", help="comments per export")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=1, help="imports of each (medians)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/commentd-bench-import"))
    parser.add_argument(
        "--output", type=Path, help="default: bench/results/import-<date>.json (UTC date)"
    )
    args = parser.parse_args()
    sizes = [int(size.replace("_", "")) for size in args.sizes.split(",")]
    backends = args.backends.split(",")
    args.cache.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "command": " ".join(["python -m bench.import_bench", *sys.argv[1:]]),
        "pythonpath": os.environ.get("PYTHONPATH"),
        "machine": machine_facts(),
    }
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="commentd-import-bench-") as tmp:
        for comments in sizes:
            path, stats = export_file(args.cache, comments, args.seed)
            for backend in backends:
                result = Result(
                    backend=backend,
                    comments=comments,
                    threads=stats["threads"],
                    file_mb=round(path.stat().st_size / 1e6, 1),
                )
                for round_ in range(args.rounds):
                    workdir = Path(tmp) / f"{backend}-{comments}-{round_}"
                    workdir.mkdir()
                    with database(backend, workdir, f"import{comments}") as url:
                        run = import_once(path, url, workdir, stats["posts"])
                    shutil.rmtree(workdir)  # a SQLite file of 1M comments is ~1 GB
                    result.runs.append(run)
                    print(
                        f"{backend} {comments}: {run.seconds} s, {run.comments_per_second}/s, "
                        f"peak PSS {run.peak_pss_mb} MB over {run.processes} processes, "
                        f"sampled {run.pss_mb_quartiles}, largest process {run.peak_rss_mb} MB",
                        file=sys.stderr,
                        flush=True,
                    )
                results.append(result)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["results"] = [
        asdict(r)
        | {
            "median_seconds": r.median("seconds"),
            "median_comments_per_second": r.median("comments_per_second"),
            "median_peak_pss_mb": r.median("peak_pss_mb"),
            "median_peak_rss_mb": r.median("peak_rss_mb"),
            "targets": verdict(r),
        }
        for r in results
    ]
    target = (
        args.output or HERE / "results" / f"import-{time.strftime('%Y-%m-%d', time.gmtime())}.json"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(markdown(report, results))
    print(f"\n{target}", file=sys.stderr)


if __name__ == "__main__":
    main()
