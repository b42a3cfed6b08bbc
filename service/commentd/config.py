"""Settings, read once from COMMENTD_* environment variables (the only module that reads them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from email.utils import parseaddr
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import idna
from email_validator import EmailNotValidError, validate_email
from limits import parse_many
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError


class ModerationMode(StrEnum):
    """What happens to a new comment that no spam defence holds (API.md, COMMENTD_MODERATION)."""

    ALL = "all"  # every new comment waits in the queue
    KNOWN = "known"  # a commenter proven to have an approved comment is approved at once
    NONE = "none"  # approved at once


class ConfigError(ValueError):
    """A COMMENTD_* variable holds a value the service cannot use; the message names it."""


def split_csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def _rate_limit(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"{name} is not a rate limit like '5 per minute;50 per day'") from None
    return value


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number from 0 to 1, not {raw!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be a number from 0 to 1, not {raw!r}")
    return value


def split_lines_or_csv(value: str) -> tuple[str, ...]:
    """A word list: one entry per line or comma-separated (phrases may contain spaces)."""
    parts = value.replace("\n", ",").split(",")
    return tuple(part.strip() for part in parts if part.strip())


# A secret taken from the configuration (admin token, secret key, webhook secret) must be at
# least this long and use at least this many different characters: a 32-byte
# secrets.token_urlsafe() is 43 characters of ~30 different ones; "a", "changeme" or
# "x" * 24 are refused (README, "Configuration").
SECRET_MIN_LENGTH = 24
SECRET_MIN_DISTINCT = 8
MAKE_A_SECRET = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


def check_secret(name: str, value: str) -> str:
    """`value` if it is strong enough to be the secret `name`; else ConfigError.

    The rule: at least SECRET_MIN_LENGTH characters, of at least SECRET_MIN_DISTINCT different
    ones. The message names the variable and how to make a good secret, never the value.
    """
    if len(value) < SECRET_MIN_LENGTH or len(set(value)) < SECRET_MIN_DISTINCT:
        raise ConfigError(
            f"{name} is too weak ({len(value)} characters, {len(set(value))} different): "
            f"a secret needs at least {SECRET_MIN_LENGTH} characters, of at least "
            f"{SECRET_MIN_DISTINCT} different ones. Make one with: {MAKE_A_SECRET}"
        )
    return value


def _secret(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return check_secret(name, value) if value else None


DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(value: str) -> str:
    """One entry of COMMENTD_ALLOWED_ORIGINS as a browser sends it in `Origin`:
    scheme://host[:port], lowercase, the host in IDNA (punycode), no default port."""
    example = "e.g. https://blog.example or http://127.0.0.1:8000"
    name = "COMMENTD_ALLOWED_ORIGINS"
    if value == "*":
        raise ConfigError(
            f"{name} lists the sites allowed to post one by one; '*' (every site) is not "
            f"accepted. List your blog's origins as scheme://host[:port], {example}"
        )
    try:
        parts = urlsplit(value)
        port = parts.port
        host = parts.hostname
    except ValueError:
        parts, port, host = urlsplit(""), None, None
    if parts.scheme not in DEFAULT_PORTS or not host:
        raise ConfigError(
            f"{name} holds {value!r}, which is not an origin: write scheme://host[:port], {example}"
        )
    if parts.path not in {"", "/"} or parts.query or parts.fragment or "#" in value:
        raise ConfigError(
            f"{name} holds {value!r}: an origin has no path, query or fragment; write only "
            f"scheme://host[:port], {example}"
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"{name} holds {value!r}: an origin has no user name or password; write only "
            f"scheme://host[:port], {example}"
        )
    if ":" in host:
        shown = f"[{host}]"
    else:
        try:
            shown = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise ConfigError(
                f"{name} holds {value!r}, whose host name is not valid: write "
                f"scheme://host[:port], {example}"
            ) from None
    if port is not None and port != DEFAULT_PORTS[parts.scheme]:
        shown = f"{shown}:{port}"
    return f"{parts.scheme}://{shown}"


def _public_url(value: str) -> str:
    """COMMENTD_PUBLIC_URL: an http(s) base URL (a path is allowed), no query or fragment."""
    if not value:
        return ""
    _url(value, "COMMENTD_PUBLIC_URL", {"http", "https"})
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise ConfigError(
            f"COMMENTD_PUBLIC_URL must be a base URL like https://comments.example.org, "
            f"without a query or fragment, not {value!r}"
        )
    return value.rstrip("/")


# Installed drivers the short PostgreSQL spellings stand for: psycopg 3 is a dependency
# (SQLAlchemy would pick psycopg2, which is not).
POSTGRESQL_ALIASES = {"postgres", "postgresql"}
POSTGRESQL_DRIVER = "postgresql+psycopg"


def _database_url(value: str) -> str:
    """COMMENTD_DATABASE_URL, checked without connecting: a SQLAlchemy URL whose driver is
    installed. postgres:// and postgresql:// (libpq's spellings, as hosting platforms hand
    them out) mean postgresql+psycopg://."""
    name = "COMMENTD_DATABASE_URL"
    scheme, sep, rest = value.partition("://")
    if sep and scheme.lower() in POSTGRESQL_ALIASES:
        value = f"{POSTGRESQL_DRIVER}://{rest}"
    try:
        url = make_url(value)
    except ArgumentError:
        raise ConfigError(
            f"{name} is not a database URL: write sqlite:///path/to/commentd.db or "
            "postgresql+psycopg://user:password@host:5432/dbname"
        ) from None
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise ConfigError(
            f"{name} names an unknown database {url.drivername!r}: use sqlite:///… or "
            "postgresql+psycopg://…"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError:
        raise ConfigError(
            f"{name} asks for the driver {url.get_driver_name()!r}, which is not installed: "
            f"use {POSTGRESQL_DRIVER}://… for PostgreSQL (installed with commentd), or install "
            "that driver"
        ) from None
    return value


def shown_database(database_url: str) -> str:
    """The database URL as it may be shown to a person: no password, a SQLite path absolute."""
    url: URL = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).resolve()))
    return url.render_as_string(hide_password=True)


def _storage_uri(env: Mapping[str, str]) -> str:
    """COMMENTD_RATELIMIT_STORAGE_URI's form; whether its storage answers is checked at start
    (startup.check_rate_limit_storage)."""
    name = "COMMENTD_RATELIMIT_STORAGE_URI"
    value = env.get(name, "").strip() or Settings.ratelimit_storage_uri
    scheme, sep, _ = value.partition("://")
    if not sep or not scheme or scheme.startswith("async+"):
        # Not the value itself: a Redis URL may hold a password.
        raise ConfigError(
            f"{name} must be memory:// (one process) or a shared storage such as "
            "redis://host:6379/0"
        )
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _url(value: str, name: str, schemes: set[str]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        shown = " or ".join(f"{s}://" for s in sorted(schemes))
        # Not the value itself: an SMTP URL holds a password, a hook URL is often a secret.
        given = f"{parts.scheme}://…" if parts.scheme else "a value without a scheme"
        raise ConfigError(f"{name} must be a URL starting with {shown}, not {given}")
    return value


def _post_url(value: str) -> str | None:
    if not value:
        return None
    if "{slug}" not in value:
        raise ConfigError(
            "COMMENTD_POST_URL must contain {slug}, e.g. https://blog.example/{slug}/"
        )
    return _url(value, "COMMENTD_POST_URL", {"http", "https"})


def _address(env: Mapping[str, str], name: str) -> str | None:
    """An email address setting ("Name <a@b.example>" too), checked for its form only (no DNS)."""
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        validate_email(parseaddr(value)[1], check_deliverability=False)
    except EmailNotValidError as error:
        raise ConfigError(f"{name} is not an email address: {error}") from None
    return value


def _delivery_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The COMMENTD_* variables of emails and webhooks (API.md, "Running it")."""
    smtp_url = env.get("COMMENTD_SMTP_URL", "").strip() or None
    if smtp_url:
        _url(smtp_url, "COMMENTD_SMTP_URL", {"smtp", "smtps"})
    webhook_urls = tuple(
        _url(url, "COMMENTD_WEBHOOK_URLS", {"http", "https"})
        for url in split_csv(env.get("COMMENTD_WEBHOOK_URLS", ""))
    )
    webhook_secret = _secret(env, "COMMENTD_WEBHOOK_SECRET")
    if webhook_urls and not webhook_secret:
        raise ConfigError(
            "COMMENTD_WEBHOOK_URLS needs COMMENTD_WEBHOOK_SECRET to sign the POSTs. "
            f"Make one with: {MAKE_A_SECRET}"
        )
    notify_email = _address(env, "COMMENTD_NOTIFY_EMAIL")
    if notify_email and not smtp_url:
        raise ConfigError(
            "COMMENTD_NOTIFY_EMAIL is set but COMMENTD_SMTP_URL is not, so no notice could be "
            "sent: set COMMENTD_SMTP_URL (smtp://user:password@host:587?starttls=1), or unset "
            "COMMENTD_NOTIFY_EMAIL"
        )
    notify_digest_minutes = _int(env, "COMMENTD_NOTIFY_DIGEST_MINUTES", 0)
    notify_approved = _flag(env, "COMMENTD_NOTIFY_APPROVED")
    for name, is_set in (
        ("COMMENTD_NOTIFY_DIGEST_MINUTES", notify_digest_minutes > 0),
        ("COMMENTD_NOTIFY_APPROVED", notify_approved),
    ):
        if is_set and not notify_email:
            raise ConfigError(
                f"{name} changes the author's notices, but COMMENTD_NOTIFY_EMAIL (where they "
                f"go) is not set: set it (with COMMENTD_SMTP_URL), or unset {name}"
            )
    return {
        "smtp_url": smtp_url,
        "notify_email": notify_email,
        "mail_from": _address(env, "COMMENTD_MAIL_FROM"),
        "notify_digest_minutes": notify_digest_minutes,
        "notify_approved": notify_approved,
        "webhook_urls": webhook_urls,
        "webhook_secret": webhook_secret,
        "delivery_timeout": _int(env, "COMMENTD_DELIVERY_TIMEOUT", 10, minimum=1),
        "retry_seconds": _int(env, "COMMENTD_RETRY_SECONDS", 30, minimum=1),
        "max_attempts": _int(env, "COMMENTD_MAX_ATTEMPTS", 12, minimum=1),
        "outbox_poll_seconds": _int(env, "COMMENTD_OUTBOX_POLL_SECONDS", 5, minimum=1),
        "action_link_days": _int(env, "COMMENTD_ACTION_LINK_DAYS", 14, minimum=1),
        "confirm_email_minutes": _int(env, "COMMENTD_CONFIRM_EMAIL_MINUTES", 60, minimum=1),
        "post_url": _post_url(env.get("COMMENTD_POST_URL", "").strip()),
    }


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything configurable, with the defaults of API.md; tests build their own."""

    database_url: str = "sqlite:///commentd.db"
    # A moderation bearer token accepted besides those made by `commentd token`.
    admin_token: str | None = field(default=None, repr=False)  # secret: never in a repr
    # Origins (scheme://host[:port]) whose pages may post comments; same origin always may.
    allowed_origins: tuple[str, ...] = ()
    ratelimit_storage_uri: str = "memory://"
    post_rate_limit: str = "5 per minute;50 per day"
    site_rate_limit: str = "60 per minute"
    # Failed moderation logins allowed per client address before it gets 429.
    auth_failure_limit: str = "10 per minute"
    min_fill_seconds: int = 3
    hold_links: int = 2
    trusted_proxies: int = 0
    moderation: ModerationMode = ModerationMode.ALL
    # Base URL for links the service hands out (avatars, emails); unset: where `serve` listens.
    public_url: str = ""
    # Signs form tokens and keys hashes; when unset, one is generated once and kept in the database.
    secret_key: str | None = field(default=None, repr=False)  # secret: never in a repr
    # email-validator's DNS deliverability check; off by default (slow, and fails offline).
    check_email_deliverability: bool = False
    # Email: smtp://user:password@host:port (smtps:// for TLS, ?starttls=1); unset sends none.
    smtp_url: str | None = field(default=None, repr=False)  # secret: never in a repr
    # Where the author's notices of new comments go; unset sends none.
    notify_email: str | None = None
    # The sender of every email; unset: commentd@<host of the public URL> (see mail_sender).
    mail_from: str | None = None
    # 0: one notice per new comment that waits; N: one digest every N minutes instead.
    notify_digest_minutes: int = 0
    # Also tell the author about comments the site's rules approved at once.
    notify_approved: bool = False
    # URLs that receive a signed JSON POST on comment events, and the key of that signature.
    webhook_urls: tuple[str, ...] = field(default=(), repr=False)  # often secret URLs
    webhook_secret: str | None = field(default=None, repr=False)  # secret: never in a repr
    # Seconds an SMTP conversation or webhook POST may take before the attempt counts as failed.
    delivery_timeout: int = 10
    # Seconds before the first retry of a failed delivery; it doubles each time, up to an hour.
    retry_seconds: int = 30
    # Attempts before a delivery is given up (then shown as failed in the moderation API).
    max_attempts: int = 12
    # How often each server process looks for due deliveries (new ones in-process wake it).
    outbox_poll_seconds: int = 5
    # Days the Approve / Reject / Spam and confirmation links of an email keep working.
    action_link_days: int = 14
    # One confirmation email (COMMENTD_MODERATION=known, new device) per address per this window.
    confirm_email_minutes: int = 60
    # A post's address on the blog, for links in emails: "https://blog.example/{slug}/".
    post_url: str | None = None
    # Comments stored per email address (the address as typed: it proves nothing, but a
    # script posting under one address from many networks is still slowed down).
    email_rate_limit: str = "3 per minute;30 per day"
    # Comments stored per post: a burst on one slug is a bot, or a thread that needs the author.
    slug_rate_limit: str = "20 per minute"
    # Seconds between two comments from the same sender (address or email), as WordPress's
    # flood check; 0 turns it off.
    min_post_interval: int = 15
    # Words or phrases that hold a comment / send it straight to spam (site_rules.py says how
    # they match); the moderation API can replace both lists at run time.
    moderation_keywords: tuple[str, ...] = ()
    disallowed_keywords: tuple[str, ...] = ()
    # The same text again within this many seconds is a duplicate (held); 0 turns it off.
    duplicate_window_seconds: int = 86400
    # The learning filter: at or above spam_threshold to the spam folder; from hold_threshold
    # up to it, held for moderation whatever COMMENTD_MODERATION says.
    spam_threshold: float = 0.55
    hold_threshold: float = 0.3
    # Days a comment stays in the spam folder before `commentd purge-spam` deletes it; 0 keeps.
    spam_retention_days: int = 30
    # Prefix of the rate-limit keys in shared storage: services sharing one Redis keep apart.
    ratelimit_key_prefix: str = "commentd"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        mode = env.get("COMMENTD_MODERATION", "all").strip().lower() or "all"
        if mode not in {m.value for m in ModerationMode}:
            raise ConfigError(f"COMMENTD_MODERATION must be all, known or none, not {mode!r}")
        spam_threshold = _fraction(env, "COMMENTD_SPAM_THRESHOLD", cls.spam_threshold)
        hold_threshold = _fraction(env, "COMMENTD_HOLD_THRESHOLD", cls.hold_threshold)
        if hold_threshold > spam_threshold:
            raise ConfigError("COMMENTD_HOLD_THRESHOLD must not be above COMMENTD_SPAM_THRESHOLD")
        return cls(
            database_url=_database_url(
                env.get("COMMENTD_DATABASE_URL", "").strip() or cls.database_url
            ),
            admin_token=_secret(env, "COMMENTD_ADMIN_TOKEN"),
            allowed_origins=tuple(
                _origin(o) for o in split_csv(env.get("COMMENTD_ALLOWED_ORIGINS", ""))
            ),
            ratelimit_storage_uri=_storage_uri(env),
            post_rate_limit=_rate_limit(env, "COMMENTD_POST_RATE_LIMIT", cls.post_rate_limit),
            site_rate_limit=_rate_limit(env, "COMMENTD_SITE_RATE_LIMIT", cls.site_rate_limit),
            auth_failure_limit=_rate_limit(
                env, "COMMENTD_AUTH_FAILURE_LIMIT", cls.auth_failure_limit
            ),
            min_fill_seconds=_int(env, "COMMENTD_MIN_FILL_SECONDS", cls.min_fill_seconds),
            hold_links=_int(env, "COMMENTD_HOLD_LINKS", cls.hold_links),
            trusted_proxies=_int(env, "COMMENTD_TRUSTED_PROXIES", cls.trusted_proxies),
            moderation=ModerationMode(mode),
            public_url=_public_url(env.get("COMMENTD_PUBLIC_URL", "").strip()),
            secret_key=_secret(env, "COMMENTD_SECRET_KEY"),
            check_email_deliverability=env.get("COMMENTD_CHECK_EMAIL_DELIVERABILITY", "")
            .strip()
            .lower()
            in {"1", "true", "yes", "on"},
            **_delivery_settings(env),
            email_rate_limit=_rate_limit(env, "COMMENTD_EMAIL_RATE_LIMIT", cls.email_rate_limit),
            slug_rate_limit=_rate_limit(env, "COMMENTD_SLUG_RATE_LIMIT", cls.slug_rate_limit),
            min_post_interval=_int(env, "COMMENTD_MIN_POST_INTERVAL", cls.min_post_interval),
            moderation_keywords=split_lines_or_csv(env.get("COMMENTD_MODERATION_KEYWORDS", "")),
            disallowed_keywords=split_lines_or_csv(env.get("COMMENTD_DISALLOWED_KEYWORDS", "")),
            duplicate_window_seconds=_int(
                env, "COMMENTD_DUPLICATE_WINDOW_SECONDS", cls.duplicate_window_seconds
            ),
            spam_threshold=spam_threshold,
            hold_threshold=hold_threshold,
            spam_retention_days=_int(env, "COMMENTD_SPAM_RETENTION_DAYS", cls.spam_retention_days),
            ratelimit_key_prefix=env.get("COMMENTD_RATELIMIT_KEY_PREFIX", "").strip()
            or cls.ratelimit_key_prefix,
        )

    def serving_at(self, host: str, port: int) -> Settings:
        """These settings with the public URL defaulting to the address being served."""
        if self.public_url:
            return self
        shown = f"[{host}]" if ":" in host else host
        return replace(self, public_url=f"http://{shown}:{port}")

    @property
    def mail_sender(self) -> str:
        """COMMENTD_MAIL_FROM, or commentd@<host of the public URL> (API.md)."""
        return self.mail_from or f"commentd@{urlsplit(self.public_url).hostname or 'localhost'}"

    @property
    def uses_shared_rate_limit_storage(self) -> bool:
        """In-process counters hold for the whole service only when one process serves."""
        return not self.ratelimit_storage_uri.startswith("memory://")

    @property
    def sqlite_path(self) -> Path | None:
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and ":memory:" not in self.database_url:
            return Path(self.database_url[len(prefix) :].split("?", 1)[0])
        return None
