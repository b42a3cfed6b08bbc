"""The benchmark: seed, serve as shipped, load from wrk on loopback, report against the ceiling.

    .venv/bin/python -m bench.run            # the full run of BENCHMARKS.md (needs `wrk`)
    .venv/bin/python -m bench.run --comments 20000 --posts 2000 --duration 3 --rounds 1  # a look

For SQLite (embedded defaults: one process per core, limits in a file they share) and
PostgreSQL with Redis (the compose stack: one process per core) it seeds a database
(bench/seed.py), starts `commentd serve` exactly as an operator would (only the rate limits
lifted), and measures, at 16 connections each: the
20- and 200-comment posts, a conditional GET answered 304, counts for 10 slugs, reads of
random posts (the long tail, mostly not cached), and posting.
In the same run it measures a trivial Flask endpoint on the same gunicorn settings (the
ceiling), the posting floor (bench/floor.py: the stack's own cost of a post, with none of
commentd's work), the 20-comment read on a small database (10,000 comments) for comparison,
and the resident memory of every server process throughout. Beside them it measures Isso
(bench/isso.py: the pinned release in a virtualenv of its own under bench/.isso-venv/, made
on the first run; on `gunicorn -w 2`, guard and moderation off, its own SQLite database)
on the same 20-comment read and on posting, seeded through its own API, and reports
commentd / Isso for both; if Isso cannot be installed or started here, the report says why
in their place and the rest of the run goes on (`--no-isso` leaves it out, and says so).
The five servers run side by side and every figure is taken in each of three interleaved
rounds; the report gives the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis
import requests

from . import isso
from .seed import post_slug, seed

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk.lua"
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
CONNECTIONS = 16


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Figure:
    """One wrk run: throughput and latency of one kind of request."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    ratio: float | None = None
    # What the errors were, those that occurred: wrk's "connect", "read", "write", "timeout"
    # (no answer within its 2 s) and "status" (an answer not 2xx or 3xx).
    error_kinds: dict[str, int] = field(default_factory=dict)


@dataclass
class MemoryTrace:
    """Resident memory of each server process, sampled every half second."""

    samples: dict[int, list[float]] = field(default_factory=dict)  # pid -> MB over time

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            str(pid): {
                "first_mb": round(values[0], 1),
                # Halfway through the load: against the last sample, the growth in its second half.
                "middle_mb": round(values[len(values) // 2], 1),
                "max_mb": round(max(values), 1),
                "last_mb": round(values[-1], 1),
            }
            for pid, values in self.samples.items()
            if values
        }


def process_tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [pid, *(grandchild for c in children for grandchild in process_tree(int(c)))]


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found[1]) / 1024 if found else None


@contextmanager
def watching_memory(root_pid: int) -> Iterator[MemoryTrace]:
    trace = MemoryTrace()
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            for pid in process_tree(root_pid):
                value = rss_mb(pid)
                if value is not None:
                    trace.samples.setdefault(pid, []).append(value)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield trace
    finally:
        stop.set()
        thread.join()


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class ServerFailed(SystemExit):
    """A server that exited or did not answer: ends the run, unless the caller can go on."""


def host_and_port(port: int) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port)]


@contextmanager
def serving(
    command: list[str],
    env: dict[str, str],
    log: Path,
    address: Callable[[int], list[str]] = host_and_port,
) -> Iterator[Server]:
    port = free_port()
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [*command, *address(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise ServerFailed(f"server exited:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"{server.url}/healthz", timeout=2).status_code in (200, 404):
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise ServerFailed(f"server did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        server.stop()


# wrk's error counts by the key bench/wrk.lua writes them under.
ERROR_KINDS = {
    "connect": "connect_errors",
    "read": "read_errors",
    "write": "write_errors",
    "timeout": "timeouts",
    "status": "status_errors",
}


def errors_text(errors: int, kinds: dict[str, int]) -> str:
    """A report's errors cell: the count, and its kinds when there are any ("4: timeout 3,
    read 1")."""
    if not kinds:
        return str(errors)
    return f"{errors}: " + ", ".join(f"{kind} {count}" for kind, count in kinds.items())


def wrk(
    name: str,
    url: str,
    duration: int,
    *,
    headers: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> Figure:
    """wrk from its own process on loopback, one thread, CONNECTIONS connections."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration}s", "-s", str(WRK_SCRIPT)]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    result = subprocess.run(
        [*command, url],
        env=os.environ | (env or {}),
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("BENCH "))
    data = json.loads(line[len("BENCH ") :])
    return Figure(
        name=name,
        rps=round(data["requests"] / (data["duration_us"] / 1e6), 1),
        p50_ms=round(data["p50_us"] / 1000, 2),
        p99_ms=round(data["p99_us"] / 1000, 2),
        requests=data["requests"],
        errors=data["socket_errors"] + data["status_errors"],
        error_kinds={
            kind: data[key]
            for kind, key in ERROR_KINDS.items()
            if data.get(key)  # absent from a wrk.lua older than the kinds
        },
    )


def server_env(database_url: str, extra: dict[str, str]) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "COMMENTD_DATABASE_URL": database_url,
        "COMMENTD_ADMIN_TOKEN": secrets.token_urlsafe(24),
        "COMMENTD_PUBLIC_URL": "https://comments.example",
        # Limits lifted for the benchmark: the limiter still checks and counts every one of
        # them on every post, except the minimum interval, which can only be turned off. Per
        # second: a moving window holds the hits inside it (up to its limit), so a window of
        # one second holds about what the shipped limits hold (60 a minute at most), where a
        # lifted limit per minute would hold a whole minute of the run's posts.
        "COMMENTD_POST_RATE_LIMIT": "100000000 per second",
        "COMMENTD_SITE_RATE_LIMIT": "100000000 per second",
        "COMMENTD_SLUG_RATE_LIMIT": "100000000 per second",
        "COMMENTD_EMAIL_RATE_LIMIT": "100000000 per second",
        "COMMENTD_MIN_POST_INTERVAL": "0",
        "COMMENTD_MIN_FILL_SECONDS": "0",
    }
    # A tree other than the installed one (PYTHONPATH=/tmp/before/service:.) serves as well.
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env | extra


RANDOM_READS = "read random posts (mostly not cached)"


def measure_reads(server: Server, duration: int, posts: int) -> list[Figure]:
    """The five reads, after checking that each answers what it should (200 with 20/200, 304)."""
    base = f"{server.url}/api/posts"
    page = requests.get(f"{base}/bench-20/comments", timeout=10)
    assert page.json()["count"] == 20, page.text[:200]
    etag = page.headers["ETag"]
    assert (
        requests.get(
            f"{base}/bench-20/comments", headers={"If-None-Match": etag}, timeout=10
        ).status_code
        == 304
    )
    assert requests.get(f"{base}/bench-200/comments", timeout=10).json()["count"] == 200
    slugs = "&".join(f"slug={post_slug(i)}" for i in range(1, 11))
    return [
        wrk("read 20 comments", f"{base}/bench-20/comments", duration),
        wrk("read 200 comments", f"{base}/bench-200/comments", duration),
        wrk(
            "conditional GET (304)",
            f"{base}/bench-20/comments",
            duration,
            headers={"If-None-Match": etag},
        ),
        wrk("counts for 10 slugs", f"{server.url}/api/counts?{slugs}", duration),
        wrk(
            RANDOM_READS,
            f"{server.url}/",
            duration,
            env={"BENCH_MODE": "random", "BENCH_POSTS": str(posts)},
        ),
    ]


POSTING = "posting"
POSTING_FLOOR = "posting floor (Flask + flask-limiter + one insert)"


def measure_posting(server: Server, duration: int, posts: int, name: str = POSTING) -> Figure:
    token = requests.get(f"{server.url}/api/form-token", timeout=10).json()["form_token"]
    return wrk(
        name,
        f"{server.url}/",
        duration,
        env={"BENCH_MODE": "post", "BENCH_FORM_TOKEN": token, "BENCH_POSTS": str(posts)},
    )


@contextmanager
def database(backend: str, workdir: Path, label: str) -> Iterator[str]:
    """An empty database of `backend`, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'{label}.db'}"
        return
    name = f"commentd_bench_{label}_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_SERVER, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    base = POSTGRES_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_SERVER, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def rate_limit_storage(backend: str) -> Iterator[dict[str, str]]:
    """SQLite runs on the embedded defaults; PostgreSQL as in compose, with Redis."""
    if backend == "sqlite":
        yield {}
        return
    prefix = f"commentd-bench-{secrets.token_hex(4)}"
    try:
        yield {"COMMENTD_RATELIMIT_STORAGE_URI": REDIS_URL, "COMMENTD_RATELIMIT_KEY_PREFIX": prefix}
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def serve_command(optimized: bool = False) -> list[str]:
    """`commentd serve`; `optimized`: with -OO, as the compose stack's image runs it."""
    return [sys.executable, *(["-OO"] if optimized else []), "-m", "commentd.ops.cli", "serve"]


# What `commentd serve` imports before it forks its workers: create_app, as serving calls it.
SERVING_IMPORTS = (
    "import commentd.ops.cli, commentd.ops.server\n"
    "from commentd.web.app import create_app\n"
    "create_app()\n"
)


def optimized_env(env: dict[str, str], workdir: Path) -> dict[str, str]:
    """`env` for `serve_command(optimized=True)`, serving as the image does (Dockerfile: the
    .opt-2.pyc files are compiled when the image is built).

    Without its compiled files, a -OO process compiles every module from source and keeps
    more memory, not less: the files of what serving imports are written here first, into a
    cache of the run's own (PYTHONPYCACHEPREFIX, in `workdir`), touching nothing installed;
    a later call with the same `workdir` finds them there.
    """
    cache = workdir / "opt-2-pycache"
    optimized = env | {"PYTHONPYCACHEPREFIX": str(cache)}
    optimized.pop("PYTHONDONTWRITEBYTECODE", None)
    if not cache.exists():  # compiled once for every server of the run
        subprocess.run(
            [sys.executable, "-OO", "-c", SERVING_IMPORTS], env=optimized, check=True, timeout=300
        )
    return optimized


ISSO_READ = "Isso: read 20 comments"
ISSO_POSTING = "Isso: posting"


def one_line(error: BaseException, limit: int = 600) -> str:
    """An error as one line of the report (a server's log tail included, cut from the start)."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else "…" + text[-limit:]


def isso_setup(skip: bool) -> tuple[Path | None, dict[str, Any]]:
    """Isso's virtualenv (bench/isso.py), or None and the reason the report gives instead."""
    if skip:
        return None, {"unavailable": "left out of this run (--no-isso)"}
    try:
        bin_dir = isso.ensure_installed()
    except isso.IssoUnavailable as error:
        reason = f"Isso {isso.ISSO_VERSION} could not be installed: {one_line(error)}"
        print(f"NOT MEASURED: {reason}", flush=True)
        return None, {"unavailable": reason}
    return bin_dir, {
        "version": isso.ISSO_VERSION,
        "server": (
            f"gunicorn {isso.GUNICORN_VERSION} -w {isso.WORKERS} --preload isso.run "
            "(sync workers), guard and moderation off, its own SQLite database"
        ),
        "packages": isso.installed_packages(bin_dir),
    }


@contextmanager
def isso_server(
    bin_dir: Path | None, workdir: Path, label: str, status: dict[str, Any]
) -> Iterator[Server | None]:
    """Isso served and seeded beside one backend's servers, or None with status["reason"]."""
    with ExitStack() as stack:
        server: Server | None = None
        if bin_dir is not None:
            try:
                config = isso.write_config(workdir, label, free_port())
                server = stack.enter_context(
                    serving(
                        isso.serve_command(bin_dir),
                        isso.server_env(bin_dir, config, workdir),
                        workdir / f"{label}-isso.log",
                        isso.bind_arguments,
                    )
                )
                isso.seed(server.url)
            except (ServerFailed, isso.IssoUnavailable, requests.RequestException) as error:
                status["reason"] = f"Isso did not start or could not be seeded: {one_line(error)}"
                print(f"NOT MEASURED: {status['reason']}", flush=True)
                stack.close()
                server = None
        yield server


def measure_isso(server: Server, duration: int) -> list[Figure]:
    """Isso's 20-comment read and its posting, as wrk loads commentd's."""
    figures = [
        wrk(ISSO_READ, f"{server.url}/?uri={isso.READ_URI}", duration),
        wrk(
            ISSO_POSTING,
            f"{server.url}/",
            duration,
            env={"BENCH_MODE": "isso-post", "BENCH_POSTS": str(isso.POST_THREADS)},
        ),
    ]
    if server.process.poll() is not None:
        raise isso.IssoUnavailable(f"Isso's server exited (status {server.process.returncode})")
    return figures


def median_figure(runs: list[Figure]) -> Figure:
    """One figure from several runs of it: the median of each number."""
    return Figure(
        name=runs[0].name,
        rps=round(statistics.median(r.rps for r in runs), 1),
        p50_ms=round(statistics.median(r.p50_ms for r in runs), 2),
        p99_ms=round(statistics.median(r.p99_ms for r in runs), 2),
        requests=sum(r.requests for r in runs),
        errors=sum(r.errors for r in runs),
        error_kinds=dict(sum((Counter(r.error_kinds) for r in runs), Counter())),
    )


def run_backend(
    backend: str,
    args: argparse.Namespace,
    workdir: Path,
    isso_bin: Path | None,
    isso_unavailable: str | None,
) -> dict[str, Any]:
    """Seed the databases, start the five servers, then measure in interleaved rounds.

    The host takes cores away for seconds at a time, so every figure is measured in each of
    `--rounds` rounds (ceiling, big database, small database, posting, floor, Isso, in turn)
    and reported as the median: noise then falls on all of them alike, not on whichever ran
    at a bad moment. Isso (bench/isso.py) always runs on SQLite, its own database, seeded
    through its API; if it cannot be installed or started, or fails in a round, the result
    says why and the other figures go on without it.
    """
    print(f"== {backend}", flush=True)
    result: dict[str, Any] = {"backend": backend}
    isso_status: dict[str, Any] = {"measured": False, "reason": isso_unavailable}
    with (
        rate_limit_storage(backend) as limits,
        database(backend, workdir, "big") as big_url,
        database(backend, workdir, "small") as small_url,
        database(backend, workdir, "floor") as floor_url,
    ):
        started = time.monotonic()
        seed(big_url, posts=args.posts, comments=args.comments)
        result["seed_seconds"] = round(time.monotonic() - started, 1)
        print(f"seeded {args.comments} comments in {result['seed_seconds']} s", flush=True)
        seed(small_url, posts=args.small_posts, comments=args.small_comments)
        trivial_env = server_env("sqlite:///unused.db", limits)
        trivial_env["PYTHONPATH"] = str(HERE.parent)
        floor_env = server_env(floor_url, limits) | {"PYTHONPATH": str(HERE.parent)}
        # SQLite: the embedded defaults, `commentd serve` as the README starts it. PostgreSQL
        # with Redis: the compose stack, whose image serves with -OO.
        optimized = backend == "postgresql"
        big_env, small_env = server_env(big_url, limits), server_env(small_url, limits)
        if optimized:
            big_env, small_env = optimized_env(big_env, workdir), optimized_env(small_env, workdir)
        with (
            serving(serve_command(optimized), big_env, workdir / f"{backend}-big.log") as server,
            serving(
                serve_command(optimized), small_env, workdir / f"{backend}-small.log"
            ) as small_server,
            serving(
                [sys.executable, "-m", "bench.trivial"],
                trivial_env,
                workdir / f"{backend}-trivial.log",
            ) as trivial,
            serving(
                [sys.executable, "-m", "bench.floor"], floor_env, workdir / f"{backend}-floor.log"
            ) as floor,
            isso_server(isso_bin, workdir, backend, isso_status) as isso_live,
            watching_memory(server.process.pid) as memory,
        ):
            # Warm-up: caches, connections, the OS.
            measure_reads(server, 2, args.posts)
            measure_reads(small_server, 2, args.small_posts)
            wrk("trivial warm-up", f"{trivial.url}/ping", 2)
            if isso_live is not None:
                wrk("Isso warm-up", f"{isso_live.url}/?uri={isso.READ_URI}", 2)
            runs: dict[str, list[Figure]] = {}
            small_name = f"read 20 comments at {args.small_comments} comments"
            for round_number in range(1, args.rounds + 1):
                print(f"round {round_number} of {args.rounds}", flush=True)
                round_figures = [
                    wrk("trivial Flask endpoint (ceiling)", f"{trivial.url}/ping", args.duration),
                    *measure_reads(server, args.duration, args.posts),
                    wrk(
                        small_name,
                        f"{small_server.url}/api/posts/bench-20/comments",
                        args.duration,
                    ),
                    measure_posting(server, args.duration, args.posts),
                    measure_posting(floor, args.duration, args.posts, POSTING_FLOOR),
                ]
                if isso_live is not None:
                    try:
                        round_figures += measure_isso(isso_live, args.duration)
                    except (isso.IssoUnavailable, subprocess.SubprocessError) as error:
                        isso_status["reason"] = (
                            f"Isso failed in round {round_number}, so none of its rounds "
                            f"count: {one_line(error)}"
                        )
                        print(f"NOT MEASURED: {isso_status['reason']}", flush=True)
                        runs.pop(ISSO_READ, None)
                        runs.pop(ISSO_POSTING, None)
                        isso_live = None
                for figure in round_figures:
                    runs.setdefault(figure.name, []).append(figure)
            # Sustained: the 200-comment page once more, to see memory stay flat.
            sustained = wrk(
                "read 200 comments, again at the end",
                f"{server.url}/api/posts/bench-200/comments",
                args.duration,
            )
            result["workers"] = len(process_tree(server.process.pid)) - 1
            result["serve_command"] = " ".join(["python", *serve_command(optimized)[1:]])
        result["memory"] = memory.summary()
    figures = [median_figure(r) for r in runs.values()] + [sustained]
    ceiling = figures[0]
    for figure in figures[1:]:
        figure.ratio = round(figure.rps / ceiling.rps, 3)
    by_name = {f.name: f for f in figures}
    result["figures"] = [asdict(f) for f in figures]
    result["rounds"] = {name: [round(r.rps) for r in rs] for name, rs in runs.items()}
    result["large_vs_small_20"] = round(
        by_name["read 20 comments"].rps / by_name[small_name].rps, 3
    )
    result["posting_vs_floor"] = round(by_name[POSTING].rps / by_name[POSTING_FLOOR].rps, 3)
    if ISSO_READ in by_name and ISSO_POSTING in by_name:
        isso_read, isso_posting = by_name[ISSO_READ].rps, by_name[ISSO_POSTING].rps
        if isso_read > 0 and isso_posting > 0:
            isso_status = {
                "measured": True,
                "reason": None,
                "posting_vs_isso": round(by_name[POSTING].rps / isso_posting, 3),
                "read_20_vs_isso": round(by_name["read 20 comments"].rps / isso_read, 3),
            }
        else:
            isso_status["reason"] = "Isso answered no request in a median round"
    result["isso"] = isso_status
    return result


def machine_facts() -> dict[str, Any]:
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    memory = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
    with psycopg.connect(POSTGRES_SERVER) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    client = redis.Redis.from_url(REDIS_URL)
    redis_version = client.info()["redis_version"]
    client.close()
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[
        0
    ]
    return {
        "cpu": cpu[1] if cpu else "unknown",
        "cores": os.cpu_count(),
        "memory_gb": round(int(memory[1]) / 1024 / 1024, 1) if memory else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": row[0] if row else "unknown",
        "redis": redis_version,
        "wrk": wrk_version.strip(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


TIMES = "\N{MULTIPLICATION SIGN}"


def isso_line(status: dict[str, Any]) -> str:
    if not status["measured"]:
        return f"**Isso not measured beside it:** {status['reason']}"
    return (
        f"Beside Isso, same rounds: posting commentd / Isso = "
        f"{status['posting_vs_isso']:.2f}{TIMES}; "
        f"20-comment read commentd / Isso = {status['read_20_vs_isso']:.2f}{TIMES}."
    )


def markdown(report: dict[str, Any]) -> str:
    lines = [f"Run at {report['started']} UTC, `{report['command']}`", ""]
    setup = report["isso"]
    if "version" in setup:
        lines += [f"Isso {setup['version']} beside it: {setup['server']}.", ""]
    else:
        lines += [f"**Isso not measured:** {setup['unavailable']}", ""]
    for result in report["results"]:
        lines += [
            f"### {result['backend']} ({result['workers']} worker process(es); "
            f"seeded in {result['seed_seconds']} s)",
            "",
            *([f"Served by `{result['serve_command']}`.", ""] if "serve_command" in result else []),
            "| request | req/s | p50 ms | p99 ms | of ceiling | errors |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for f in result["figures"]:
            ratio = f"{f['ratio']:.0%}" if f["ratio"] is not None else "100%"
            lines.append(
                f"| {f['name']} | {f['rps']:.0f} | {f['p50_ms']} | {f['p99_ms']} | {ratio} "
                f"| {errors_text(f['errors'], f.get('error_kinds', {}))} |"
            )
        lines += [
            "",
            f"20-comment read at {report['comments']} comments / at "
            f"{report['small_comments']}: {result['large_vs_small_20']:.0%}",
            "",
            f"Posting at {result['posting_vs_floor']:.0%} of the posting floor.",
            "",
            isso_line(result["isso"]),
            "",
            "Requests/s in each round (the table gives the medians):",
            "",
            *(
                f"- {name}: {', '.join(map(str, values))}"
                for name, values in result["rounds"].items()
            ),
            "",
            "Resident memory per server process (MB: first sample, halfway, max, last):",
            "",
        ]
        for pid, m in result["memory"].items():
            lines.append(
                f"- pid {pid}: {m['first_mb']} / {m['middle_mb']} / {m['max_mb']} / {m['last_mb']}"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--comments", type=int, default=1_000_000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--small-comments", type=int, default=10_000)
    parser.add_argument("--small-posts", type=int, default=1_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--output", type=Path, default=HERE / "results")
    parser.add_argument(
        "--no-isso", action="store_true", help="leave Isso out (the report says it was left out)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    isso_bin, isso_report = isso_setup(args.no_isso)

    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
        "comments": args.comments,
        "posts": args.posts,
        "small_comments": args.small_comments,
        "machine": machine_facts(),
        "isso": isso_report,
        "results": [],
    }
    with tempfile.TemporaryDirectory(prefix="commentd-bench-") as tmp:
        for backend in args.backends.split(","):
            report["results"].append(
                run_backend(backend, args, Path(tmp), isso_bin, isso_report.get("unavailable"))
            )
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.output.mkdir(exist_ok=True)
    (args.output / "last-run.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (args.output / "last-run.md").write_text(text)
    print(text)
    print(json.dumps(report["machine"], indent=2))


if __name__ == "__main__":
    main()
