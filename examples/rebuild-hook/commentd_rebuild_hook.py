"""Rebuild a static site when commentd says its public comments changed.

A small webhook receiver for commentd's `comment.approved`, `comment.deleted` and
`comment.edited` events
(docs/notifications.md, "Webhooks"). For each POST it:

1. checks `X-Commentd-Signature-V2` (`sha256=` + hex HMAC-SHA256, keyed by the shared
   COMMENTD_WEBHOOK_SECRET, of `<X-Commentd-Timestamp>.<X-Commentd-Delivery>.<raw body>`) in
   constant time, refuses a timestamp more than `--tolerance` seconds from this clock, and
   answers a delivery id it has already taken inside that window without acting again (a
   replay, or commentd retrying an answer it did not get);
2. answers `202` at once (commentd's delivery timeout is short; a build is not);
3. waits until no event has come for `--quiet` seconds (several approvals in a row make one
   build), but never more than `--longest` seconds after the first one, then runs the build
   command. Builds never overlap: events during a build cause one more build after it.

The build command is the operator's (a shell line: export, build, publish; or a curl to a CI
build hook). The changed slugs reach it only as the environment variable
COMMENTD_CHANGED_SLUGS (one per line), never inside the command line.

It needs only Python 3.11 and waitress (`pip install 'waitress>=3.0.1'`), the WSGI server
commentd itself runs on; it does not import commentd, so it can run on the site's build host.

    COMMENTD_WEBHOOK_SECRET=… python3 commentd_rebuild_hook.py --listen 127.0.0.1:8091 \
        --command 'commentd export static site/comments && hugo --source site'
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import waitress

LOG = logging.getLogger("commentd-rebuild-hook")

SIGNATURE_V2_HEADER = "HTTP_X_COMMENTD_SIGNATURE_V2"
TIMESTAMP_HEADER = "HTTP_X_COMMENTD_TIMESTAMP"
DELIVERY_HEADER = "HTTP_X_COMMENTD_DELIVERY"
# The events after which the public comments differ: a new pending comment changes nothing.
REBUILD_EVENTS = frozenset({"comment.approved", "comment.deleted", "comment.edited"})
MAX_BODY_BYTES = 256 * 1024  # a webhook carries one public comment: far below this


def signature_v2(secret: bytes, timestamp: str, delivery: str, body: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256 of `<timestamp>.<delivery>.<body>` (commentd's V2 header)."""
    signed = f"{timestamp}.{delivery}.".encode() + body
    return "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()


class Deliveries:
    """Delivery ids taken in the last `window` seconds: a second one inside it is a repeat."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, delivery: str, now: float) -> bool:
        """Record `delivery`; False when it was already recorded inside the window."""
        with self._lock:
            for key in [k for k, at in self._seen.items() if now - at > 2 * self.window]:
                del self._seen[key]
            if delivery in self._seen:
                return False
            self._seen[delivery] = now
            return True


class Debouncer:
    """Runs `build(slugs)` on a thread of its own, `quiet` seconds after the last `poke` (at
    most `longest` seconds after the first one not yet built); never two builds at once."""

    def __init__(self, build: Callable[[list[str]], None], quiet: float, longest: float) -> None:
        self.build = build
        self.quiet = quiet
        self.longest = longest
        self._slugs: set[str] = set()
        self._first = self._last = 0.0
        self._changed = threading.Condition()
        threading.Thread(target=self._run, name="rebuild", daemon=True).start()

    def poke(self, slug: str) -> None:
        """One more change to build (to `slug`)."""
        with self._changed:
            now = time.monotonic()
            if not self._slugs:
                self._first = now
            self._slugs.add(slug)
            self._last = now
            self._changed.notify()

    def _due_in(self) -> float | None:
        if not self._slugs:
            return None
        now = time.monotonic()
        return max(0.0, min(self._last + self.quiet, self._first + self.longest) - now)

    def _run(self) -> None:
        while True:
            with self._changed:
                while (wait := self._due_in()) is None or wait > 0:
                    self._changed.wait(wait)
                slugs, self._slugs = sorted(self._slugs), set()
            try:
                self.build(slugs)
            except Exception:  # a failed build must not stop the next ones
                LOG.exception("the build failed to start")


def run_command(command: str, timeout: float) -> Callable[[list[str]], None]:
    """A build that runs `command` with /bin/sh, the slugs in COMMENTD_CHANGED_SLUGS."""

    def build(slugs: list[str]) -> None:
        started = time.monotonic()
        env = os.environ | {"COMMENTD_CHANGED_SLUGS": "\n".join(slugs)}
        env.pop("COMMENTD_WEBHOOK_SECRET", None)  # the build has no use for it
        # A session of its own: on a timeout the whole build (the generator too) is stopped.
        build_process = subprocess.Popen(
            ["/bin/sh", "-c", command], env=env, start_new_session=True
        )
        try:
            code = build_process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(build_process.pid, signal.SIGKILL)
            build_process.wait()
            LOG.error(
                "build for %d post(s) stopped after %.0f s (--build-timeout)", len(slugs), timeout
            )
            return
        LOG.info(
            "build for %d post(s) exited %d after %.1f s",
            len(slugs),
            code,
            time.monotonic() - started,
        )

    return build


def make_app(
    secret: bytes,
    debouncer: Debouncer,
    *,
    tolerance: float,
    clock: Callable[[], float] = time.time,
) -> Callable[..., Iterable[bytes]]:
    """The WSGI application: POST / (any path) with a signed commentd webhook.

    Answers 202 (a rebuild is due), 200 (a signed event that needs no rebuild, or a delivery
    already taken), 401 (bad or old signature), 400 (not a webhook body), 405, 413.
    """
    deliveries = Deliveries(tolerance)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def answer(status: str, text: str) -> list[bytes]:
            data = (text + "\n").encode()
            start_response(
                status,
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))],
            )
            return [data]

        if environ["REQUEST_METHOD"] != "POST":
            return answer("405 Method Not Allowed", "POST a commentd webhook here")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return answer("400 Bad Request", "bad Content-Length")
        if length > MAX_BODY_BYTES:
            return answer("413 Content Too Large", "too large for a webhook")
        body = environ["wsgi.input"].read(length)
        timestamp = environ.get(TIMESTAMP_HEADER, "")
        delivery = environ.get(DELIVERY_HEADER, "")
        given = environ.get(SIGNATURE_V2_HEADER, "")
        if not (timestamp.isascii() and timestamp.isdigit()) or not delivery:
            return answer("401 Unauthorized", "not signed")
        expected = signature_v2(secret, timestamp, delivery, body)
        if not hmac.compare_digest(expected.encode(), given.encode()):
            return answer("401 Unauthorized", "bad signature")
        now = clock()
        if abs(now - int(timestamp)) > tolerance:
            return answer("401 Unauthorized", "timestamp outside the replay window")
        if not deliveries.first_time(delivery, now):
            return answer("200 OK", "already taken")
        try:
            event = json.loads(body)
            name, slug = event["event"], event["slug"]
        except (ValueError, KeyError, TypeError):
            return answer("400 Bad Request", "not a commentd webhook body")
        if name not in REBUILD_EVENTS or not isinstance(slug, str):
            return answer("200 OK", "nothing to rebuild")
        LOG.info("%s on %r (delivery %s): rebuild due", name, slug, delivery)
        debouncer.poke(slug)
        return answer("202 Accepted", "rebuild due")

    return app


def main(argv: list[str] | None = None) -> int:
    """The command line: see --help. Runs until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--listen", default="127.0.0.1:8091", help="HOST:PORT (127.0.0.1:8091)")
    where.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    parser.add_argument(
        "--command",
        default=os.environ.get("REBUILD_COMMAND"),
        help="shell line that fetches and builds (default: $REBUILD_COMMAND)",
    )
    parser.add_argument("--quiet", type=float, default=10.0, help="seconds without events (10)")
    parser.add_argument("--longest", type=float, default=120.0, help="max wait, seconds (120)")
    parser.add_argument("--tolerance", type=float, default=300.0, help="replay window, s (300)")
    parser.add_argument("--build-timeout", type=float, default=1800.0, help="seconds (1800)")
    options = parser.parse_args(argv)
    secret = os.environ.get("COMMENTD_WEBHOOK_SECRET", "")
    if not secret:
        parser.error("set COMMENTD_WEBHOOK_SECRET (the same value commentd signs with)")
    if not options.command:
        parser.error("give --command or set REBUILD_COMMAND")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    debouncer = Debouncer(
        run_command(options.command, options.build_timeout), options.quiet, options.longest
    )
    app = make_app(secret.encode(), debouncer, tolerance=options.tolerance)
    if options.fd is not None:
        sock = socket.socket(fileno=options.fd)
        waitress.serve(app, sockets=[sock], threads=2, ident="commentd-rebuild-hook")
    else:
        waitress.serve(app, listen=options.listen, threads=2, ident="commentd-rebuild-hook")
    return 0


if __name__ == "__main__":
    sys.exit(main())
