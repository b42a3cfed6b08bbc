"""Slow and stalled clients against a live `commentd serve` on its embedded defaults.

Each kind of slow client holds a connection open mid-request (or never reads its answer) while
an ordinary reader must still be served within a couple of seconds. The slow ones must be cut
off by the server's timeouts, and a request that never arrived whole never reaches the app.
Everything stays on 127.0.0.1 and every loop is bounded in count and time.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from bench.disqus_export import write_export
from commentd.models import Post
from commentd.ops.server import IDLE_SECONDS
from tests.helpers import (
    ADMIN_TOKEN,
    LIFTED_LIMITS,
    SERVE_COMMAND,
    LiveServer,
    comment_fields,
    run_commentd,
    start_server,
    stored_values,
)
from tests.private_servers import SHARED_REDIS, forget_prefix, redis_available, unique_prefix

# Time the test gives the server to cut every slow client off (its own limits are 10 s for a
# whole request and 5 s of silence), and the answer time an ordinary reader may take meanwhile:
# 3 s, so that the first check (1 s in) still tells a frozen server, which answers no sooner
# than the first cut-off at 5 s, from one slowed by a loaded 2-core CI machine (2.3 s seen).
CUT_OFF_WITHIN = 30.0
ANSWER_WITHIN = 3.0
TRICKLE_EVERY = 0.25
NON_READER_LOOKS_AFTER = 15.0
SLOW_PATH = "/api/posts/slow-{n}/comments"


@dataclass(frozen=True)
class SlowKind:
    """What a slow client sends at once, and what it then trickles a byte at a time."""

    name: str
    opening: Callable[[int], bytes]
    trickle: Callable[[int], bytes] = lambda _n: b""
    reads_answers: bool = True


def _post_head(n: int, length: int) -> bytes:
    return (
        f"POST {SLOW_PATH.format(n=n)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _json_body(n: int) -> bytes:
    return json.dumps(comment_fields(body=f"slow comment {n} " + "x" * 200)).encode()


KINDS = {
    kind.name: kind
    for kind in (
        # The case: the headers of a POST, then its body a byte at a time.
        SlowKind(
            "trickled body",
            lambda n: _post_head(n, len(_json_body(n))),
            trickle=_json_body,
        ),
        # Slowloris: the request line, then headers a byte at a time, never the blank line.
        SlowKind(
            "trickled headers",
            lambda n: b"GET /api/posts/slow/comments HTTP/1.1\r\nHost: 127.0.0.1\r\n",
            trickle=lambda n: b"".join(f"X-Slow-{n}-{i}: y\r\n".encode() for i in range(400)),
        ),
        # A body announced by Content-Length, a few bytes of it, then nothing.
        SlowKind("stalled body", lambda n: _post_head(n, 300) + b'{"name": "'),
        # A connection that never says anything.
        SlowKind("silent connection", lambda _n: b""),
        # One request answered, then the connection kept open, idle.
        SlowKind(
            "idle keep-alive",
            lambda _n: b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        ),
        # Many requests for a 26 KB script, pipelined, and no answer ever read.
        SlowKind(
            "never reads its answers",
            lambda _n: b"GET /embed.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 300,
            reads_answers=False,
        ),
    )
}


@dataclass
class Outcome:
    kind: str
    cut_off_after: float | None  # seconds from the start, None: still open at the end


def _closed_by_server(sock: socket.socket) -> bool:
    """Read whatever arrived; True once the server has closed the connection."""
    while select.select([sock], [], [], 0)[0]:
        try:
            if not sock.recv(65536):
                return True
        except OSError:
            return True
    return False


def _drained_to_end(sock: socket.socket, seconds: float) -> bool:
    """For a client that never read: read now, and say whether the server had closed."""
    sock.settimeout(seconds)
    try:
        while sock.recv(1 << 20):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def run_slow_client(
    kind: SlowKind, n: int, address: tuple[str, int], started: float, until: float
) -> Outcome:
    """Play one slow client until the server closes on it or `until` (monotonic) passes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if not kind.reads_answers:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.settimeout(5)
        sock.connect(address)
        sock.sendall(kind.opening(n))
        if not kind.reads_answers:
            # It cannot see the server close without reading: it reads once, late.
            time.sleep(max(0.0, min(until, started + NON_READER_LOOKS_AFTER) - time.monotonic()))
            closed = _drained_to_end(sock, 3)
            return Outcome(kind.name, time.monotonic() - started if closed else None)
        pending = kind.trickle(n)
        while time.monotonic() < until:
            if _closed_by_server(sock):
                return Outcome(kind.name, time.monotonic() - started)
            if pending:
                try:
                    sock.send(pending[:1])
                except OSError:
                    return Outcome(kind.name, time.monotonic() - started)
                pending = pending[1:]
            time.sleep(TRICKLE_EVERY)
        return Outcome(kind.name, None)
    finally:
        sock.close()


def answered_in_time(server: LiveServer) -> list[tuple[str, int, float]]:
    """An ordinary reader's health check, comment list and post: (what, status, seconds)."""
    results = []
    for what, call in (
        ("healthz", lambda: requests.get(f"{server.url}/healthz", timeout=ANSWER_WITHIN)),
        (
            "list",
            lambda: requests.get(f"{server.url}/api/posts/normal/comments", timeout=ANSWER_WITHIN),
        ),
        (
            "post",
            lambda: requests.post(
                f"{server.url}/api/posts/normal/comments",
                json=comment_fields(body="An ordinary comment."),
                timeout=ANSWER_WITHIN,
            ),
        ),
    ):
        began = time.monotonic()
        try:
            status = call().status_code
        except requests.RequestException:
            status = 0
        results.append((what, status, round(time.monotonic() - began, 2)))
    return results


def under_slow_clients(server: LiveServer, kinds: list[SlowKind]) -> tuple[list, list]:
    """Start the slow clients, check an ordinary reader three times while they hold on, then
    wait (bounded) for the server to cut them off."""
    parts = urlsplit(server.url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    started = time.monotonic()
    until = started + CUT_OFF_WITHIN
    with ThreadPoolExecutor(max_workers=len(kinds)) as pool:
        futures = [
            pool.submit(run_slow_client, kind, n, address, started, until)
            for n, kind in enumerate(kinds)
        ]
        checks = []
        for delay in (1.0, 2.0, 3.5):  # all within the first 5 s: before any cut-off
            time.sleep(max(0.0, started + delay - time.monotonic()))
            checks.extend(answered_in_time(server))
        outcomes = [future.result(timeout=CUT_OFF_WITHIN + 30) for future in futures]
    return checks, outcomes


def slow_requests_seen_by_the_app(server: LiveServer) -> list[dict[str, object]]:
    lines = [json.loads(x) for x in server.log().splitlines() if x.startswith("{")]
    return [
        line
        for line in lines
        if line.get("logger") == "commentd.access"
        and str(line.get("path", "")).startswith("/api/posts/slow")
    ]


def embedded_defaults(tmp_path: Path) -> dict[str, str]:
    return {
        "COMMENTD_DATABASE_URL": f"sqlite:///{tmp_path / 'commentd.db'}",
        "COMMENTD_ADMIN_TOKEN": ADMIN_TOKEN,
        "COMMENTD_MIN_FILL_SECONDS": "0",
    } | LIFTED_LIMITS


def assert_served_and_cut_off(server: LiveServer, kinds: list[SlowKind]) -> list[dict[str, object]]:
    checks, outcomes = under_slow_clients(server, kinds)

    late = [c for c in checks if c[1] not in (200, 201) or c[2] > ANSWER_WITHIN]
    assert not late, f"ordinary requests not answered in time: {late}"
    still_open = [o.kind for o in outcomes if o.cut_off_after is None]
    assert not still_open, f"never cut off: {still_open}"
    assert requests.get(f"{server.url}/healthz", timeout=ANSWER_WITHIN).status_code == 200
    server.stop()
    return slow_requests_seen_by_the_app(server)


@pytest.mark.parametrize(
    ("count", "mix"),
    [
        (8, ["trickled body"]),  # the input
        (8, list(KINDS)),
        (16, list(KINDS)),
        (64, list(KINDS)),
    ],
    ids=["8-trickled-bodies", "8-mixed", "16-mixed", "64-mixed"],
)
def test_slow_clients_neither_freeze_the_server_nor_reach_the_app(
    tmp_path: Path, count: int, mix: list[str]
) -> None:
    kinds = [KINDS[mix[n % len(mix)]] for n in range(count)]
    server = start_server(embedded_defaults(tmp_path), tmp_path)
    try:
        seen = assert_served_and_cut_off(server, kinds)
    finally:
        server.stop()

    assert seen == []  # no partial request was handed to the app


def test_several_worker_processes_also_outlast_slow_clients(tmp_path: Path) -> None:
    """The shared-limits plan (one process per core, Redis) is served the same way."""
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {SHARED_REDIS}")
    prefix = unique_prefix()
    env = embedded_defaults(tmp_path) | {
        "COMMENTD_RATELIMIT_STORAGE_URI": SHARED_REDIS,
        "COMMENTD_RATELIMIT_KEY_PREFIX": prefix,
    }
    server = start_server(env, tmp_path)
    try:
        seen = assert_served_and_cut_off(server, [KINDS[k] for k in KINDS for _ in range(3)])
        assert server.log().count("Booting worker with pid") >= 2
    finally:
        server.stop()
        forget_prefix(SHARED_REDIS, prefix)

    assert seen == []


def test_a_body_larger_than_the_server_reads_is_refused_unread(tmp_path: Path) -> None:
    """Past what the app could take (64 KiB) and what the server buffers (256 KiB): 413 at
    once, from the headers alone, and the app never runs."""
    server = start_server(embedded_defaults(tmp_path), tmp_path)
    try:
        parts = urlsplit(server.url)
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
            sock.sendall(_post_head(0, 10_000_000))
            answer = sock.recv(65536)
    finally:
        server.stop()

    assert answer.split(b" ", 2)[1] == b"413"
    assert slow_requests_seen_by_the_app(server) == []


# Requests the server refuses before the app sees them, and the code each answer carries.
REFUSED_BY_THE_SERVER = {
    "body past 256 KiB": (_post_head(0, 10_000_000), 413, "too_large"),
    "headers past 32 KiB": (
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"y" * 40_000 + b"\r\n\r\n",
        431,
        "headers_too_large",
    ),
    "a header line without a colon": (
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nNo colon here\r\n\r\n",
        400,
        "bad_request",
    ),
    "a transfer coding it cannot read": (
        b"POST /api/posts/x/comments HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
        "not_implemented",
    ),
}


def test_what_the_server_refuses_before_the_app_is_answered_in_json_too(tmp_path: Path) -> None:
    """API.md: an error is `{"error", "message"}` JSON, also when waitress answers for the app."""
    server = start_server(embedded_defaults(tmp_path), tmp_path)
    answers = {}
    try:
        parts = urlsplit(server.url)
        for name, (request, _status, _code) in REFUSED_BY_THE_SERVER.items():
            with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
                sock.sendall(request)
                answers[name] = requests_response(sock)
    finally:
        server.stop()

    for name, (_request, status, code) in REFUSED_BY_THE_SERVER.items():
        got_status, headers, body = answers[name]
        assert got_status == status, name
        assert headers.get("content-type") == "application/json", name
        error = json.loads(body)
        assert error["error"] == code, name
        assert error["message"], name


def requests_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """(status, headers in lower case, body) of the one answer on `sock`, read to its end."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:  # the server closed with bytes of the request still unread
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split(" ")[1]), headers, body


def worker_rss_kib(server: LiveServer) -> int:
    """The resident memory of the server's worker processes, summed (KiB, from /proc)."""
    master = server.process.pid
    workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total = 0
    for pid in workers:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def fetch(url: str) -> bytes:
    """GET `url` on a connection of its own; the body."""
    with requests.Session() as session:
        return session.get(url, timeout=30).content


def serve_one_big_thread(
    tmp_path: Path, comments: int, command: Sequence[str] = SERVE_COMMAND
) -> tuple[LiveServer, str]:
    """`commentd serve` (`command`) on a SQLite file holding one post with `comments` imported
    comments (TMPDIR in `tmp_path`); the server and the post's slug."""
    database_url = f"sqlite:///{tmp_path / 'c.db'}"
    run_commentd(database_url, "migrate")
    write_export(tmp_path / "big.xml", comments=comments, threads=1)
    run_commentd(database_url, "import", "disqus", str(tmp_path / "big.xml"))
    env = {"COMMENTD_DATABASE_URL": database_url, "TMPDIR": str(tmp_path)} | LIFTED_LIMITS
    (slug,) = stored_values(database_url, Post.slug)
    return start_server(env, tmp_path, command=command), slug


def test_slow_readers_of_a_big_thread_share_its_bytes_instead_of_a_copy_each(
    tmp_path: Path,
) -> None:
    """A big thread's body (within the page cache's budget) is sent from the page cache's
    bytes, neither spilled to TMPDIR nor copied: 40 clients that do not read cost no 40
    copies of it."""
    server, slug = serve_one_big_thread(tmp_path, comments=1500)
    sockets: list[socket.socket] = []
    try:
        path = f"/api/posts/{slug}/comments"
        # Every worker builds and caches the page first: concurrent connections are spread
        # over the workers, each busy with one.
        with ThreadPoolExecutor(8) as pool:
            for _ in range(3):
                bodies = list(pool.map(lambda _: fetch(server.url + path), range(8)))
        assert min(len(body) for body in bodies) > 1_000_000
        before = worker_rss_kib(server)
        host, port = urlsplit(server.url).netloc.split(":")
        for _ in range(40):
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.connect((host, int(port)))
            client.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            sockets.append(client)
        time.sleep(1.5)  # answered, waiting to be read (cut off after 5 s of silence)
        after = worker_rss_kib(server)
    finally:
        for client in sockets:
            client.close()
        server.stop()

    # A copy each would be 40 x 1.5 MB = 60 MB; what a chunk in flight costs is far less.
    assert after - before < 15 * 1024, (before, after)


def read_answer(sock: socket.socket, *, slow_seconds: float, pause_seconds: float = 0) -> bytes:
    """The answer on `sock` read at ~32 KB/s for `slow_seconds` (a phone on a poor line),
    then, after `pause_seconds` of reading nothing, as fast as it comes, to its end."""
    data = b""
    slow_until = time.monotonic() + slow_seconds
    while time.monotonic() < slow_until:
        chunk = sock.recv(3200)
        if not chunk:
            return data
        data += chunk
        time.sleep(0.1)
    time.sleep(pause_seconds)
    while chunk := sock.recv(1 << 20):
        data += chunk
    return data


def test_a_client_reading_a_big_answer_slowly_gets_all_of_it_one_that_stops_is_cut(
    tmp_path: Path,
) -> None:
    """Silence is judged by what the client takes from the kernel, not by waitress's own sends
    (server.READING_BYTES): the kernel wakes waitress only once half its send queue drained,
    which at 32 KB/s took longer than IDLE_SECONDS, and a reading client got half a 200."""
    server, slug = serve_one_big_thread(tmp_path, comments=4000)
    host, port = urlsplit(server.url).netloc.split(":")
    # The fragment: ~9.6 MB, far more than the kernel's buffers hold (4 MB at most here).
    request = f"GET /api/posts/{slug}/comments.html HTTP/1.1\r\nHost: {host}\r\n\r\n"

    def answer(*, slow_seconds: float, pause_seconds: float = 0) -> tuple[int, int]:
        """(Content-Length, bytes of body received)."""
        with socket.create_connection((host, int(port))) as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            client.sendall(request.encode())
            data = read_answer(client, slow_seconds=slow_seconds, pause_seconds=pause_seconds)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        [length] = [
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ]
        return length, len(body)

    try:
        length, received = answer(slow_seconds=3 * IDLE_SECONDS)
        assert length > 8_000_000
        assert received == length
        # A client that stops reading is still cut once silent for IDLE_SECONDS.
        length, received = answer(slow_seconds=1, pause_seconds=IDLE_SECONDS + 3)
        assert received < length
    finally:
        server.stop()


def test_clients_that_stop_reading_for_good_are_closed_and_those_waiting_are_served(
    tmp_path: Path,
) -> None:
    """200 clients ask at once for a 3.5 MB fragment, each takes its first 4 KB and reads no
    more, under a limit of 160 open files. waitress closes a connection it has given up on in
    its next send, which never came: the first 78 held every connection the workers had
    files for, and the others waited in the listen queue for good. Each is now closed once
    silent for IDLE_SECONDS, and every client got its answer's head."""
    command = ("prlimit", "--nofile=160:160", *SERVE_COMMAND)
    server, slug = serve_one_big_thread(tmp_path, comments=1500, command=command)
    request = f"GET /api/posts/{slug}/comments.html HTTP/1.1\r\nHost: blog.example\r\n\r\n"
    clients: list[socket.socket] = []
    heads: dict[socket.socket, bytes] = {}
    try:
        for _ in range(200):
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.connect(("127.0.0.1", server.port))
            client.sendall(request.encode())
            clients.append(client)
        deadline = time.monotonic() + 12 * IDLE_SECONDS
        while len(heads) < len(clients) and time.monotonic() < deadline:
            waiting = [client for client in clients if client not in heads]
            ready, _, _ = select.select(waiting, [], [], 1)
            for client in ready:
                heads[client] = client.recv(4096)[:15]  # and nothing more: it stalls
    finally:
        for client in clients:
            client.close()
        server.stop()

    assert len(heads) == 200, f"{200 - len(heads)} clients never got an answer"
    assert set(heads.values()) == {b"HTTP/1.1 200 OK"}


def test_clients_that_queue_answers_past_the_high_watermark_and_stop_hold_no_thread(
    tmp_path: Path,
) -> None:
    """Twelve clients each pipeline three requests for a 12 MB fragment and read nothing: past
    waitress's outbuf_high_watermark (16 MB queued) a request's thread waits until its client
    reads, and waitress never cut those connections. They held every thread of both workers,
    and /healthz went unanswered for as long as they stayed. Now they are closed once silent
    for IDLE_SECONDS, which wakes the threads."""
    server, slug = serve_one_big_thread(tmp_path, comments=5000)
    request = f"GET /api/posts/{slug}/comments.html HTTP/1.1\r\nHost: blog.example\r\n\r\n"
    clients: list[socket.socket] = []
    try:
        for _ in range(12):
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.connect(("127.0.0.1", server.port))
            client.sendall(request.encode() * 3)
            clients.append(client)
        time.sleep(3 * IDLE_SECONDS)  # stalled since the first few kilobytes
        started = time.monotonic()
        health = requests.get(f"{server.url}/healthz", timeout=10)
        waited = time.monotonic() - started
    finally:
        for client in clients:
            client.close()
        server.stop()

    assert health.status_code == 200
    assert waited < 2, waited
    assert "Traceback" not in server.log()
