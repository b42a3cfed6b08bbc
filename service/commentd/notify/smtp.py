"""Sending email over SMTP (smtplib), as COMMENTD_SMTP_URL says, always with a timeout.

Addresses go out as most mail servers take them: the domain in its ASCII (IDNA) form, so
`dana@bücher.example` is sent to `dana@xn--bcher-kva.example` by any server. Only an address
whose local part is not ASCII needs a server that offers SMTPUTF8 (RFC 6531).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache
from urllib.parse import parse_qs, unquote, urlsplit

import idna

from commentd.models import utcnow
from commentd.notify.outbox import PermanentFailure

TRUE_WORDS = {"1", "true", "yes", "on"}


@dataclass(frozen=True, kw_only=True)
class SmtpServer:
    """Where mail goes, parsed from COMMENTD_SMTP_URL (parse_smtp_url)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log line or traceback
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


class Undeliverable(PermanentFailure):
    """The mail server refused this message for good, or it cannot be sent as addressed."""


def smtp_address(address: str) -> str:
    """`address` as SMTP carries it: its domain in ASCII (IDNA 2008 with UTS 46 mapping, as
    email-validator checks it), its local part as it is. `dana@bücher.example` ->
    `dana@xn--bcher-kva.example`; an ASCII address is returned unchanged.

    Raises Undeliverable for a domain that has no ASCII form.
    """
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise Undeliverable(f"the domain of {address} has no ASCII form: {error}") from None
    return f"{local}@{ascii_domain}"


def header_address(value: str) -> Address:
    """A From/To value (`a@b` or `Name <a@b>`) as a header address, domain in ASCII.

    Raises Undeliverable when the value holds no address or a domain with no ASCII form.
    """
    display_name, address = parseaddr(value)
    local, at, domain = smtp_address(address).rpartition("@")
    if not at or not local or not domain:
        raise Undeliverable(f"{value!r} is not an email address")
    return Address(display_name=display_name, username=local, domain=domain)


def send(server: SmtpServer, message: EmailMessage, *, timeout: float) -> None:
    """Hand one message (made by `compose`) to the SMTP server.

    Raises Undeliverable when retrying cannot help: the server answered the message's own
    commands (MAIL, RCPT, DATA) with a permanent 5xx reply, or an address needs SMTPUTF8 (a
    non-ASCII local part) and the server does not offer it. Anything else it raises (OSError,
    smtplib.SMTPException) failed on the way there: connecting, TLS, logging in, a 4xx reply.
    """
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
        smtp.ehlo_or_helo_if_needed()  # its failure is the session's, not this message's
        try:
            smtp.send_message(message)
        except smtplib.SMTPNotSupportedError as error:  # the one extension it needs: SMTPUTF8
            raise Undeliverable(
                "an address has a non-ASCII local part, and the mail server does not offer "
                f"SMTPUTF8 ({error})"
            ) from None
        except smtplib.SMTPRecipientsRefused as error:
            replies = list(error.recipients.values())
            if replies and all(_permanent(code) for code, _ in replies):
                said = "; ".join(f"{code} {_text(reply)}" for code, reply in replies)
                raise Undeliverable(f"the mail server refused the recipient: {said}") from None
            raise
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            if _permanent(error.smtp_code):
                raise Undeliverable(
                    f"the mail server refused the message: {error.smtp_code} "
                    f"{_text(error.smtp_error)}"
                ) from None
            raise


def _permanent(code: int) -> bool:
    """RFC 5321 4.2.1: a 5yz reply is a permanent negative completion."""
    return 500 <= code < 600


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


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
    Both addresses are written with their domain in ASCII (`header_address`), which raises
    Undeliverable for one that cannot be.
    """
    message = EmailMessage()
    sender_address = header_address(sender)
    message["From"] = sender_address
    message["To"] = header_address(to)
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = f"<commentd.{message_key}@{sender_address.domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    for name, value in (extra_headers or {}).items():
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message
