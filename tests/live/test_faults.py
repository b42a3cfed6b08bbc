"""Faults: the database restarting under load, Redis dying, the server killed mid-write."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from bench.disqus_export import write_export
from commentd.config import Settings
from commentd.db import hold_open
from commentd.models import Comment, Post
from commentd.ops.server import worker_plan
from commentd.portability.spill import SpillMap
from commentd.spam import traps
from commentd.web.errors import unexpected
from tests.helpers import (
    ADMIN_TOKEN,
    LIFTED_LIMITS,
    SERVE_COMMAND,
    LiveServer,
    comment_fields,
    every_worker_booted,
    listening_socket,
    port_of,
    run_commentd,
    serve_process,
    start_server,
    stored_values,
)
from tests.private_servers import PrivatePostgres, private_postgres, private_redis

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass
class Load:
    """Readers and writers hammering a server from threads until stopped; answers are kept."""

    url: str
    statuses: list[tuple[str, int, str]] = field(default_factory=list)  # (kind, status, error)
    created: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, kind: str) -> None:
        with requests.Session() as session:
            n = 0
            while not self.stop.is_set():
                n += 1
                try:
                    response = ask(session, self.url, kind, n)
                except requests.Timeout:
                    self.statuses.append((kind, 0, "timeout"))
                    continue
                except requests.RequestException:  # refused, reset, cut off mid-answer
                    self.statuses.append((kind, 0, "connection"))
                    time.sleep(0.01)
                    continue
                error = "" if response.ok else answer_error(response)
                self.statuses.append((kind, response.status_code, error))
                if response.status_code == 201:
                    self.created.append(int(response.json()["id"]))

    def seen(self) -> int:
        return len(self.statuses)

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 60
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting until {what}: {self.statuses[-5:]}")
            time.sleep(0.02)


def ask(session: requests.Session, url: str, kind: str, n: int) -> requests.Response:
    """Read post p's comment list, or post comment number `n` to it."""
    if kind == "read":
        return session.get(f"{url}/api/posts/p/comments", timeout=10)
    return session.post(
        f"{url}/api/posts/p/comments", json=comment_fields(body=f"{kind} {n}"), timeout=10
    )


def answer_error(response: requests.Response) -> str:
    """The JSON error code, or what came instead of JSON (which the tests then reject)."""
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return f"not JSON: {response.text[:200]!r}"


@contextmanager
def running_load(url: str, readers: int = 2, writers: int = 2) -> Iterator[Load]:
    """Load from threads for as long as the block runs."""
    load = Load(url)
    threads = [threading.Thread(target=load.run, args=("read",)) for _ in range(readers)]
    threads += [threading.Thread(target=load.run, args=("write",)) for _ in range(writers)]
    for thread in threads:
        thread.start()
    try:
        yield load
    finally:
        load.stop.set()
        for thread in threads:
            thread.join()


def server_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return (
        {
            "TMPDIR": str(tmp_path),  # what a killed server leaves behind goes with the test
            "COMMENTD_DATABASE_URL": database_url,
            "COMMENTD_ADMIN_TOKEN": ADMIN_TOKEN,
            "COMMENTD_MIN_FILL_SECONDS": "0",
        }
        | LIFTED_LIMITS
        | extra
    )


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


def test_postgresql_restarted_under_load_gives_json_503_then_recovers_by_itself(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    server = start_server(server_env(postgres.url, tmp_path), tmp_path)
    try:
        with running_load(server.url) as load:
            load.wait_for(lambda: len(load.created) >= 20, "comments are being taken")
            postgres.stop()
            down_from = load.seen()
            load.wait_for(lambda: load.seen() > down_from + 40, "requests are answered while down")
            health_while_down = requests.get(f"{server.url}/healthz", timeout=10)
            while_down = load.statuses[down_from + 5 : down_from + 40]
            postgres.start()
            back_from = load.seen()
            load.wait_for(
                lambda: any(s == 201 for _, s, _ in load.statuses[back_from:]),
                "a comment is taken again",
            )
            load.wait_for(
                lambda: any(k == "read" and s == 200 for k, s, _ in load.statuses[back_from:]),
                "a list is read again",
            )
    finally:
        server.stop()

    assert health_while_down.status_code == 503
    assert health_while_down.json()["error"] == "database_unavailable"
    # Nothing hangs or breaks while the database is down: every answer is the JSON 503.
    assert {(status, error) for _, status, error in while_down} == {(503, "database_unavailable")}
    assert {kind for kind, _, _ in while_down} == {"read", "write"}
    assert 500 not in {status for _, status, _ in load.statuses}
    assert set(load.created) <= stored_values(postgres.url, Comment.id)
    assert '"database unavailable' in server.log()


def server_connections(postgres: PrivatePostgres) -> int:
    """Connections held open to the private PostgreSQL by others (the server's pools)."""
    url = f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres"
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("kind", ["read", "write"])
def test_after_a_postgresql_restart_a_warm_pool_fails_at_most_one_request_per_process(
    postgres: PrivatePostgres, tmp_path: Path, kind: str
) -> None:
    """No pre-ping on checkout: the first request to meet a dead pooled connection may fail
    (a JSON 503), but it invalidates the whole pool, so the other dead ones are never used."""
    env = server_env(postgres.url, tmp_path)
    processes = worker_plan(Settings.from_env(env))[0]
    server = start_server(env, tmp_path)
    try:
        with running_load(server.url, readers=4, writers=4) as load:
            load.wait_for(lambda: len(load.created) >= 40, "the pools are warm")
        pooled = server_connections(postgres)
        postgres.stop()  # nothing asks the server anything until the database is back
        postgres.start()
        with requests.Session() as session:  # one request at a time from here
            answers = [ask(session, server.url, kind, n) for n in range(20)]
    finally:
        server.stop()

    statuses = [(r.status_code, "" if r.ok else answer_error(r)) for r in answers]
    assert pooled >= 4, "the test needs several pooled connections, all dead after the restart"
    ok = 200 if kind == "read" else 201
    assert (ok, "") in statuses, statuses
    first_ok = statuses.index((ok, ""))
    # Failures come first, are the JSON 503, and number at most one per process (its pool)...
    assert set(statuses[:first_ok]) <= {(503, "database_unavailable")}
    assert first_ok <= processes, statuses
    # ...and once a request succeeds, every later one does.
    assert set(statuses[first_ok:]) == {(ok, "")}, statuses


def test_redis_down_keeps_posting_on_per_process_limits_with_a_warning(tmp_path: Path) -> None:
    with private_redis() as redis_server:
        env = server_env(
            f"sqlite:///{tmp_path / 'c.db'}",
            tmp_path,
            COMMENTD_RATELIMIT_STORAGE_URI=redis_server.url,
            COMMENTD_POST_RATE_LIMIT="2 per minute",
        )
        server = start_server(env, tmp_path)
        try:
            processes = worker_plan(Settings.from_env(env))[0]
            assert processes >= 2  # shared storage: one process per core, at least two

            def post() -> requests.Response:
                url = f"{server.url}/api/posts/p/comments"
                with requests.Session() as session:  # a new connection: any worker may take it
                    return session.post(url, json=comment_fields(), timeout=10)

            assert post().status_code == 201
            redis_server.kill()
            after = [post() for _ in range(2 * processes + 1)]
        finally:
            server.stop()

    statuses = [response.status_code for response in after]
    assert statuses[0] == 201  # posting goes on...
    # ...under limits kept per process: `processes` counters of 2 cannot take them all.
    assert set(statuses) == {201, 429}
    assert statuses.count(201) <= 2 * processes
    warnings = [
        line
        for line in map(json.loads, server.log().splitlines())
        if line["level"] == "warning" and "falling back to in-memory" in line["msg"]
    ]
    assert warnings


def server_pids(server: LiveServer) -> list[int]:
    """The gunicorn master and its workers (read from /proc: no psutil here)."""
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def test_every_comment_that_got_a_201_survives_sigkill_of_every_server_process(
    database_url: str, tmp_path: Path
) -> None:
    server = start_server(server_env(database_url, tmp_path), tmp_path)
    try:
        with running_load(server.url, readers=1, writers=4) as load:
            load.wait_for(lambda: len(load.created) >= 50, "comments are being taken")
            for pid in server_pids(server):
                os.kill(pid, signal.SIGKILL)
            server.process.wait()
            load.wait_for(
                lambda: load.statuses[-1][2] == "connection", "the server is plainly gone"
            )
    finally:
        server.stop()

    assert len(load.created) >= 50
    assert set(load.created) <= stored_values(database_url, Comment.id)
    # The database opens cleanly for the next start.
    restarted = start_server(server_env(database_url, tmp_path), tmp_path)
    try:
        page = requests.get(f"{restarted.url}/api/posts/p/comments", timeout=10)
        assert page.status_code == 200
    finally:
        restarted.stop()


@contextmanager
def small_filesystem(path: Path, size: str, inodes: int = 0) -> Iterator[Path]:
    """A tmpfs of `size` (and of `inodes` files and folders, if given) mounted at `path` for
    the block (needs root, as CI runs; skipped elsewhere): a real filesystem that fills up."""
    path.mkdir()
    options = f"size={size},mode=1777" + (f",nr_inodes={inodes}" if inodes else "")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root only): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


BIG_THREAD = 1500  # comments: a thread whose JSON is over a megabyte


def fill(directory: Path) -> Path:
    """Write to a file in `directory` until the filesystem refuses even a byte (ENOSPC)."""
    path = directory / "filler"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as error:
                assert error.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return path


def strange_requests(url: str) -> list[int]:
    """Requests with methods HTTP lets a client invent, to endpoints old and new: statuses
    (0: no answer at all)."""
    statuses = []
    with requests.Session() as session:
        for n in range(60):
            path = ("/api/posts/p/comments", "/api/counts?slug=p", f"/nowhere/{n}")[n % 3]
            try:
                statuses.append(session.request(f"BREW{n}", url + path, timeout=10).status_code)
            except requests.RequestException:
                statuses.append(0)
    return statuses


def counted(metrics_url: str, method: str) -> float:
    """commentd_http_requests_total summed over the samples of `method`."""
    scrape = requests.get(f"{metrics_url}/metrics", timeout=5)
    assert scrape.status_code == 200
    return sum(
        sample.value
        for family in text_string_to_metric_families(scrape.text)
        for sample in family.samples
        if sample.name == "commentd_http_requests_total" and sample.labels["method"] == method
    )


@pytest.mark.parametrize("filled", ["nearly-at-start", "while-serving"])
def test_a_full_tmpdir_costs_no_request_and_no_worker(tmp_path: Path, filled: str) -> None:
    """Every request answered on a full TMPDIR, where the metrics files live: a red team had
    workers killed by SIGBUS (their sparse, memory-mapped files) and every post 503 (SQLite's
    temporary files there). An import's upload, assembled there, waits for room: 503, kept.

    Nearly full at start: room for the metrics directory (Python's tempfile passes over a
    TMPDIR where it cannot write a byte), none for a worker's metrics files."""
    upload = (FIXTURES / "import" / "disqus" / "sample.xml").read_bytes()
    with small_filesystem(tmp_path / "tmp", "8m") as tmpdir:
        env = server_env(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, TMPDIR=str(tmpdir))
        run_commentd(env["COMMENTD_DATABASE_URL"], "migrate")
        write_export(tmp_path / "big.xml", comments=BIG_THREAD, threads=1)
        run_commentd(env["COMMENTD_DATABASE_URL"], "import", "disqus", str(tmp_path / "big.xml"))
        export = tmpdir / "export.json"
        run_commentd(env["COMMENTD_DATABASE_URL"], "export", "json", str(export))
        exported = export.read_bytes()
        if filled == "nearly-at-start":
            filler = fill(tmpdir)
            os.truncate(filler, filler.stat().st_size - 64 * 1024)
        server = start_server(env, tmp_path, metrics=True)
        try:
            assert server.metrics_url is not None
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            begun = requests.post(
                f"{server.url}/api/moderation/imports",
                json={"format": "disqus", "size": len(upload)},
                headers=headers,
                timeout=10,
            ).json()
            sent = requests.put(
                f"{server.url}/api/moderation/imports/{begun['id']}/parts/0",
                data=upload,
                headers=headers | {"Content-Type": "application/octet-stream"},
                timeout=10,
            )
            assert sent.status_code == 204
            filler = fill(tmpdir)

            strange = strange_requests(server.url)
            with requests.Session() as session:
                posts = [ask(session, server.url, "write", n) for n in range(10)]
                reads = [ask(session, server.url, "read", n) for n in range(10)]
                (big_slug,) = stored_values(env["COMMENTD_DATABASE_URL"], Post.slug) - {"p"}
                big_read = session.get(f"{server.url}/api/posts/{big_slug}/comments", timeout=30)
                fragment = f"{server.url}/api/posts/{big_slug}/comments.html"
                big_fragment = session.get(fragment, timeout=30)
            run = f"{server.url}/api/moderation/imports/{begun['id']}/run"
            waiting = requests.post(run, json={}, headers=headers, timeout=30)
            uncounted = counted(server.metrics_url, "other")
            exporting = run_commentd(
                env["COMMENTD_DATABASE_URL"], "export", "json", str(export), check=False
            )
            export_after = (export.read_bytes(), sorted(p.name for p in tmpdir.iterdir()))
            site = tmpdir / "site"
            static = run_commentd(
                env["COMMENTD_DATABASE_URL"],
                "export",
                "static",
                str(site),
                "--quiet",
                check=False,
                env={"COMMENTD_PUBLIC_URL": server.url},
            )
            site_left = sorted(p.name for p in site.iterdir()) if site.exists() else []
            filler.unlink()  # the operator makes room
            imported = requests.post(run, json={}, headers=headers, timeout=30)
            roomy_read = requests.get(f"{server.url}/api/posts/{big_slug}/comments", timeout=30)
            roomy_fragment = requests.get(fragment, timeout=30)
        finally:
            server.stop()

    assert 0 not in strange and set(strange) <= {404, 405}
    assert [post.status_code for post in posts] == [201] * 10
    assert [read.status_code for read in reads] == [200] * 10
    # Over a megabyte, which waitress would have spilled to a file in TMPDIR and cut short.
    assert big_read.status_code == 200 and len(big_read.content) > 1_000_000
    assert big_read.content == roomy_read.content  # whole, as with room to spare
    # Past the page cache's budget (~3.6 MB): written to a file in TMPDIR before it is sent,
    # so a full TMPDIR is a 503 saying so, where waitress's spill sent a 200 cut short.
    assert (big_fragment.status_code, big_fragment.json()["error"]) == (503, "storage_full")
    assert big_fragment.headers["Retry-After"] == "60"
    assert roomy_fragment.status_code == 200
    assert len(roomy_fragment.content) == int(roomy_fragment.headers["Content-Length"]) > 2**21
    assert (waiting.status_code, waiting.json()["error"]) == (503, "storage_full")
    assert waiting.headers["Retry-After"] == "60"
    assert imported.status_code == 200, imported.text
    assert imported.json()["read"] > 0
    assert stored_values(env["COMMENTD_DATABASE_URL"], Comment.id) >= {
        post.json()["id"] for post in posts
    }
    # The export that did not fit leaves the one before as it was, and nothing beside it.
    assert exporting.returncode == 1 and "Traceback" not in exporting.stderr
    assert "could not write" in exporting.stderr and "No space left" in exporting.stderr
    assert export_after[0] == exported
    assert not [name for name in export_after[1] if name.startswith(".")]
    assert static.returncode == 1 and "No space left" in static.stderr, static.stderr
    assert not [name for name in site_left if name.startswith(".")], site_left
    log = server.log()
    assert "SIGBUS" not in log and "was sent" not in log
    if filled == "while-serving":  # files whole from the start: counting went on
        assert uncounted == len(strange)
    else:  # no room for them: uncounted, said in the log, and nothing else lost
        assert uncounted == 0
        assert "counts nothing until its files fit" in log


def use_up_inodes(directory: Path) -> None:
    """Make empty files in `directory` until the filesystem has no inode left (ENOSPC)."""
    for n in range(10_000):
        try:
            (directory / f"inode-{n}").touch()
        except OSError as error:
            assert error.errno == errno.ENOSPC
            return
    raise AssertionError("the filesystem never ran out of inodes")


def wait_for_new_workers(server: LiveServer, old: set[int], workers: int) -> set[int]:
    """The server's workers once `workers` of them are new (none in `old`) and it answers."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.process.poll() is None, server.log()
        current = set(server_pids(server)[1:])
        if len(current) == workers and not current & old:
            try:
                if requests.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    return current
            except requests.RequestException:
                pass
        time.sleep(0.1)
    raise AssertionError(f"no {workers} new workers in 30 s:\n{server.log()[-3000:]}")


def test_workers_come_back_on_a_tmpdir_out_of_inodes_and_their_metrics_files_stay_few(
    tmp_path: Path,
) -> None:
    """gunicorn's master makes each new worker's heartbeat file: in TMPDIR, a red team had
    the whole server exit when a worker died with TMPDIR out of inodes. And each worker's
    metrics files (half a megabyte, allocated whole) used to be named by pid, so every HUP or
    crash left two more: named by slot, a new worker goes on in a dead one's files."""
    with small_filesystem(tmp_path / "tmp", "8m", inodes=1000) as tmpdir:
        env = server_env(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, TMPDIR=str(tmpdir))
        server = start_server(env, tmp_path, metrics=True)
        try:
            assert server.metrics_url is not None
            workers = len(server_pids(server)) - 1
            with requests.Session() as session:
                assert ask(session, server.url, "read", 0).status_code == 200
            counted_before = counted(server.metrics_url, "GET")
            pids = set(server_pids(server)[1:])
            for _ in range(3):  # a log rotation's HUP: every worker replaced
                server.process.send_signal(signal.SIGHUP)
                pids = wait_for_new_workers(server, pids, workers)
            use_up_inodes(tmpdir)
            server.process.send_signal(signal.SIGHUP)  # new workers before the old go
            pids = wait_for_new_workers(server, pids, workers)
            os.kill(min(pids), signal.SIGKILL)  # a worker dies: the master starts another
            wait_for_new_workers(server, {min(pids)}, workers)
            with requests.Session() as session:
                reads = [ask(session, server.url, "read", n).status_code for n in range(20)]
                posts = [ask(session, server.url, "write", n).status_code for n in range(5)]
            counted_after = counted(server.metrics_url, "GET")
            (metrics_dir,) = tmpdir.glob("commentd-metrics-*")
            files = sorted(path.name for path in metrics_dir.glob("*.db"))
        finally:
            server.stop()

    assert server.process.returncode == 0, server.log()[-3000:]
    assert reads == [200] * 20 and posts == [201] * 5
    # Six generations of workers, two files each: only those of the live workers' slots.
    assert len(files) <= 2 * 2 * workers, files
    assert all(name.split("_")[1].startswith("slot") for name in files), files
    assert counted_after >= counted_before + 20  # the dead workers' counts are kept


def test_an_import_s_spill_file_on_a_full_disk_is_the_machine_s_fault_not_the_file_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MEMORY_KEYS pages an import keeps its page map in an SQLite file in TMPDIR; a red
    team had its SQLITE_FULL reported as a file that "cannot be read" (422 import_failed)."""
    with small_filesystem(tmp_path / "tmp", "256k") as tmpdir:
        monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
        spill: SpillMap[str] = SpillMap(memory_keys=2)
        try:
            with pytest.raises(OSError) as raised:
                for n in range(100_000):
                    spill[f"https://blog.example/posts/{n}/"] = "x" * 200
        finally:
            spill.close()

    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename.startswith(str(tmpdir))
    status, code, _message, headers = unexpected(raised.value)
    assert (status, code, headers) == (503, "storage_full", {"Retry-After": "60"})


def post_body(session: requests.Session, url: str, n: int) -> tuple[int, str, int | None]:
    """Post comment `n` to post p: (status, error code, id if created)."""
    body = f"Comment {n}: the second set of clamshells felt easier with the band above the knee."
    response = session.post(
        f"{url}/api/posts/p/comments", json=comment_fields(body=body), timeout=10
    )
    created = int(response.json()["id"]) if response.status_code == 201 else None
    return response.status_code, "" if response.ok else answer_error(response), created


@pytest.mark.parametrize("filled", ["before-the-first-request", "while-serving"])
def test_a_full_database_disk_refuses_posts_as_storage_full_and_serves_reads(
    tmp_path: Path, filled: str
) -> None:
    """A red team filled the disk holding the SQLite database: posts were answered 503
    database_unavailable (a group commit passed SQLite's "disk is full" on in a wrapper of
    its own, which was not looked into), and filled before any request, every read and
    /healthz failed too ("disk I/O error": with no connection open, SQLite had deleted its
    -shm file and could not make it again). Now each worker holds a connection open."""
    with small_filesystem(tmp_path / "db", "3m") as disk:
        database_url = f"sqlite:///{disk / 'c.db'}"
        run_commentd(database_url, "migrate")
        env = server_env(database_url, tmp_path, COMMENTD_MODERATION="none")
        server = cold_server(env, tmp_path)
        try:
            with requests.Session() as session:
                before = []
                if filled == "while-serving":
                    before = [post_body(session, server.url, n) for n in range(5)]
                filler = fill(disk)
                posts = [post_body(session, server.url, n) for n in range(5, 45)]
                reads = [ask(session, server.url, "read", 0) for _ in range(5)]
                health = session.get(f"{server.url}/healthz", timeout=10)
                filler.unlink()  # the operator makes room
                after = [post_body(session, server.url, n) for n in range(45, 50)]
        finally:
            server.stop()
        stored = stored_values(database_url, Comment.id)

    assert [status for status, _, _ in before] == [201] * len(before)
    # Every post on the full disk refused as what it is, or stored and answered so.
    assert {(status, error) for status, error, _ in posts} <= {(201, ""), (503, "storage_full")}
    assert (503, "storage_full", None) in posts
    assert {created for _, _, created in posts if created} <= stored
    assert [read.status_code for read in reads] == [200] * 5
    assert reads[-1].json()["slug"] == "p"
    assert health.status_code == 200
    assert [status for status, _, _ in after] == [201] * 5
    assert "disk I/O error" not in server.log()


def test_serve_on_a_disk_out_of_inodes_says_so(tmp_path: Path) -> None:
    """SQLite says "unable to open database file" when no file can be made; with megabytes
    free the start-up check said to check the file's permissions."""
    with small_filesystem(tmp_path / "db", "8m", inodes=20) as disk:
        use_up_inodes(disk)
        done = run_commentd(f"sqlite:///{disk / 'c.db'}", "migrate", check=False)

    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"the disk holding {disk} has no inodes left" in done.stderr, done.stderr


def test_a_full_tmpdir_leaves_the_limits_whole_across_workers(tmp_path: Path) -> None:
    """The workers' shared counters file was in TMPDIR: once it was full, each worker counted
    on its own, and an address at its limit of 3 a minute posted 3 more to each. The file
    now lies beside the database, on the disk a post needs room on anyway."""
    database_url = f"sqlite:///{tmp_path / 'c.db'}"
    run_commentd(database_url, "migrate")
    with small_filesystem(tmp_path / "tmp", "4m") as tmpdir:
        env = server_env(database_url, tmp_path, TMPDIR=str(tmpdir))
        env |= {"COMMENTD_POST_RATE_LIMIT": "3 per minute"}
        server = start_server(env, tmp_path)
        try:
            fill(tmpdir)
            statuses = [
                requests.post(
                    f"{server.url}/api/posts/p/comments",
                    json=comment_fields(body=f"Comment {n}, on a connection of its own"),
                    headers={"Connection": "close"},  # spread over the workers
                    timeout=10,
                ).status_code
                for n in range(12)
            ]
        finally:
            server.stop()

    assert sorted(statuses) == [201] * 3 + [429] * 9, statuses
    assert "falling back to in-memory storage" not in server.log()


def test_commands_on_a_full_database_disk_say_so_in_a_line(tmp_path: Path) -> None:
    """`commentd token` on a full disk printed a traceback. Every command now says what the
    machine ran short of in one line; and `serve` on a full disk says the disk is full, not
    "check that it is a commentd SQLite database"."""
    with small_filesystem(tmp_path / "db", "2m") as disk:
        database_url = f"sqlite:///{disk / 'c.db'}"
        run_commentd(database_url, "migrate")
        made = run_commentd(database_url, "token", "--label", "kept").stdout.strip()
        held = hold_open(disk / "c.db")  # as a running server's workers hold it
        try:
            filler = fill(disk)
            commands = [
                ("token", "--label", "new"),
                ("token", "revoke", "kept"),
                ("import", "isso", str(FIXTURES / "import" / "isso" / "sample.db")),
            ]
            refused = [run_commentd(database_url, *command, check=False) for command in commands]
        finally:
            held.close()
        listed = run_commentd(database_url, "token", "list", "--json", check=False)
        serving = subprocess.run(
            [sys.executable, "-m", "commentd", "serve", "--port", "0"],
            env={"PATH": os.environ["PATH"]} | server_env(database_url, tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
        filler.unlink()
        tokens = json.loads(run_commentd(database_url, "token", "list", "--json").stdout)

    for command, done in zip(commands, refused, strict=True):
        assert done.returncode == 1, (command, done.stderr)
        assert "Traceback" not in done.stderr, (command, done.stderr)
        assert "disk is full" in done.stderr, (command, done.stderr)
    assert "Traceback" not in listed.stderr, listed.stderr  # reads may work, or say why not
    assert serving.returncode == 1 and "Traceback" not in serving.stderr, serving.stderr
    assert "is full" in serving.stderr, serving.stderr
    assert made and [token["label"] for token in tokens["tokens"]] == ["kept"]


FORM_SECRET = "form-secret-0123456789abcdefghijklmnop"


def cold_server(env: dict[str, str], workdir: Path) -> LiveServer:
    """`commentd serve` whose workers have booted and answered nothing yet (start_server asks
    /healthz, which would open what a first request opens): ready once every worker holds
    the same open files for half a second."""
    listener = listening_socket()
    port = port_of(listener)  # the server keeps the socket; this process closes its copy
    log_path = workdir / f"serve-{port}.log"
    process = serve_process(env, workdir, [listener], log_path=log_path)
    server = LiveServer(f"http://127.0.0.1:{port}", process, log_path, None)
    deadline = time.monotonic() + 30
    held: dict[int, int] = {}
    while time.monotonic() < deadline:
        assert process.poll() is None, server.log()
        if every_worker_booted(server.log()):
            now = {pid: len(os.listdir(f"/proc/{pid}/fd")) for pid in server_pids(server)[1:]}
            if now == held:
                return server
            held = now
        time.sleep(0.5)
    server.stop()
    raise AssertionError(f"workers not settled in 30 s:\n{server.log()}")


def limit_open_files(pid: int, spare: int) -> None:
    """Let process `pid` open `spare` more files than it has open now, and no more."""
    limit = len(os.listdir(f"/proc/{pid}/fd")) + spare
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))


@pytest.mark.parametrize("form", [False, True], ids=["json", "html-form"])
def test_a_worker_short_of_open_files_stores_and_says_so_or_stores_nothing(
    tmp_path: Path, form: bool
) -> None:
    """A red team set a fresh server's workers a few open files above what they held, then
    posted: for 4 to 9 spare files the comment was stored and answered 503 ("try again": a
    duplicate), a form got JSON and lost its text. What opened files after the commit
    (prometheus_client's files at a type's first value, the i18n catalogues, the templates)
    now opens them at start, and counting never fails an answer."""
    outcomes: list[tuple[int, int, str, int]] = []
    for spare in range(1, 10):
        database_url = f"sqlite:///{tmp_path / f'c{spare}.db'}"
        run_commentd(database_url, "migrate")
        env = server_env(database_url, tmp_path, COMMENTD_SECRET_KEY=FORM_SECRET)
        server = cold_server(env, tmp_path)
        try:
            for pid in server_pids(server)[1:]:
                limit_open_files(pid, spare)
            url = f"{server.url}/api/posts/p/comments"
            if form:
                typed = "Typed by hand, keep me"
                response = requests.post(
                    url,
                    data={**comment_fields(body=typed), "form_token": traps.issue(FORM_SECRET)},
                    headers={"Accept": "text/html"},
                    allow_redirects=False,
                    timeout=20,
                )
            else:
                response = requests.post(url, json=comment_fields(), timeout=20)
            stored = len(stored_values(database_url, Comment.id))
            kind = response.headers.get("Content-Type", "")
            outcomes.append((spare, response.status_code, kind, stored))
            if response.status_code == 503:
                assert stored == 0, outcomes
                if form:
                    assert kind.startswith("text/html") and typed in response.text, outcomes
                else:
                    assert response.json()["error"] in {"overloaded", "database_unavailable"}
            else:
                assert response.status_code in ({200, 303} if form else {201}), outcomes
                assert stored == 1, outcomes
        finally:
            server.stop()
    # Both ways were seen: too few files refused the post, enough stored it.
    assert {status for _, status, _, _ in outcomes} - {503}, outcomes
    assert 503 in {status for _, status, _, _ in outcomes}, outcomes


def raw_posts(port: int, count: int) -> Counter[str]:
    """`count` connections opened at once, each sending one comment before any answer is
    read: the status lines' codes they got in 30 s, counted ("timeout", "closed" otherwise)."""
    body = json.dumps(comment_fields()).encode()
    request = (
        b"POST /api/posts/p/comments HTTP/1.1\r\nHost: blog.example\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]

    def answer(sock: socket.socket) -> str:
        sock.settimeout(30)
        try:
            head = sock.recv(64)
        except TimeoutError:
            return "timeout"
        finally:
            sock.close()
        return head.split(b" ")[1].decode() if head else "closed"

    try:
        for sock in sockets:
            sock.sendall(request)
        with ThreadPoolExecutor(max_workers=count) as pool:
            return Counter(pool.map(answer, sockets))
    finally:
        for sock in sockets:
            sock.close()


def test_a_worker_keeps_open_files_for_its_requests_and_holds_more_connections_back(
    tmp_path: Path,
) -> None:
    """Under a limit of 160 open files, 300 clients posting at once: workers took connections
    until accept() failed, and then 24 posts found no file left to open the database's write
    turn with (503 overloaded). Connections now take at most the limit less what the process
    holds and RESERVED_FILES; the rest wait in the listen queue and are served in turn."""
    database_url = f"sqlite:///{tmp_path / 'c.db'}"
    run_commentd(database_url, "migrate")
    command = ("prlimit", "--nofile=160:160", *SERVE_COMMAND)
    server = start_server(server_env(database_url, tmp_path), tmp_path, command=command)
    try:
        answers = raw_posts(server.port, 300)
    finally:
        server.stop()

    assert answers == {"201": 300}, answers
    assert len(stored_values(database_url, Comment.id)) == 300
    assert "not accepting connections" not in server.log()  # accept() never ran short


@pytest.mark.parametrize("limit", [40, 64])
def test_a_limit_of_open_files_too_low_to_share_out_serves_still_and_says_so(
    tmp_path: Path, limit: int
) -> None:
    """Under a limit of 64 the room for connections came out at 1, and waitress, which counts
    its listener and its wake-up pipe against its limit, took none: every request waited for
    good. A worker now takes FEWEST_CONNECTIONS at least, and says the limit is too low."""
    database_url = f"sqlite:///{tmp_path / 'c.db'}"
    run_commentd(database_url, "migrate")
    command = ("prlimit", f"--nofile={limit}:{limit}", *SERVE_COMMAND)
    server = start_server(server_env(database_url, tmp_path), tmp_path, command=command)
    try:
        posted = requests.post(
            f"{server.url}/api/posts/p/comments", json=comment_fields(), timeout=10
        )
        read = requests.get(f"{server.url}/api/posts/p/comments", timeout=10)
    finally:
        server.stop()

    assert (posted.status_code, read.status_code) == (201, 200)
    assert f"open files: a limit of {limit} leaves this worker room for" in server.log()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time process `pid` has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_worker_out_of_open_files_rests_instead_of_spinning_and_serves_again(
    tmp_path: Path,
) -> None:
    """A red team lowered running workers' open-file limit and held idle connections: each
    worker spent ~70% of a core calling accept() again and again (it fails, waitress swallows
    the error, the socket stays readable). The listener now rests after such a failure. A
    client that arrives meanwhile is answered, once idle connections are cut (IDLE_SECONDS):
    200, or 503 overloaded if the files freed went to the connections waiting before it (a
    limit lowered below what the worker holds is beyond what it can share out); once the
    idle clients are gone, the workers serve again."""
    database_url = f"sqlite:///{tmp_path / 'c.db'}"
    run_commentd(database_url, "migrate")
    server = start_server(server_env(database_url, tmp_path), tmp_path)
    idle: list[socket.socket] = []
    try:
        workers = server_pids(server)[1:]
        for pid in workers:
            limit_open_files(pid, 30)
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(120)]
        time.sleep(1)  # every worker at its limit
        before = {pid: cpu_seconds(pid) for pid in workers}
        started = time.monotonic()
        time.sleep(3)
        took = time.monotonic() - started
        used = {pid: (cpu_seconds(pid) - before[pid]) / took for pid in workers}
        waiting = requests.get(f"{server.url}/healthz", timeout=30)  # answered once idle ones go
        for sock in idle:
            sock.close()
        with requests.Session() as session:
            again = [session.get(f"{server.url}/healthz", timeout=10) for _ in range(10)]
    finally:
        for sock in idle:
            sock.close()
        server.stop()

    assert max(used.values()) < 0.2, used  # share of a core, each worker
    assert waiting.status_code == 200 or answer_error(waiting) == "overloaded", waiting.text
    assert [answer.status_code for answer in again] == [200] * 10
    assert "not accepting connections for now: Too many open files" in server.log()
