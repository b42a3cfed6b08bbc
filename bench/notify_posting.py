"""Does the outbox slow posting? POST comments to three real `commentd serve`: notifications
off; on, with a working mail server and webhook receiver; on, with a mail server that accepts
connections and never answers. Prints requests/s (1 / mean latency), p50 and p99 per server and
the ratio to "off". Run: `.venv/bin/python bench/notify_posting.py [--postgres URL]`."""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import LiveServer, free_port, start_server
from receivers import Mailbox, SilentSmtpServer, WebhookReceiver


def post_some(session: requests.Session, server: LiveServer, count: int, start: int) -> list[float]:
    """Milliseconds each of `count` sequential posts took."""
    latencies = []
    for number in range(start, start + count):
        t0 = time.perf_counter()
        response = session.post(
            f"{server.url}/api/posts/bench-{number % 20}/comments",
            json={"name": "Bench", "email": f"r{number}@example.com", "body": f"Comment {number}"},
            timeout=30,
        )
        latencies.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 201, response.text
    return latencies


def database_url(workdir: Path, postgres: str | None) -> str:
    """A fresh SQLite file, or a fresh schema on the PostgreSQL server given."""
    if not postgres:
        return f"sqlite:///{workdir / 'bench.db'}"
    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(postgres, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    base = postgres.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}?options=-csearch_path%3D{schema}"


def drop_schemas(postgres: str | None) -> None:
    if postgres:
        with psycopg.connect(postgres, autocommit=True) as connection:
            for (schema,) in connection.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\\_%'"
            ).fetchall():
                connection.execute(f"DROP SCHEMA {schema} CASCADE")


def env_for(database: str, extra: dict[str, str]) -> dict[str, str]:
    return {
        "COMMENTD_DATABASE_URL": database,
        "COMMENTD_POST_RATE_LIMIT": "100000 per second",
        "COMMENTD_SITE_RATE_LIMIT": "100000 per second",
    } | extra


def run_receivers(ports: dict[str, int], stop: Any) -> None:
    mailbox = Mailbox(ports["smtp"]).start()
    receiver = WebhookReceiver(ports["webhook"])
    silent = SilentSmtpServer(ports["silent"])
    stop.wait()
    mailbox.stop()
    receiver.close()
    silent.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--comments", type=int, default=600, help="per server")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--postgres", help="e.g. postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    count = args.comments
    ports = {"smtp": free_port(), "webhook": free_port(), "silent": free_port()}
    # The receivers get a process of their own, so their work never slows this measuring client.
    stop = multiprocessing.Event()
    receivers = multiprocessing.Process(target=run_receivers, args=(ports, stop))
    receivers.start()
    notify = {
        "COMMENTD_NOTIFY_EMAIL": "author@example.com",
        "COMMENTD_WEBHOOK_URLS": f"http://127.0.0.1:{ports['webhook']}/hook",
        "COMMENTD_WEBHOOK_SECRET": secrets.token_urlsafe(32),
    }
    runs = {
        "off": {},
        "on, receivers up": notify | {"COMMENTD_SMTP_URL": f"smtp://127.0.0.1:{ports['smtp']}"},
        "on, SMTP hangs": notify | {"COMMENTD_SMTP_URL": f"smtp://127.0.0.1:{ports['silent']}"},
    }
    folders = {name: tempfile.TemporaryDirectory() for name in runs}
    servers: dict[str, LiveServer] = {}
    latencies: dict[str, list[float]] = {name: [] for name in runs}
    try:
        for name, extra in runs.items():
            folder = Path(folders[name].name)
            database = database_url(folder, args.postgres)
            servers[name] = start_server(env_for(database, extra), folder)
        with requests.Session() as session:
            for server in servers.values():
                post_some(session, server, 20, 0)  # warm up
            # Rounds alternate between the servers, so that the load others put on the
            # machine meanwhile falls on each alike.
            for round_number in range(args.rounds):
                for name, server in servers.items():
                    latencies[name] += post_some(
                        session, server, count // args.rounds, 1000 * (round_number + 1)
                    )
    finally:
        for server in servers.values():
            server.stop()
        for folder in folders.values():
            folder.cleanup()
        stop.set()
        receivers.join()
        drop_schemas(args.postgres)
    results = {}
    for name, values in latencies.items():
        cuts = statistics.quantiles(values, n=100)
        results[name] = (1000 / statistics.mean(values), statistics.median(values), cuts[98])
    base = results["off"][0]
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"{count} sequential POSTs per server in {args.rounds} alternating rounds, {backend}, "
        "three `commentd serve` at once"
    )
    for name, (rate, p50, p99) in results.items():
        print(
            f"{name:18} {rate:7.1f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
            f"  ({rate / base:.2f}x)"
        )


if __name__ == "__main__":
    main()
