"""A static site's comments as files: `commentd export static` served by nginx, beside the API.

    .venv/bin/python -m bench.static_site                  # 100,000 posts, 3 rounds of 5 s
    .venv/bin/python -m bench.static_site --posts 2000     # a quick look

Two questions, answered in one run on one seeded SQLite database (bench/seed.py):

1. **The read.** The 20-comment post as a file (`posts/bench-20.json`, served by nginx from the
   export) against `GET /api/posts/bench-20/comments` from `commentd serve`, and nginx serving
   a 2-byte file, the machine's static-file limit. wrk (16 connections, bench/wrk.lua) runs
   each in turn, round after round, so the host's noise falls on all alike; medians reported,
   with each as a ratio to the static-file limit.
2. **The export's cost.** Seconds and peak memory (the exporting process's max RSS) for the
   first export of every post, for a second run with nothing changed, and for a third after
   the author approved 10 comments on 10 posts through the moderation API: the third should
   cost in proportion to the 10, not to the whole site.

Needs nginx and wrk (Debian packages `nginx-light` or `nginx`, and `wrk`). Results go to
bench/results/static-site-<date>.json and print as Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import requests

from .run import Figure, free_port, machine_facts, serve_command, server_env, serving, wrk
from .seed import seed

HERE = Path(__file__).resolve().parent
NGINX_CONF = """\
worker_processes auto;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    types {{ application/json json; text/html html; image/svg+xml svg; }}
    default_type application/octet-stream;
    etag on;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ try_files $uri =404; }}
    }}
}}
"""


@contextmanager
def nginx(root: Path, workdir: Path) -> Iterator[str]:
    """nginx serving `root` on a free loopback port; yields its base URL."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    prefix = workdir / "nginx"
    prefix.mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, port=port, root=root))
    process = subprocess.Popen([binary, "-c", str(conf), "-p", str(prefix)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/ping.txt", timeout=2)
                break
            except requests.ConnectionError as error:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (prefix / "error.log").read_text()
                    raise SystemExit(f"nginx did not start: {log}") from error
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def export(env: dict[str, str], target: Path, label: str) -> dict[str, object]:
    """One `commentd export static` run: wall seconds, the child's peak RSS, its summary."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "commentd", "export", "static", str(target)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.monotonic() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"{label}: {seconds:.1f} s; {result.stdout.strip()}", flush=True)
    return {
        "run": label,
        "seconds": round(seconds, 2),
        # RUSAGE_CHILDREN's max RSS is the largest child so far: exact for the first run,
        # an upper bound (never lower than the first) for the later ones.
        "peak_rss_mb": round(peak_kb / 1024, 1) if peak_kb > before else None,
        "summary": result.stdout.strip(),
    }


def approve_some(database: Path, base_url: str, token: str, count: int) -> list[int]:
    """Approve `count` pending comments on as many different posts, through the moderation API."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT min(id) FROM comments WHERE status = 'pending' GROUP BY post_id LIMIT ?",
            (count,),
        ).fetchall()
    ids = [int(row[0]) for row in rows]
    for comment_id in ids:
        answer = requests.post(
            f"{base_url}/api/moderation/comments/{comment_id}/approve",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        answer.raise_for_status()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--comments", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--approvals", type=int, default=10)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="commentd-static-"))
    report: dict[str, object] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_facts(),
        "posts": args.posts,
        "comments": args.comments,
        "nginx": subprocess.run(
            [shutil.which("nginx") or "/usr/sbin/nginx", "-v"], capture_output=True, text=True
        ).stderr.strip(),
    }
    try:
        database = workdir / "blog.db"
        started = time.monotonic()
        seeded = seed(f"sqlite:///{database}", posts=args.posts, comments=args.comments)
        print(f"seeded {seeded.posts} posts in {time.monotonic() - started:.0f} s", flush=True)
        env = server_env(f"sqlite:///{database}", {})
        site = workdir / "site"
        exports = [export(env, site, "first export"), export(env, site, "again, nothing changed")]
        with serving(serve_command(), env, workdir / "serve.log") as server:
            approved = approve_some(
                database, server.url, env["COMMENTD_ADMIN_TOKEN"], args.approvals
            )
            exports.append(export(env, site, f"after {len(approved)} approvals"))
            report["exports"] = exports
            (site / "ping.txt").write_text("ok")
            api_body = requests.get(f"{server.url}/api/posts/bench-20/comments", timeout=10)
            file_body = (site / "posts" / "bench-20.json").read_bytes()
            if api_body.content != file_body:
                raise SystemExit("posts/bench-20.json differs from the API's body")
            with nginx(site, workdir) as files:
                routes = {
                    "nginx: a 2-byte file (the static-file limit)": f"{files}/ping.txt",
                    "nginx: posts/bench-20.json": f"{files}/posts/bench-20.json",
                    "commentd: GET /api/posts/bench-20/comments": (
                        f"{server.url}/api/posts/bench-20/comments"
                    ),
                }
                for url in routes.values():  # warm-up
                    wrk("warm-up", url, 2)
                runs: dict[str, list[Figure]] = {name: [] for name in routes}
                for round_number in range(1, args.rounds + 1):
                    print(f"round {round_number} of {args.rounds}", flush=True)
                    for name, url in routes.items():
                        runs[name].append(wrk(name, url, args.duration))
        figures = []
        for figures_of in runs.values():
            median = statistics.median(f.rps for f in figures_of)
            middle = min(figures_of, key=lambda f: abs(f.rps - median))
            figures.append(Figure(**(asdict(middle) | {"rps": median})))
        limit = figures[0].rps
        for figure in figures:
            figure.ratio = round(figure.rps / limit, 3)
        report["figures"] = [asdict(f) for f in figures]
        report["rounds"] = {name: [round(f.rps) for f in rs] for name, rs in runs.items()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out = HERE / "results" / f"static-site-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    print(f"written to {out}", file=sys.stderr)


def markdown(report: dict[str, object]) -> str:
    """The report as the tables of BENCHMARKS.md."""
    lines = [
        f"Run {report['date']}: {report['posts']:,} posts, "
        f"{report['comments']:,} comments, SQLite.",
        "",
        "| read | requests/s (median) | p50 ms | p99 ms | share of the static-file limit |",
        "|---|---|---|---|---|",
    ]
    for f in report["figures"]:  # type: ignore[attr-defined]
        lines.append(
            f"| {f['name']} | {f['rps']:,.0f} | {f['p50_ms']} | {f['p99_ms']} | {f['ratio']:.0%} |"
        )
    lines += ["", "| export run | seconds | peak RSS MB | summary |", "|---|---|---|---|"]
    for e in report["exports"]:  # type: ignore[attr-defined]
        summary = " ".join(str(e["summary"]).split("\n"))
        peak = e["peak_rss_mb"] if e["peak_rss_mb"] is not None else "≤ first"
        lines.append(f"| {e['run']} | {e['seconds']} | {peak} | {summary} |")
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
