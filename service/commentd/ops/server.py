"""`commentd serve`: the app on gunicorn, sized so the rate limits hold for the whole service.

gunicorn runs the processes (forks, restarts, signals, hooks); inside each worker process
waitress serves: its event loop reads every request whole before a thread runs the app, and
sends the answer from a buffer, so a slow or stalled client holds a connection, never a thread
(`BufferingWorker`).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import os
import resource
import shutil
import socket
import sqlite3
import struct
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.util import parse_address
from gunicorn.workers.base import Worker
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask, WSGITask

from commentd.config import Settings
from commentd.db import hold_open
from commentd.errors import error_json
from commentd.ops.balancing import (
    SLOTS,
    BalancedListeners,
    ConnectionShares,
    assign_slot,
    release_slot,
)
from commentd.web.app import start_delivery, stop_delivery
from commentd.web.logs import logging_config
from commentd.web.services import of as services_of

log = logging.getLogger("commentd")

METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# What a client gets before it is cut off (it never reaches the app with part of a request).
REQUEST_SECONDS = 10  # the whole request, headers and body, from its first byte
IDLE_SECONDS = 5  # silence: an idle keep-alive, a stalled client, one that reads no answer
MAX_HEADER_BYTES = 32 * 1024
# Bodies up to this are read and given to the app, which answers 413 in JSON past its own
# 64 KiB (MAX_BODY_BYTES); a body announced larger than this is refused unread.
MAX_WIRE_BODY_BYTES = 256 * 1024
SWEEP_SECONDS = 1.0
# A client still reading its answer is not silent, however slowly it reads: each sweep, a
# connection whose kernel send queue shrank by this much since its last activity counts as
# active again (waitress only sees its own sends, and the kernel wakes it to send more only
# once half the queue has drained: a client reading a 14 MB thread at 32 KB/s went 5 s
# without one and was cut, a 200 with half a body). A client that stops reading is cut
# IDLE_SECONDS later as before.
READING_BYTES = 1024
# Open files a worker keeps free for what its requests open beyond their connections: the
# database pools' connections (two files each on SQLite), the outbox's SMTP and webhook
# connections, Redis. Connections take the rest of the process's RLIMIT_NOFILE (and at most
# gunicorn's worker_connections), FILES_PER_CONNECTION each: its socket, and the temporary
# file its answer is sent from when it is over a megabyte (web/spooling.py, or waitress's own
# overflow file for a streamed one). At that many, waitress leaves the next ones waiting in
# the listen queue, where a request would otherwise be accepted only to be refused a file
# (503 overloaded: 82 of 200 slow readers of a 3.5 MB thread got that under a limit of 160
# with one file counted per connection).
RESERVED_FILES = 64
FILES_PER_CONNECTION = 2
# Below this many connections a worker serves still, and says at start that the limit is
# too low (under a limit of 64 the room was 1, and waitress, which counts its listeners and
# its wake-up pipe against the limit, took no connection at all).
FEWEST_CONNECTIONS = 8
# After accept() fails for want of a file or memory (a limit lowered while serving, files held
# elsewhere in the process), the listener rests this long: the socket stays readable, and
# without a rest the event loop tried again at once, and again, a core's worth of CPU spent.
ACCEPT_REST_SECONDS = 0.1
ACCEPT_SHORTAGES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
LOOP_SECONDS = 0.25  # how soon the event loop notices SIGTERM when nothing else happens
# A worker that is stopping waits this long for the first request of a connection it accepted
# just before (Worker._finish), and looks this often whether what it owes is done.
FIRST_REQUEST_SECONDS = 1.0
FINISH_LOOP_SECONDS = 0.05
# How long a thread may keep the GIL while another waits for it (CPython's default: 5 ms).
# A post's statements each give the GIL up while SQLite or PostgreSQL works, and each time the
# posting thread waited for another thread's 5 ms turn to end before its next statement: on
# SQLite with the write lock held all along, so every process's posts queued behind it.
GIL_SWITCH_SECONDS = 0.0005

# Where gunicorn keeps each worker's heartbeat file: made by the master at every fork, and a
# failure there stops the master and every worker with it (TMPDIR out of inodes, or removed).
# gunicorn's docs advise a memory filesystem; /dev/shm is one where there is one.
HEARTBEAT_DIR = Path("/dev/shm")

# glibc's malloc gives each new thread an arena of its own (up to 8 per core), whose freed
# memory it hardly ever returns: with 4 request threads and the delivery thread, a worker kept
# 4 heaps. Two arenas bound that growth; the threads take turns under the GIL anyway.
MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # glibc's malloc.h

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def prepare_metrics_dir() -> Path:
    """A fresh directory where every worker process keeps its metrics (prometheus_client).

    Must run before commentd.web.metrics is first imported: the library picks its storage then.
    """
    path = Path(tempfile.mkdtemp(prefix="commentd-metrics-"))
    os.environ[METRICS_DIR_VARIABLE] = str(path)
    return path


def worker_plan(settings: Settings, cpus: int | None = None) -> tuple[int, int]:
    """(processes, threads per process).

    One process per core (at least two with a shared storage such as Redis). With memory://
    several processes count in a file they share (`shared_limits`), so the limits hold for
    the whole service still. Threads are for I/O waits only (the GIL runs one at a time):
    measured on cached reads at 16 connections, 8 threads per process gave ~30% fewer
    requests/s and a p99 of 25-28 ms against 12-25 ms with 2 or 4.
    """
    cpus = cpus or os.cpu_count() or 1
    if settings.uses_shared_rate_limit_storage:
        return max(2, cpus), 4
    return cpus, 4


def shared_limits(settings: Settings, directory: Path) -> Settings:
    """`settings` for serving: memory:// becomes a counters file that every worker process
    shares (counters.FileCounters) when more than one process serves; anything else is kept as
    it is.

    On SQLite the file lies beside the database (`<database>-rate-limits`), on the disk whose
    room a post needs anyway: in `directory` (the server's temporary one), a full TMPDIR made
    each process count on its own, and an address over a limit of 3 a minute posted 3 more
    to each worker. When the database's disk is full, a post is refused as storage_full
    whatever its limits. Elsewhere (PostgreSQL) the file is in `directory`.
    """
    if worker_plan(settings)[0] < 2 or not settings.ratelimit_storage_uri.startswith("memory://"):
        return settings
    from commentd.web.counters import FILE_SCHEME

    database = settings.sqlite_path
    if database is not None:
        path = database.resolve().with_name(f"{database.name}-rate-limits")
    else:
        path = directory.resolve() / "rate-limits.sqlite3"
    return replace(settings, ratelimit_storage_uri=f"{FILE_SCHEME}://{path}")


class CommentdServer(BaseApplication):  # type: ignore[misc]
    """gunicorn's documented custom-application hook, fed from our own options."""

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """gunicorn's hook: the options given, as gunicorn settings."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """gunicorn's hook: the WSGI app each worker serves."""
        return self.application


class NoAccessLineLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, minus its access line: the app writes its own, with the request id.

    With a logging config given, gunicorn assembles its access line for every request even when
    nothing will print it (about 3% of a cached read's time).
    """

    def access(self, *_args: Any, **_kwargs: Any) -> None:
        """No access line from gunicorn (web/logs.py writes one per request)."""
        return None


# The machine code of each refusal waitress makes itself, before the app sees a request
# (waitress.utilities: BadRequest and its kinds, ServerNotImplemented, InternalServerError).
SERVER_ERROR_CODES = {
    400: "bad_request",
    413: "too_large",
    431: "headers_too_large",
    500: "internal",
    501: "not_implemented",
}


class JsonErrorTask(ErrorTask):  # type: ignore[misc]
    """waitress's answer to a request it refuses unread (a body past MAX_WIRE_BODY_BYTES,
    headers past MAX_HEADER_BYTES, a malformed request), as API.md's JSON error
    `{"error", "message"}` instead of waitress's text/plain page."""

    def execute(self) -> None:
        """Write the error as JSON and close the connection after it (as waitress does)."""
        error = self.request.error
        message = f"{error.reason}: {error.body}" if error.body else str(error.reason)
        body = error_json(SERVER_ERROR_CODES.get(error.code, "error"), message)
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class KeepAliveTask(WSGITask):  # type: ignore[misc]
    """waitress's task for the app's answers, but the connection stays open after an answer
    without content (a 304 above all: embed.js and browsers revalidate with If-None-Match).

    waitress closes an HTTP/1.1 connection after any answer without Content-Length, though an
    answer that cannot have content (1xx, 204, 304) ends with its header (RFC 9112, 6.3): so
    every 304 cost its client a new connection. Any other reason to close still closes: the
    client's `Connection: close`, HTTP/1.0, an error.
    """

    _ends_at_header = False

    def build_response_header(self) -> bytes:
        """waitress's header, without closing for want of a Content-Length that an answer
        without content never has."""
        self._ends_at_header = (
            not self.has_body
            and not self.close_on_finish
            and self.version == "1.1"
            and self.request.headers.get("CONNECTION", "").lower() != "close"
        )
        try:
            return bytes(super().build_response_header())
        finally:
            self._ends_at_header = False

    def set_close_on_finish(self) -> None:
        """waitress's, except for the missing Content-Length of an answer without content."""
        if not self._ends_at_header:
            super().set_close_on_finish()


class JsonErrorChannel(HTTPChannel):  # type: ignore[misc]
    """waitress's connection, refusing requests with JsonErrorTask and answering with
    KeepAliveTask."""

    task_class = KeepAliveTask
    error_task_class = JsonErrorTask


class BufferingWorker(Worker):  # type: ignore[misc]
    """A gunicorn worker process serving with waitress instead of blocking threads.

    waitress's event loop reads each request whole (at most MAX_HEADER_BYTES of headers and
    MAX_WIRE_BODY_BYTES of body) and only then queues it for one of `threads` threads; the
    answer goes into the connection's buffer and the loop sends it. A connection is closed when
    it is silent for IDLE_SECONDS (waitress's channel_timeout) or when a request started
    REQUEST_SECONDS ago is still incomplete (checked here every SWEEP_SECONDS). gunicorn keeps
    doing the rest: forks, hooks (post_fork, post_worker_init, worker_exit), heartbeats and
    signals (SIGTERM finishes the requests in hand within graceful_timeout).

    `metrics_address` (as gunicorn parses a bind) names the listener that serves `metrics_app`
    alone; every other listener serves the app.
    """

    metrics_address: tuple[str, int] | str | None = None
    metrics_app: WSGIApp | None = None
    # Set by the master before the fork (balancing.assign_slot): this worker's share of the
    # connections, kept even with the other workers'; None serves without balancing.
    connection_shares: ConnectionShares | None = None
    share_slot: int | None = None
    # An SQLite connection open for the worker's life (db.hold_open), or None.
    database_held: sqlite3.Connection | None = None
    alive: bool  # gunicorn's: False once SIGTERM arrives

    def run(self) -> None:
        """The worker's event loop, until SIGTERM: serve, sweep slow requests, heartbeat."""
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        channels: dict[int, Any] = {}
        public = [s.sock for s in self.sockets if s.cfg_addr != self.metrics_address]
        metrics = [s.sock for s in self.sockets if s.cfg_addr == self.metrics_address]
        servers = [create_server(self.wsgi, map=channels, sockets=public, **self._adjustments())]
        if metrics and self.metrics_app is not None:  # scrapes get a thread of their own
            servers.append(
                create_server(
                    self.metrics_app,
                    map=channels,
                    sockets=metrics,
                    **self._adjustments() | {"threads": 1},
                )
            )
        listeners = [c for c in channels.values() if isinstance(c, BaseWSGIServer)]
        # waitress counts everything in its map against connection_limit: the listeners and
        # its wake-up pipes too.
        limit = min(self.cfg.worker_connections, self._connections_allowed()) + len(channels)
        for listener in listeners:
            listener.channel_class = JsonErrorChannel
            listener.adj.connection_limit = limit
            _rest_when_short(listener, self.log)
        balanced = None
        if self.connection_shares is not None and self.share_slot is not None:
            serving = {s.fileno() for s in public}
            balanced = BalancedListeners(
                [x for x in listeners if x.socket.fileno() in serving],
                self.connection_shares,
                self.share_slot,
            )
        partial: dict[Any, tuple[Any, float]] = {}
        sending: dict[Any, int] = {}
        next_sweep = time.monotonic() + SWEEP_SECONDS
        while self.alive:
            timeout = LOOP_SECONDS if balanced is None else balanced.poll_timeout(LOOP_SECONDS)
            wasyncore.loop(timeout=timeout, map=channels, use_poll=True, count=1)
            now = time.monotonic()
            if now >= next_sweep:
                self.notify()
                if self.ppid != os.getppid():
                    self.log.info("Parent changed, shutting down: %s", self)
                    self.alive = False
                partial = _cut_slow_requests(channels, partial, now)
                _close_stalled(channels, time.time(), sending)
                sending = _note_reading_clients(channels, sending)
                next_sweep = now + SWEEP_SECONDS
        self._finish(channels, servers, partial, sending)

    def _connections_allowed(self) -> int:
        """connection_room(), and at least FEWEST_CONNECTIONS, with a warning then."""
        room = connection_room()
        if room >= FEWEST_CONNECTIONS:
            return room
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.log.warning(
            "open files: a limit of %d leaves this worker room for %d connections; it takes "
            "%d, and requests may be answered 503 overloaded. Raise the limit (ulimit -n, "
            "LimitNOFILE= in a systemd unit) to %d or more",
            soft,
            max(room, 0),
            FEWEST_CONNECTIONS,
            soft + (FEWEST_CONNECTIONS - room) * FILES_PER_CONNECTION,
        )
        return FEWEST_CONNECTIONS

    def _adjustments(self) -> dict[str, Any]:
        return {
            "threads": self.cfg.threads,
            "channel_timeout": IDLE_SECONDS,
            "cleanup_interval": 1,
            "connection_limit": self.cfg.worker_connections,  # run() lowers it to the room
            "max_request_header_size": MAX_HEADER_BYTES,
            "max_request_body_size": MAX_WIRE_BODY_BYTES,
            # The app trusts proxy headers itself (COMMENTD_TRUSTED_PROXIES, ProxyFix).
            "clear_untrusted_proxy_headers": False,
            "ident": "",  # no Server header
            "asyncore_use_poll": True,  # select() stops at 1024 descriptors
            "log_socket_errors": False,
        }

    def _finish(
        self,
        channels: dict[int, Any],
        servers: list[Any],
        partial: dict[Any, tuple[Any, float]],
        sending: dict[Any, int],
    ) -> None:
        """Stop accepting, then (within graceful_timeout) receive, finish and send every
        request in hand, and close every connection.

        In hand: a request queued, running or being sent; one arriving; and the first request
        of a connection this worker accepted but has heard nothing from yet, for
        FIRST_REQUEST_SECONDS after the stop: the kernel handed it over as SIGTERM came, its
        request is on the way or unread, and closing it would reset it. A keep-alive
        connection between requests is closed at once (a client sends again on a new
        connection). The running worker's limits still hold meanwhile: a request arriving is
        cut REQUEST_SECONDS after its first byte (`partial`: the sweep's record, from run()),
        and a connection silent for IDLE_SECONDS (a client that stopped sending, or reads no
        answer) is closed, as waitress's own clean-up does on a listener no longer polled."""
        if self.connection_shares is not None:  # the others take every new connection now
            self.connection_shares.release(self.share_slot)
        listeners = [c for c in channels.values() if isinstance(c, BaseWSGIServer)]
        for listener in listeners:
            listener.del_channel()
        now = time.monotonic()
        deadline = now + self.cfg.graceful_timeout
        first_requests_until = now + FIRST_REQUEST_SECONDS
        next_sweep = now
        while now < deadline:
            if now >= next_sweep:
                self.notify()
                partial = _cut_slow_requests(channels, partial, now)
                _close_stalled(channels, time.time(), sending)
                sending = _note_reading_clients(channels, sending)
                for listener in listeners:
                    listener.maintenance(time.time())  # closes idle connections
                next_sweep = now + SWEEP_SECONDS
            awaiting_first = now < first_requests_until
            if not any(_in_hand(c, awaiting_first=awaiting_first) for c in channels.values()):
                break
            wasyncore.loop(timeout=FINISH_LOOP_SECONDS, map=channels, use_poll=True, count=1)
            now = time.monotonic()
        for server in servers:
            server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
        wasyncore.close_all(channels)


def connection_room() -> int:
    """How many connections this process has files for: its RLIMIT_NOFILE, less the files it
    has open now and RESERVED_FILES, shared out FILES_PER_CONNECTION to a connection (may be
    0 or less: see FEWEST_CONNECTIONS)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return sys.maxsize
    spare = soft - len(os.listdir("/proc/self/fd")) - RESERVED_FILES
    return spare // FILES_PER_CONNECTION


def raise_open_file_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit, as far as the system allows,
    for it and the workers it starts (a soft 1,024 is for select(), which waitress does not
    use here: asyncore_use_poll); returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # above the kernel's nr_open: keep what there is
            return soft
    return hard


def _rest_when_short(listener: Any, logger: Any) -> None:
    """Make `listener` (a waitress listener) rest ACCEPT_REST_SECONDS after accept() fails for
    want of a file or memory, leaving the connection in the listen queue, and say so in the
    log once per shortage. waitress swallows the error and polls the socket again at once."""
    accept, readable = listener.accept, listener.readable
    rest_until = 0.0
    resting = False

    def resting_accept() -> Any:
        nonlocal rest_until, resting
        try:
            accepted = accept()
        except OSError as error:
            if error.errno not in ACCEPT_SHORTAGES:
                raise
            rest_until = time.monotonic() + ACCEPT_REST_SECONDS
            if not resting:
                resting = True
                logger.warning("not accepting connections for now: %s", error.strerror)
            return None
        if accepted is not None and resting:
            resting = False
            logger.info("accepting connections again")
        return accepted

    def rested_readable() -> bool:
        ready = bool(readable())  # waitress's own first: its idle clean-up
        return ready and time.monotonic() >= rest_until

    listener.accept = resting_accept
    listener.readable = rested_readable


def _in_hand(channel: Any, *, awaiting_first: bool) -> bool:
    """Whether a worker that is stopping still owes `channel` an answer (Worker._finish):
    a request queued, running or being sent, or one arriving; with `awaiting_first`, also a
    connection that has sent nothing yet (waitress's last_activity moves from creation_time
    at the first bytes received or sent)."""
    if not isinstance(channel, HTTPChannel) or channel.will_close:
        return False
    if channel.requests or channel.total_outbufs_len:
        return True
    if not channel.connected:  # the client hung up
        return False
    return channel.request is not None or (
        awaiting_first and channel.last_activity == channel.creation_time
    )


def _unsent_bytes(channel: Any) -> int | None:
    """How many bytes of `channel`'s answer wait in the kernel's send queue, not yet taken by
    the client (Linux's SIOCOUTQ); None where the kernel does not say."""
    try:
        answer = fcntl.ioctl(channel.socket.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (OSError, ValueError, AttributeError):  # closed, or no such ioctl here
        return None
    return int(struct.unpack("i", answer)[0])


def _note_reading_clients(channels: dict[Any, Any], sending: dict[Any, int]) -> dict[Any, int]:
    """Mark as active each connection with an answer still to send whose client took at least
    READING_BYTES from the kernel since its last activity (`sending`: the connection's unsent
    bytes then); returns the map for the next sweep."""
    current: dict[Any, int] = {}
    for channel in list(channels.values()):
        if not isinstance(channel, HTTPChannel) or not channel.total_outbufs_len:
            continue
        unsent = _unsent_bytes(channel)
        if unsent is None:
            continue
        before = sending.get(channel)
        if before is not None and before - unsent >= READING_BYTES:
            channel.last_activity = time.time()
        elif before is not None and unsent < before:
            unsent = before  # too little yet: measured from the same mark next time
        current[channel] = unsent
    return current


def _close_stalled(channels: dict[Any, Any], now: float, sending: dict[Any, int]) -> None:
    """Close each connection whose client has taken nothing for IDLE_SECONDS (`now`:
    time.time()) while an answer waits for it, whose kernel queue has not shrunk since the
    last sweep (`sending`: each connection's unsent bytes then, _note_reading_clients), and
    that waitress has given up on (marked to close) or whose request thread waits for it.

    waitress closes a marked connection in its next send, which never comes when the client
    has stopped reading and the kernel's queue is full: each such client held its connection
    and its files for as long as it liked (a red team's 200 stalled readers of a 3.5 MB
    thread kept the workers' every connection, and the rest waited in the listen queue). And
    a request whose answers queued past waitress's outbuf_high_watermark (16 MB: three
    pipelined 12 MB fragments) holds its thread until the client reads, which waitress never
    cuts: ten such clients held every thread of both workers, and /healthz went unanswered.
    Closing wakes that thread (waitress's own way, after a failed send); its request ends.
    """
    for channel in list(channels.values()):
        if not (
            isinstance(channel, HTTPChannel)
            and channel.total_outbufs_len
            and channel.last_activity < now - IDLE_SECONDS
        ):
            continue
        given_up = channel.will_close and not channel.requests
        if not (given_up or channel.total_outbufs_len > channel.adj.outbuf_high_watermark):
            continue
        # Only a client that took nothing since the last sweep: its kernel queue holds bytes
        # and has not shrunk (one reading slowly is never cut here, whatever waitress thinks).
        unsent, before = _unsent_bytes(channel), sending.get(channel)
        if unsent and before is not None and unsent >= before:
            channel.handle_close()


def _cut_slow_requests(
    channels: dict[int, Any], seen: dict[Any, tuple[Any, float]], now: float
) -> dict[Any, tuple[Any, float]]:
    """Close each connection whose request has been arriving for REQUEST_SECONDS or more.

    `seen` maps a connection to its request in progress and when that was first seen; the
    map for the next sweep is returned. A request already complete (queued or running) is
    the app's, not the client's, and is left alone.
    """
    current: dict[Any, tuple[Any, float]] = {}
    for channel in list(channels.values()):
        if not isinstance(channel, HTTPChannel):
            continue
        request = channel.request
        if request is None or channel.requests or channel.will_close:
            continue
        earlier = seen.get(channel)
        started = earlier[1] if earlier is not None and earlier[0] is request else now
        current[channel] = (request, started)
        if now - started >= REQUEST_SECONDS:
            channel.will_close = True
    return current


def _worker_exited(_server: Any, worker: Any) -> None:
    # Its metrics files stay, counts and all: named by its slot, the worker that takes the
    # slot next goes on in them (metrics.py; there are no live gauges to mark dead).
    release_slot(worker)


def _remove(metrics_dir: Path | None) -> None:
    if metrics_dir is not None:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def gunicorn_options(
    settings: Settings, host: str, port: int, metrics_dir: Path | None = None
) -> dict[str, Any]:
    """The server settings of `commentd serve` (bench/ runs its trivial ceiling app on them too)."""
    workers, threads = worker_plan(settings)
    shares = ConnectionShares(slots=max(SLOTS, 2 * workers))
    log_config = logging_config()
    # waitress warns of a queued request each time all threads are busy: load, not a fault.
    log_config["loggers"]["waitress.queue"] = {"level": "ERROR"}
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": BufferingWorker,
        "accesslog": None,  # the app logs each request itself, as JSON with its id (logs.py)
        "errorlog": "-",
        "logconfig_dict": log_config,
        "logger_class": NoAccessLineLogger,
        "pre_fork": lambda arbiter, worker: assign_slot(shares, arbiter, worker),
        "child_exit": _worker_exited,
        "on_exit": lambda _server: _remove(metrics_dir),
        "worker_tmp_dir": _heartbeat_dir(),
        "graceful_timeout": 20,
        "timeout": 30,
        "proc_name": "commentd",
        "forwarded_allow_ips": "",  # proxies are trusted by COMMENTD_TRUSTED_PROXIES only
        "control_socket_disable": True,  # one fixed path would clash between instances
    }


def _heartbeat_dir() -> str | None:
    """HEARTBEAT_DIR where it is a folder this process may write in, else None (TMPDIR)."""
    if HEARTBEAT_DIR.is_dir() and os.access(HEARTBEAT_DIR, os.W_OK | os.X_OK):
        return str(HEARTBEAT_DIR)
    return None


def listening_address(fd: int) -> tuple[str, int]:
    """(host, port) of the inherited listening TCP socket `fd`, which stays open.

    Raises OSError when `fd` is not an open socket.
    """
    inherited = socket.socket(fileno=os.dup(fd))
    try:
        host, port = inherited.getsockname()[:2]
    finally:
        inherited.close()
    return str(host), int(port)


def serve(
    app: Flask,
    settings: Settings,
    host: str,
    port: int,
    metrics_dir: Path | None = None,
    metrics_bind: str | None = None,
    listen_fd: int | None = None,
) -> None:
    """Serve `app` at host:port until SIGTERM; /metrics only at `metrics_bind` ("host:port"),
    a listener of its own that serves nothing else (None: no metrics listener).

    With `listen_fd`, the app is served on that inherited listening socket instead of binding
    host:port (then `metrics_bind` must be an inherited one too, "fd://N").
    """
    options = gunicorn_options(settings, host, port, metrics_dir)
    log.info("workers: %d processes of %d threads", options["workers"], options["threads"])
    log.info("open files: at most %d per process", raise_open_file_limit())
    if listen_fd is not None:
        options["bind"] = f"fd://{listen_fd}"
    if metrics_bind is not None:
        from commentd.web.metrics import scrape_app

        # gunicorn names an inherited listener by the address it is bound to.
        metrics_address = (
            listening_address(int(metrics_bind[5:]))
            if metrics_bind.startswith("fd://")
            else parse_address(metrics_bind)
        )
        options["bind"] = [options["bind"], metrics_bind]
        options["worker_class"] = type(
            "CommentdWorker",
            (BufferingWorker,),
            {
                "metrics_address": metrics_address,
                "metrics_app": staticmethod(scrape_app(app, services_of(app).metrics)),
            },
        )
    options["post_fork"] = lambda _server, worker: _worker_started(app, worker)
    # Each worker process delivers the outbox in a thread of its own, started after the fork
    # (threads do not survive one) and stopped before the process exits.
    options["post_worker_init"] = lambda _worker: start_delivery(app)
    options["worker_exit"] = lambda _server, _worker: stop_delivery(app)
    services_of(app).engine.dispose()  # the master itself never queries: close what it opened
    CommentdServer(app, options).run()


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """At most `arenas` malloc arenas for this process's threads from now on (glibc's
    mallopt(M_ARENA_MAX), as MALLOC_ARENA_MAX would at start-up); False where the C library
    has no such setting (musl, macOS): nothing changes there."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))


def _worker_started(app: Flask, worker: BufferingWorker) -> None:
    """gunicorn's post_fork, in the new `worker` before any of its threads starts."""
    limit_malloc_arenas()
    _fresh_pool(app)
    path = services_of(app).settings.sqlite_path
    if path is not None:
        try:
            worker.database_held = hold_open(path)
        except sqlite3.Error as error:  # its requests say what is wrong
            log.warning("could not open the database %s at start: %s", path, error)
    slot = worker.share_slot  # unique among the live workers
    # Its metrics files allocated whole before its first request: a full disk then costs
    # counts, never the worker. Named by slot, not pid: a worker started in a dead one's
    # slot (after a crash or a HUP) goes on in its files, so they do not pile up (metrics.py).
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    identity = f"slot{slot}" if slot is not None else str(os.getpid())
    services_of(app).metrics.reserve_files(endpoints, identity)


def _fresh_pool(app: Flask) -> None:
    """In a new worker: forget the connections inherited from the master (SQLAlchemy's advice
    for forking), or two processes would talk over one database socket."""
    services_of(app).engine.dispose(close=False)
