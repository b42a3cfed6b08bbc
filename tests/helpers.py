"""The helpers every kind of test shares, each written once: posting and moderating through the
test client, reading the mail the service sends, listening sockets without a port race, and a
real `commentd serve` process.

Fixtures live in conftest.py; the fake remote servers (SMTP, webhooks) in receivers.py; private
PostgreSQL and Redis servers in private_servers.py.
"""

from __future__ import annotations

import base64
import fcntl
import importlib.util
import json
import os
import pty
import re
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests
from altcha import v1 as altcha_v1
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from commentd.db import make_engine
from commentd.models import Comment, utcnow
from commentd.web.services import of as services_of

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.receivers import Mailbox

ADMIN_TOKEN = "test-admin-token-0123456789"
MODERATOR = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SLUG = "gluteus-medius"
WAIT_SECONDS = 60  # how long a test waits for something in the background before it fails


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` every 50 ms; AssertionError naming `what` after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


FORM = "application/x-www-form-urlencoded"
# One page's slug and its spellings, as they reach the service in a URL path (quoted again,
# as embed.js's slugPath does, when the page path already held escapes): one thread.
CANONICAL = "blog/读书"
SPELLINGS = [
    quote(CANONICAL),  # the decoded path, encoded once
    quote("blog/%E8%AF%BB%E4%B9%A6", safe="/"),  # a location.pathname, as embed.js sends it
    quote("blog/%e8%af%bb%e4%b9%a6", safe="/"),  # the same page opened with lower-case escapes
    quote("/blog/%E8%AF%BB%E4%B9%A6/", safe=""),  # outer slashes, every `/` as %2F
    "blog%2F%E8%AF%BB%E4%B9%A6",
    "/blog//" + quote("读书") + "//",  # doubled slashes
    quote("blog/" + "\u8bfb\u4e66"),
]

# What the learned filter is taught with (through the API and across processes).
SPAM_TEXTS = [
    "Cheap viagra pills online, order now at pharmacy.example",
    "Buy cheap pills without prescription, fast shipping pharmacy.example",
    "Order viagra and cialis online now, cheap prices pharmacy.example",
    "Cheap pills, best online pharmacy, order today pharmacy.example",
    "Online pharmacy: viagra pills cheap, order now pharmacy.example",
    "Best cheap viagra online order pills pharmacy.example",
]
HAM_TEXTS = [
    "Pigeon pose really helped my hip after running.",
    "My physio gave me clamshells for the same hip pain.",
    "Thanks for the stretches, my lower back feels better.",
    "Is the chair stretch safe after a knee injury?",
    "Clamshells every evening fixed my knee pain when running.",
    "I feel the pigeon pose stretch in my hip, is that right?",
]


# --- comments through the test client -----------------------------------------------------


def comment_fields(**overrides: Any) -> dict[str, Any]:
    """A valid submission's JSON fields (Dana, dana@example.com, "Pigeon pose!"), overridden."""
    fields: dict[str, Any] = {"name": "Dana", "email": "dana@example.com", "body": "Pigeon pose!"}
    fields.update(overrides)
    return fields


def with_form_token(client: FlaskClient, **fields: Any) -> dict[str, Any]:
    """`fields` as the widget sends them: with a fresh form token, so no spam layer holds them."""
    token = client.get("/api/form-token").json
    assert token is not None
    return fields | {"form_token": token["form_token"]}


def solve_pow(challenge: Mapping[str, Any], *, number: int | None = None) -> str:
    """The `altcha` field for a challenge of GET /api/form-token's `pow`, solved by ALTCHA's
    own solver (as a browser would; `number` forces an answer, right or wrong): the base64 of
    {algorithm, challenge, number, salt, signature}."""
    if number is None:
        solved = altcha_v1.solve_challenge(
            challenge["challenge"],
            challenge["salt"],
            challenge["algorithm"],
            challenge["maxnumber"],
        )
        assert solved is not None, "no number solves the challenge"
        number = solved.number
    payload = {key: challenge[key] for key in ("algorithm", "challenge", "salt", "signature")}
    return base64.b64encode(json.dumps(payload | {"number": number}).encode()).decode()


def with_pow(client: FlaskClient, **fields: Any) -> dict[str, Any]:
    """`fields` as the widget sends them with proof of work on: a fresh form token and the
    solution of the challenge that came with it (the app must have pow_max_number set)."""
    answer = client.get("/api/form-token").json
    assert answer is not None and answer["pow"] is not None, "proof of work is off"
    return fields | {"form_token": answer["form_token"], "altcha": solve_pow(answer["pow"])}


def post_comment(
    client: FlaskClient,
    slug: str = SLUG,
    *,
    widget: bool = False,
    anonymous: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """POST a comment through the test client and return its 201 JSON (fails on anything else).

    `fields` override comment_fields(); `anonymous` leaves the default name and email out;
    `widget` adds a fresh form token, as the widget does.
    """
    sent = {"body": "Pigeon pose!"} | fields if anonymous else comment_fields(**fields)
    if widget:
        sent = with_form_token(client, **sent)
    response = client.post(f"/api/posts/{slug}/comments", json=sent)
    assert response.status_code == 201, response.json
    assert response.json is not None
    return response.json


def moderate(client: FlaskClient, comment_id: int, action: str) -> dict[str, Any]:
    """POST /api/moderation/comments/<id>/<action> as the moderator; the 200 JSON."""
    response = client.post(f"/api/moderation/comments/{comment_id}/{action}", headers=MODERATOR)
    assert response.status_code == 200, response.json
    assert response.json is not None
    return response.json


def status_of(client: FlaskClient, comment_id: int) -> str:
    """The comment's status as the moderation API shows it ("pending", "approved", …)."""
    response = client.get(f"/api/moderation/comments/{comment_id}", headers=MODERATOR)
    assert response.json is not None, response.status_code
    return str(response.json["status"])


def outbox_view(client: FlaskClient) -> dict[str, Any]:
    """GET /api/moderation/outbox as the moderator: the 200 JSON (counts, failing events)."""
    response = client.get("/api/moderation/outbox", headers=MODERATOR)
    assert response.status_code == 200, response.status_code
    assert response.json is not None
    return dict(response.json)


def signals(client: FlaskClient, comment_id: int) -> dict[str, Any]:
    """What the moderation API shows of a comment's fate."""
    shown = client.get(f"/api/moderation/comments/{comment_id}", headers=MODERATOR).json
    assert shown is not None
    return {"status": shown["status"], "reasons": shown["reasons"]}


def stored_comment(session: Session, comment_id: int) -> Comment | None:
    """The row as committed now: ends the session's earlier snapshot first."""
    session.rollback()
    return session.get(Comment, comment_id)


def database_snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table (the outbox, spent links and sqlite_sequence included), as
    text, in a stable order: two equal snapshots mean nothing stored changed."""
    tables = set(inspect(engine).get_table_names())
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            if connection.execute(
                text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")
            ).first():
                tables.add("sqlite_sequence")
    snapshot: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for table in sorted(tables):
            rows = connection.execute(text(f'SELECT * FROM "{table}"')).all()
            snapshot[table] = sorted(repr(tuple(row)) for row in rows)
    return snapshot


def deliver(app: Flask, *, later: timedelta = timedelta(0)) -> int:
    """Run the app's outbox until nothing more is due (at `later` from now); how many ran."""
    outbox = services_of(app).outbox
    total = 0
    while handled := outbox.deliver_due(utcnow() + later):
        total += handled
    return total


# --- the mail the service sends -----------------------------------------------------------


def text_of(message: EmailMessage) -> str:
    """The plain-text part, with \\n line ends."""
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


def html_of(message: EmailMessage) -> str:
    """The HTML part."""
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link_url(message: EmailMessage, label: str) -> str:
    """The URL of the one `<label>: <url>` line of the plain-text part (API.md)."""
    found = re.findall(rf"^{label}: (\S+)$", text_of(message), re.MULTILINE)
    assert len(found) == 1, text_of(message)
    return str(found[0])


def link(message: EmailMessage, label: str) -> str:
    """The path of link_url(): what a test client requests."""
    return urlsplit(link_url(message, label)).path


def sent_to(mailbox: Mailbox, address: str) -> list[EmailMessage]:
    """Messages whose To header is `address`, compared without regard to case (API.md)."""
    return [m for m in mailbox.messages if m["To"].lower() == address.lower()]


# --- sockets without a port race ------------------------------------------------------------


def listening_socket(port: int = 0) -> socket.socket:
    """A TCP socket on 127.0.0.1, listening; port 0 lets the kernel pick a free port (read it
    back with getsockname()). Hand it to a server instead of a port number that someone else
    could take first. Raises OSError when `port` is taken."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def refusing_socket() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1 and not listening: while it is open, every
    connection to that port is refused and no one else can take the port. Call .listen() or
    hand it to a server (Mailbox) to bring the port up later."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def port_of(sock: socket.socket) -> int:
    """The TCP port `sock` is bound to."""
    return int(sock.getsockname()[1])


# --- a real `commentd serve` -------------------------------------------------------------

SERVE_COMMAND = (sys.executable, "-m", "commentd.ops.cli", "serve")

# Every posting limit and the duplicate rule off: for tests that post many comments quickly
# from one address and one email (throughput, faults, backups), not for the limits' own tests.
LIFTED_LIMITS = {
    "COMMENTD_POST_RATE_LIMIT": "100000 per minute",
    "COMMENTD_SITE_RATE_LIMIT": "100000 per minute",
    "COMMENTD_EMAIL_RATE_LIMIT": "100000 per minute",
    "COMMENTD_SLUG_RATE_LIMIT": "100000 per minute",
    "COMMENTD_MIN_POST_INTERVAL": "0",
    "COMMENTD_DUPLICATE_WINDOW_SECONDS": "0",
}


def serve_environment(database_url: str) -> dict[str, str]:
    """The environment a live server gets by default (the serve_env fixture); tests add to it."""
    return {
        "COMMENTD_DATABASE_URL": database_url,
        "COMMENTD_ADMIN_TOKEN": ADMIN_TOKEN,
        "COMMENTD_ALLOWED_ORIGINS": "https://blog.example",
        "COMMENTD_MIN_FILL_SECONDS": "0",
        "COMMENTD_MIN_POST_INTERVAL": "0",
        "COMMENTD_EMAIL_RATE_LIMIT": "1000 per minute",
        "COMMENTD_SLUG_RATE_LIMIT": "1000 per minute",
        "COMMENTD_DUPLICATE_WINDOW_SECONDS": "0",
        # Off, as in the settings fixture; tests of the layer turn it on (pow_max_number).
        "COMMENTD_POW_MAX_NUMBER": "0",
    }


def run_commentd(
    database_url: str,
    *arguments: str,
    check: bool = True,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`commentd <arguments>` as an operator runs it, on `database_url`, with `env`'s settings
    added: its exit code and output (text). With `check`, a non-zero exit fails the test with
    its standard error."""
    environment = (
        {key: value for key, value in os.environ.items() if not key.startswith("COMMENTD_")}
        | {
            "COMMENTD_DATABASE_URL": database_url,
            "COMMENTD_ALLOWED_ORIGINS": "https://blog.example",
        }
        | (env or {})
    )
    done = subprocess.run(
        [sys.executable, "-m", "commentd", *arguments],
        env=environment,
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


@dataclass
class LiveServer:
    """A running `commentd serve`: its base URL, process and log file."""

    url: str
    process: subprocess.Popen[str]
    log_path: Path
    metrics_url: str | None = field(default=None)  # "http://127.0.0.1:N" with metrics=True

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, as an init system would (SIGKILL after 30 s); returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def serve_process(
    env: dict[str, str],
    workdir: Path,
    listeners: list[socket.socket],
    *options: str,
    log_path: Path,
    command: Sequence[str] = SERVE_COMMAND,
) -> subprocess.Popen[str]:
    """`commentd serve --fd N` (`command`) on listeners[0] (later listeners are inherited too,
    for options such as COMMENTD_METRICS_BIND=fd://M), with exactly `env` plus PATH and HOME,
    output to `log_path`. The child keeps the sockets; this process closes its copies."""
    full_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")} | env
    fds = [sock.fileno() for sock in listeners]
    try:
        with log_path.open("w") as log_file:  # the child keeps its own handle
            return subprocess.Popen(
                [*command, "--fd", str(fds[0]), *options],
                cwd=workdir,
                env=full_env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                text=True,
                pass_fds=fds,
            )
    finally:
        for sock in listeners:
            sock.close()  # the child's copies keep the ports; they close when it exits


PLANNED_WORKERS = re.compile(r'"msg": "workers: (\d+) processes')


def every_worker_booted(log: str) -> bool:
    """Whether a `commentd serve` log shows as many workers booted as its start-up line
    ("workers: N processes of M threads") planned; False before that line is written."""
    planned = PLANNED_WORKERS.search(log)
    return planned is not None and log.count("Booting worker with pid") >= int(planned[1])


def start_server(
    env: dict[str, str],
    workdir: Path,
    *,
    port: int = 0,
    metrics: bool = False,
    command: Sequence[str] = SERVE_COMMAND,
) -> LiveServer:
    """Start `commentd serve` with exactly `env` (plus PATH); wait until /healthz answers and
    every worker process it plans has booted.

    The server is handed a socket already listening (`port`, default: one the kernel picks),
    so servers started together never race for a port; `port` is for a restart at the same
    address. `metrics` adds a /metrics listener of its own (LiveServer.metrics_url); `command`
    starts it otherwise (SERVE_COMMAND with interpreter options, say).
    Raises RuntimeError, with the server's log, when it exits or does not answer in 30 s.
    """
    listeners = [listening_socket(port)]
    if metrics:
        listeners.append(listening_socket())
    url = f"http://127.0.0.1:{port_of(listeners[0])}"
    metrics_url = f"http://127.0.0.1:{port_of(listeners[1])}" if metrics else None
    if metrics:
        env = env | {"COMMENTD_METRICS_BIND": f"fd://{listeners[1].fileno()}"}
    log_path = workdir / f"serve-{port_of(listeners[0])}.log"
    process = serve_process(env, workdir, listeners, log_path=log_path, command=command)
    server = LiveServer(url, process, log_path, metrics_url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"commentd serve exited:\n{server.log()}")
        try:
            # The socket listens from the start: a request waits until a worker takes it.
            answered = requests.get(f"{url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            answered = False
        # The first worker answers while gunicorn may still be forking the others.
        if answered and every_worker_booted(server.log()):
            return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"commentd serve did not answer in time:\n{server.log()}")


def post_live(
    server: LiveServer,
    slug: str = SLUG,
    *,
    widget: bool = False,
    anonymous: bool = False,
    **fields: Any,
) -> requests.Response:
    """POST a comment to a live server (30 s timeout) as post_comment() does through the test
    client (`fields`, `widget`, `anonymous` alike); the answer is returned unchecked."""
    sent = {"body": "Pigeon pose!"} | fields if anonymous else comment_fields(**fields)
    if widget:
        token = requests.get(f"{server.url}/api/form-token", timeout=30).json()["form_token"]
        sent = sent | {"form_token": token}
    return requests.post(f"{server.url}/api/posts/{slug}/comments", json=sent, timeout=30)


def moderate_live(server: LiveServer, comment_id: int, action: str) -> dict[str, Any]:
    """POST /api/moderation/comments/<id>/<action> to a live server; the 200 JSON."""
    response = requests.post(
        f"{server.url}/api/moderation/comments/{comment_id}/{action}",
        headers=MODERATOR,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def raw_request(server: LiveServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes exactly as given (no client library tidying them) and parse the answer."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def post_raw(
    server: LiveServer, body: bytes, content_type: str, path: str | None = None, slug: str = SLUG
) -> tuple[int, dict[str, str], bytes]:
    """POST `body` as `content_type` byte for byte (to `path`, default: the slug's comments)."""
    path = path or f"/api/posts/{slug}/comments"
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    return raw_request(server, request)


def created(response: requests.Response) -> dict[str, Any]:
    """The JSON of a 201 answer; AssertionError, with the body, on any other status."""
    assert response.status_code == 201, response.text
    return dict(response.json())


# --- the example blog and Chromium (browser tests, scripts/screenshots.py) ---------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def load_example_blog() -> Any:
    """examples/serve.py (a script, not a package), loaded by path as a module, once."""
    name = "commentd_example_blog"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).resolve().parents[1] / "examples/serve.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_with_terminal_stderr(
    args: list[str], env: Mapping[str, str], timeout: float = 120
) -> tuple[int, bytes, bytes]:
    """`python -m commentd *args` with standard error on a pseudo-terminal 100 columns wide
    (where tqdm draws its bar) and standard output on a pipe: (exit code, what the terminal
    showed, standard output)."""
    leader, follower = pty.openpty()
    # A fresh pseudo-terminal has no width: tqdm would draw nothing.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "commentd", *args],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    output, _ = process.communicate(timeout=timeout)
    os.close(leader)
    return process.returncode, seen, output


def waits_behind(release: Callable[[], object], call: Callable[[], Any]) -> tuple[bool, Any]:
    """Run `call` (a request, say) in another thread while this one holds a lock: whether it
    was still waiting after half a second, then `release()` (commit, rollback) and its result.
    Races between transactions come out in the same order on every run."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(call)
        time.sleep(0.5)
        waited = not pending.done()
        release()
        return waited, pending.result(timeout=30)


def stored_values(database_url: str, column: InstrumentedAttribute[Any]) -> set[Any]:
    """Every value of `column` (Comment.id, Post.slug...) stored at `database_url` now, read
    on an engine of its own (a live server's database, say)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(select(column)))
    finally:
        engine.dispose()
