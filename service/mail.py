"""Sending email over SMTP (smtplib), as COMMENTD_SMTP_URL says, always with a timeout."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from urllib.parse import parse_qs, unquote, urlsplit

from .models import utcnow

TRUE_WORDS = {"1", "true", "yes", "on"}


@dataclass(frozen=True, kw_only=True)
class SmtpServer:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False  # smtps://: TLS from the first byte (port 465)
    starttls: bool = False  # smtp://…?starttls=1: upgrade a plain connection (port 587)


def parse_smtp_url(url: str) -> SmtpServer:
    """smtp://user:password@host:port, smtps://… for TLS, ?starttls=1 for STARTTLS (API.md)."""
    parts = urlsplit(url)
    implicit_tls = parts.scheme == "smtps"
    starttls = parse_qs(parts.query).get("starttls", ["0"])[0].lower() in TRUE_WORDS
    default_port = 465 if implicit_tls else 587 if starttls else 25
    return SmtpServer(
        host=parts.hostname or "localhost",
        port=parts.port or default_port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=implicit_tls,
        starttls=starttls,
    )


@cache
def tls_context() -> ssl.SSLContext:
    """Verifying certificates and host names; built once (loading the CA store is slow)."""
    return ssl.create_default_context()


def send(server: SmtpServer, message: EmailMessage, *, timeout: float) -> None:
    """Hand one message to the SMTP server; raises on any failure (the outbox retries)."""
    smtp: smtplib.SMTP
    if server.implicit_tls:
        smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=tls_context())
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=timeout)
    with smtp:
        if server.starttls:
            smtp.starttls(context=tls_context())
        if server.username:
            smtp.login(server.username, server.password or "")
        smtp.send_message(message)


def compose(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    message_key: str,
    extra_headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A plain-text message with an HTML alternative.

    The Message-ID is derived from `message_key` (the outbox event), so that should a retry
    ever resend a message, mail software sees the same message, not a second one.
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    domain = sender.rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<commentd.{message_key}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    for name, value in (extra_headers or {}).items():
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message
