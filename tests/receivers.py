"""Real receivers on loopback for the notification tests: an SMTP server (aiosmtpd), an SMTP
server that accepts connections and never answers, and an HTTP server that records webhooks."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.helpers import listening_socket, port_of, refusing_socket


class _Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.senders: list[str] = []
        self.mail_options: list[list[str]] = []
        # Recipients (lower case) to refuse at RCPT, with the reply to give ("550 ...").
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = self.refuse.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.recipients.append(list(envelope.rcpt_tos))
        self.senders.append(str(envelope.mail_from))
        self.mail_options.append(list(envelope.mail_options))
        return "250 OK"


class SmtpController(Controller):  # type: ignore[misc]
    """aiosmtpd's Controller (its thread and loop) serving `handler` on `sock`, bound before
    (see helpers.refusing_socket), or on a port of 127.0.0.1 the kernel picks: no port race.
    `.port` is the port; other keywords go to aiosmtpd's SMTP (authenticator=…, …)."""

    def __init__(self, handler: Any, sock: socket.socket | None = None, **smtp: Any) -> None:
        self._sock = sock or refusing_socket()
        super().__init__(handler, hostname="127.0.0.1", port=port_of(self._sock), **smtp)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class Mailbox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives.

    Like most relays it offers no SMTPUTF8 unless `smtputf8` is set; `refuse` maps recipients
    (lower case) to the reply that refuses them at RCPT, e.g. "550 5.1.1 No such user".
    """

    def __init__(
        self,
        sock: socket.socket | None = None,
        *,
        smtputf8: bool = False,
        refuse: dict[str, str] | None = None,
    ) -> None:
        """Serve on `sock` (bound, not yet listening: see helpers.refusing_socket) or on a port
        of 127.0.0.1 that the kernel picks; the Mailbox owns the socket from then on."""
        self._sock = sock or refusing_socket()
        self.port = port_of(self._sock)
        self._collector = _Collector()
        self._collector.refuse = dict(refuse or {})
        self._controller = SmtpController(self._collector, self._sock, enable_SMTPUTF8=smtputf8)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        return list(self._collector.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def delivered_to(self, address: str) -> list[EmailMessage]:
        """Messages whose envelope (RCPT TO) named `address`, whatever the To header says."""
        return [
            message
            for message, rcpts in zip(self.messages, self._collector.recipients, strict=True)
            if address in rcpts
        ]

    @property
    def envelopes(self) -> list[tuple[str, list[str], list[str]]]:
        """(MAIL FROM, RCPT TO addresses, MAIL FROM options) of each message received."""
        c = self._collector
        return list(zip(c.senders, c.recipients, c.mail_options, strict=True))

    def start(self) -> Mailbox:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


class SilentSmtpServer:
    """Accepts TCP connections and never says a word: a hung mail server."""

    def __init__(self, sock: socket.socket | None = None) -> None:
        """Listen on `sock` (which close() then leaves open, for a Mailbox to take over) or on
        a port of 127.0.0.1 that the kernel picks."""
        self._owned = sock is None
        self._listener = sock or listening_socket()
        self._listener.listen(16)
        self.port = port_of(self._listener)
        self._listener.settimeout(0.1)
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections.append(connection)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for connection in self.connections:
            connection.close()
        if self._owned:
            self._listener.close()
        else:
            self._listener.settimeout(None)


class WebhookReceiver:
    """An HTTP server recording each POST's path, headers and raw body; answers `status`."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses: list[int] = []  # answers to give, in order; then 204
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append((self.path, dict(self.headers.items()), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # the kernel picks
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, _, body in self.requests]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
