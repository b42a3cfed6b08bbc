"""Connections are spread evenly over `commentd serve`'s worker processes (ops/balancing.py),
and a worker that stops answers every connection it took (ops/server.py, Worker._finish).

A burst of keep-alive connections (a proxy filling its pool, a load test) used to land on
whichever worker woke first, often all on one, leaving the other core idle for as long as they
lived. Each test opens such a burst against a real server and counts, from /proc, which worker
process holds each connection. A worker stopped (SIGTERM: a reload, a scale-down) used to
reset the connections it had just accepted, whose requests had not reached it yet.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from commentd.config import Settings
from commentd.ops.server import (
    FIRST_REQUEST_SECONDS,
    IDLE_SECONDS,
    REQUEST_SECONDS,
    SWEEP_SECONDS,
    worker_plan,
)
from tests.helpers import LiveServer, start_server, wait_until
from tests.private_servers import SHARED_REDIS, forget_prefix, redis_available, unique_prefix

BURST = 16  # bench/run.py's connections
ROUNDS = 8
ESTABLISHED = "01"  # /proc/net/tcp's state codes
CLOSE_WAIT = "08"  # the client closed; the worker has yet to


@pytest.fixture
def two_workers(serve_env: dict[str, str], tmp_path: Path) -> Iterator[LiveServer]:
    """A server of two worker processes whatever the machine's cores: limits on Redis (a
    shared storage) always give at least two."""
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {SHARED_REDIS}")
    prefix = unique_prefix()
    env = serve_env | {
        "COMMENTD_RATELIMIT_STORAGE_URI": SHARED_REDIS,
        "COMMENTD_RATELIMIT_KEY_PREFIX": prefix,
    }
    processes = worker_plan(Settings.from_env(env))[0]
    server = start_server(env, tmp_path)
    wait_until(lambda: len(workers(server)) == processes, "all workers boot")
    # A worker counts (and accepts) once its event loop runs, a moment after its fork.
    wait_until(lambda: every_worker_serves(server), "every worker serves")
    yield server
    server.stop()
    forget_prefix(SHARED_REDIS, prefix)


def every_worker_serves(server: LiveServer) -> bool:
    """Whether a small burst reaches every worker process (closed again before answering)."""
    connections = burst(server, 4)
    try:
        return len(held_connections(server)) == len(workers(server))
    finally:
        for connection in connections:
            connection.close()
        wait_until(lambda: still_open(server) == 0, "connections closed")


def workers(server: LiveServer) -> list[int]:
    """The pids of the server's worker processes (the master's children)."""
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def server_port(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def server_sockets(server: LiveServer, states: tuple[str, ...]) -> list[str]:
    """The socket inodes of connections to the server's port in any of `states`
    (/proc/net/tcp's codes)."""
    port = server_port(server)
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] in states:
            found.append(fields[9])
    return found


def held_connections(server: LiveServer) -> Counter[int]:
    """How many established connections to the server's port each worker process holds."""
    inodes = set(server_sockets(server, (ESTABLISHED,)))
    held: Counter[int] = Counter()
    for pid in workers(server):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except FileNotFoundError:  # closed meanwhile
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held[pid] += 1
    return held


def still_open(server: LiveServer) -> int:
    """Connections to the server's port that a worker has not closed yet: established, or
    closed by the client but not yet by the worker (it still counts them)."""
    return len(server_sockets(server, (ESTABLISHED, CLOSE_WAIT)))


def burst(server: LiveServer, size: int = BURST) -> list[socket.socket]:
    """`size` connections opened at once, each sending its first keep-alive request as soon as
    it is open (as wrk, browsers and proxies do), then each answered (so each has been
    accepted by some worker)."""
    port = server_port(server)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"
    connections = []
    for _ in range(size):
        connection = socket.create_connection(("127.0.0.1", port), timeout=10)
        connection.sendall(request)
        connections.append(connection)
    for connection in connections:
        assert connection.recv(4096).startswith(b"HTTP/1.1 200")
    return connections


def assert_split_evenly(server: LiveServer) -> None:
    for _ in range(ROUNDS):
        connections = burst(server)
        try:
            held = held_connections(server)
            assert sum(held.values()) == BURST
            share = [held[pid] for pid in workers(server)]
            # Never all on one worker (half the machine idle for as long as they live), which
            # about one burst in five did before. Not always 8 and 8: connections arriving
            # while the busier worker looks away and nothing else wakes it go to the other,
            # so 12 and 4 happen, and now and then 15 and 1 (the unit tests pin the rules).
            assert min(share) >= 1, held
        finally:
            for connection in connections:
                connection.close()
        # Until the workers have closed them too: a worker still holding the last burst's
        # would rightly leave the next one to the other.
        wait_until(lambda: still_open(server) == 0, "connections closed")


def test_a_burst_of_keep_alive_connections_is_split_evenly(two_workers: LiveServer) -> None:
    assert_split_evenly(two_workers)


def test_a_restarted_worker_takes_its_share_and_the_dead_one_is_not_waited_for(
    two_workers: LiveServer,
) -> None:
    before = workers(two_workers)
    os.kill(before[0], signal.SIGKILL)  # gunicorn forks a replacement
    wait_until(
        lambda: len(workers(two_workers)) == len(before) and before[0] not in workers(two_workers),
        "the replacement boots",
    )
    # The replacement takes the dead worker's slot; no live worker waits for a stale count.
    assert_split_evenly(two_workers)
    assert "Traceback" not in two_workers.log()


def connect_and_ask(server: LiveServer) -> tuple[socket.socket, float]:
    """A new connection with one keep-alive request answered on it, and how long that took
    (seconds, from connect to the answer's first bytes)."""
    port = server_port(server)
    started = time.monotonic()
    connection = socket.create_connection(("127.0.0.1", port), timeout=60)
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert connection.recv(4096).startswith(b"HTTP/1.1 200")
    return connection, time.monotonic() - started


def ask_one_by_one(
    server: LiveServer, held: list[socket.socket], count: int, within: float
) -> None:
    """Open `count` connections one after another, each answered within `within` seconds
    (connect_and_ask), kept in `held` for the caller to close."""
    for _ in range(count):
        connection, seconds = connect_and_ask(server)
        held.append(connection)
        assert seconds < within


def test_connections_opened_one_after_another_are_each_taken_at_once(
    two_workers: LiveServer,
) -> None:
    # The red team's case: a worker over its share once left the socket alone until its
    # idle poll timed out (250 ms) while the other, just over its share too, did the same:
    # every fourth connection of such a sequence waited ~245 ms.
    held: list[socket.socket] = []
    try:
        ask_one_by_one(two_workers, held, 24, within=0.1)
        share = [held_connections(two_workers)[pid] for pid in workers(two_workers)]
        assert min(share) >= len(held) // 4, share
    finally:
        for connection in held:
            connection.close()


def test_a_stopped_worker_holding_the_fewest_connections_holds_nothing_up(
    two_workers: LiveServer,
) -> None:
    # A worker that stops (SIGSTOP here; a long pause, swapping or a debugger alike) keeps
    # its last count. The other takes every new connection after the grace, not after
    # gunicorn's 30 s timeout kills the stopped one.
    first, _ = connect_and_ask(two_workers)
    second, _ = connect_and_ask(two_workers)
    held = held_connections(two_workers)
    idle = next(pid for pid in workers(two_workers) if held[pid] < 2)
    os.kill(idle, signal.SIGSTOP)
    more: list[socket.socket] = []
    try:
        ask_one_by_one(two_workers, more, 5, within=0.5)
    finally:
        os.kill(idle, signal.SIGCONT)
        for connection in [first, second, *more]:
            connection.close()


HEALTH = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def answer_of(connection: socket.socket) -> bytes:
    """Everything the server sends on `connection` until it closes it."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def one_answer(connection: socket.socket) -> bytes:
    """One whole answer on a keep-alive `connection`: its head and Content-Length bytes."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += connection.recv(65536)
    return head + b"\r\n\r\n" + body


def stop_worker(server: LiveServer, pid: int) -> None:
    """SIGTERM one worker (as a reload or a scale-down does) and wait for its replacement."""
    count = len(workers(server))
    os.kill(pid, signal.SIGTERM)
    wait_until(
        lambda: pid not in workers(server) and len(workers(server)) == count,
        "the worker stops and its replacement boots",
    )


def holder_of(server: LiveServer, count: int = 1) -> int:
    """The worker holding the one connection open to the server (waiting until it is taken)."""
    wait_until(lambda: sum(held_connections(server).values()) == count, "the connection taken")
    return next(iter(held_connections(server)))


def test_connections_arriving_as_workers_stop_are_all_answered(two_workers: LiveServer) -> None:
    # A new connection per request, from four clients at once, while the workers are stopped
    # one after another: each answer comes whole, none is reset by the worker that took its
    # connection just as it was told to stop.
    port = server_port(two_workers)
    done = threading.Event()
    failures: list[str] = []
    answered = [0]

    def client() -> None:
        while not done.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
                    connection.sendall(HEALTH + b"Connection: close\r\n\r\n")
                    answer = answer_of(connection)
            except OSError as error:
                failures.append(repr(error))
                continue
            if answer.startswith(b"HTTP/1.1 200"):
                answered[0] += 1
            else:
                failures.append(repr(answer[:80]))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        for _ in range(4):
            time.sleep(0.3)
            stop_worker(two_workers, workers(two_workers)[0])
        time.sleep(0.3)
    finally:
        done.set()
        for thread in clients:
            thread.join()
    assert failures == []
    assert answered[0] > 100


def test_a_request_half_sent_when_its_worker_stops_is_answered(two_workers: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server_port(two_workers)), timeout=10) as half:
        half.sendall(HEALTH)  # the headers not yet ended
        pid = holder_of(two_workers)
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.3)
        half.sendall(b"Connection: close\r\n\r\n")
        assert answer_of(half).startswith(b"HTTP/1.1 200")


def test_a_connection_taken_but_not_yet_heard_from_when_its_worker_stops_is_answered(
    two_workers: LiveServer,
) -> None:
    with socket.create_connection(("127.0.0.1", server_port(two_workers)), timeout=10) as quiet:
        pid = holder_of(two_workers)
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.3)
        quiet.sendall(HEALTH + b"Connection: close\r\n\r\n")
        assert answer_of(quiet).startswith(b"HTTP/1.1 200")


def test_an_idle_keep_alive_connection_does_not_hold_up_its_worker_s_stop(
    two_workers: LiveServer,
) -> None:
    # Between requests a keep-alive connection is owed nothing: the worker closes it at once
    # (the client sends again on a new connection), and waits only for first requests.
    with socket.create_connection(("127.0.0.1", server_port(two_workers)), timeout=10) as idle:
        idle.sendall(HEALTH + b"\r\n")
        assert one_answer(idle).startswith(b"HTTP/1.1 200")
        pid = holder_of(two_workers)
        started = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        assert idle.recv(4096) == b""  # closed by the worker
        assert time.monotonic() - started < FIRST_REQUEST_SECONDS


def closed_within(connection: socket.socket, seconds: float, trickle: bytes = b"") -> float:
    """Send `trickle` a byte every 0.25 s (nothing when empty) until the server closes
    `connection`; how long that took (seconds). Fails after `seconds`."""
    started = time.monotonic()
    connection.settimeout(0.25)
    sent = 0
    while time.monotonic() - started < seconds:
        try:
            if not connection.recv(4096):
                return time.monotonic() - started
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - started
        try:
            if sent < len(trickle):
                connection.sendall(trickle[sent : sent + 1])
                sent += 1
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started
    raise AssertionError(f"still open after {seconds} s")


def seconds_until_its_stopping_worker_closes(
    server: LiveServer, stop_after: float, trickle: bytes = b""
) -> float:
    """A connection that sends a request's first line and Host, then `trickle` a byte every
    0.25 s (closed_within); its worker gets SIGTERM `stop_after` seconds in. How long after
    the first bytes the worker closed it (seconds), once the worker has exited."""
    with socket.create_connection(("127.0.0.1", server_port(server)), timeout=10) as client:
        client.sendall(HEALTH)
        started = time.monotonic()
        pid = holder_of(server)
        time.sleep(stop_after)
        os.kill(pid, signal.SIGTERM)
        closed_within(client, REQUEST_SECONDS + 5, trickle)
        seconds = time.monotonic() - started
    wait_until(lambda: pid not in workers(server), "the worker exits")
    return seconds


def test_a_stopping_worker_still_cuts_a_request_arriving_too_slowly(
    two_workers: LiveServer,
) -> None:
    # The red team's slowloris: 10 s after its first byte, stop or no stop (it was cut 10 s
    # after the stop began instead, and held the stopping worker as long).
    trickle = b"".join(b"X-Slow-%d: y\r\n" % i for i in range(400))
    seconds = seconds_until_its_stopping_worker_closes(two_workers, 3, trickle)
    assert seconds < REQUEST_SECONDS + SWEEP_SECONDS + 1


def test_a_stopping_worker_closes_a_connection_gone_silent_mid_request(
    two_workers: LiveServer,
) -> None:
    # As a running worker does after IDLE_SECONDS of silence (it was held until the request
    # limit, 10 s after the stop began).
    seconds = seconds_until_its_stopping_worker_closes(two_workers, 0)
    assert seconds < IDLE_SECONDS + SWEEP_SECONDS + 1
