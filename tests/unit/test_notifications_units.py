"""The pure parts of notifications: SMTP URLs, SMTP login, webhook signatures, signed links,
digest periods and the delivery settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from commentd.config import ConfigError, Settings
from commentd.notify import links, smtp, webhooks
from commentd.notify.notifier import digest_due
from tests.receivers import SmtpController


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://localhost", smtp.SmtpServer(host="localhost", port=25)),
        (
            "smtps://me%40fastmail.com:app%2Fpass@smtp.fastmail.com:465",
            smtp.SmtpServer(
                host="smtp.fastmail.com",
                port=465,
                username="me@fastmail.com",
                password="app/pass",
                implicit_tls=True,
            ),
        ),
        (
            "smtps://smtp.gmail.com",
            smtp.SmtpServer(host="smtp.gmail.com", port=465, implicit_tls=True),
        ),
        (
            "smtp://u:p@smtp.example?starttls=1",
            smtp.SmtpServer(
                host="smtp.example", port=587, username="u", password="p", starttls=True
            ),
        ),
    ],
)
def test_smtp_urls_say_host_port_credentials_and_tls(url: str, expected: smtp.SmtpServer) -> None:
    assert smtp.parse_smtp_url(url) == expected


class _Recorder:
    def __init__(self) -> None:
        self.logins: list[tuple[bytes, bytes]] = []
        self.delivered = 0

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"app password")

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.delivered += 1
        return "250 OK"


@pytest.fixture
def authenticating_server() -> Iterator[tuple[_Recorder, int]]:
    recorder = _Recorder()
    controller = SmtpController(
        recorder,
        authenticator=recorder.authenticate,
        auth_require_tls=False,  # loopback only; real providers get smtps:// or STARTTLS
    )
    controller.start()
    yield recorder, controller.port
    controller.stop()


def a_message() -> smtp.EmailMessage:
    return smtp.compose(
        sender="commentd@blog.example",
        to="author@blog.example",
        subject="hello",
        text="hi",
        html="<p>hi</p>",
        message_key="1.abc",
    )


def test_smtp_logs_in_with_the_credentials_of_the_url(
    authenticating_server: tuple[_Recorder, int],
) -> None:
    recorder, port = authenticating_server
    server = smtp.parse_smtp_url(f"smtp://me%40blog.example:app%20password@127.0.0.1:{port}")

    smtp.send(server, a_message(), timeout=10)

    assert recorder.logins == [(b"me@blog.example", b"app password")]
    assert recorder.delivered == 1


def test_the_webhook_signature_is_hmac_sha256_of_the_raw_body() -> None:
    # Reference value: printf '%s' '{"a":1}' | openssl dgst -sha256 -hmac key
    assert webhooks.signature("key", b'{"a":1}') == (
        "sha256=88a67f24bbcdaed0e6c997404bb79a743baf44c6bab2f4c27328e3009d22e342"
    )


def test_moderation_links_are_signed_and_expire() -> None:
    link = links.ModerationLink(7, links.Action.APPROVE, links.new_nonce())
    token = links.moderation_token("secret", link)

    assert links.read_moderation_token("secret", token, max_age=60) == link
    with pytest.raises(links.LinkInvalid):
        links.read_moderation_token("another site", token, max_age=60)
    with pytest.raises(links.LinkInvalid):  # a confirmation link is no moderation link
        links.read_moderation_token(
            "secret",
            links.confirmation_token("secret", links.ConfirmationLink(7, 1, "n")),
            max_age=60,
        )
    with pytest.raises(links.LinkExpired):
        links.read_moderation_token("secret", token, max_age=-1)


def test_digests_are_due_at_the_end_of_clock_aligned_periods() -> None:
    assert digest_due(datetime(2026, 11, 24, 9, 31, 5, tzinfo=UTC), 15) == datetime(
        2026, 11, 24, 9, 45, tzinfo=UTC
    )
    assert digest_due(datetime(2026, 11, 24, 9, 45, tzinfo=UTC), 15) == datetime(
        2026, 11, 24, 10, 0, tzinfo=UTC
    )


def test_delivery_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "COMMENTD_SMTP_URL": "smtps://me:pw@smtp.fastmail.com:465",
            "COMMENTD_NOTIFY_EMAIL": "me@blog.example",
            "COMMENTD_WEBHOOK_URLS": "https://ci.example/hook, https://other.example/x",
            "COMMENTD_WEBHOOK_SECRET": "whsec-units-0123456789abcdef",
            "COMMENTD_NOTIFY_DIGEST_MINUTES": "30",
            "COMMENTD_PUBLIC_URL": "https://comments.blog.example",
        }
    )

    assert settings.smtp_url == "smtps://me:pw@smtp.fastmail.com:465"
    assert settings.webhook_urls == ("https://ci.example/hook", "https://other.example/x")
    assert settings.notify_digest_minutes == 30
    assert settings.mail_sender == "commentd@comments.blog.example"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"COMMENTD_SMTP_URL": "smtp.example:25"}, "COMMENTD_SMTP_URL"),
        ({"COMMENTD_WEBHOOK_URLS": "ftp://x.example/"}, "COMMENTD_WEBHOOK_URLS"),
        ({"COMMENTD_WEBHOOK_URLS": "https://x.example/"}, "COMMENTD_WEBHOOK_SECRET"),
        ({"COMMENTD_POST_URL": "https://blog.example/"}, "COMMENTD_POST_URL"),
        ({"COMMENTD_RETRY_SECONDS": "0"}, "COMMENTD_RETRY_SECONDS"),
    ],
)
def test_unusable_delivery_settings_are_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)
