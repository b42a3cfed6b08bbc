"""Settings, read once from COMMENTD_* environment variables (the only module that reads them)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
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
    """ "a, b,,c " -> ("a", "b", "c"): the non-empty items, trimmed."""
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


def _pow_max_number(env: Mapping[str, str]) -> int:
    value = _int(env, "COMMENTD_POW_MAX_NUMBER", POW_MAX_NUMBER)
    if value > POW_MAX_NUMBER_LIMIT:
        raise ConfigError(
            f"COMMENTD_POW_MAX_NUMBER must be at most {POW_MAX_NUMBER_LIMIT}, not {value}"
        )
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
# "x" * 24 are refused (docs/configuration.md).
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


LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*")


def _language(env: Mapping[str, str], name: str, default: str) -> str:
    """A BCP 47 language tag (RFC 5646's shape: `en`, `pt-BR`, `zh-Hans`), else ConfigError."""
    value = env.get(name, "").strip() or default
    if not LANGUAGE_TAG.fullmatch(value):
        raise ConfigError(f"{name} must be a language tag such as en, de or pt-BR, not {value!r}")
    return value


def _secret(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return check_secret(name, value) if value else None


DEFAULT_PORTS = {"http": 80, "https": 443}
# Proof of work (spam/proof.py): the default max number, measured in Chromium
# (docs/spam.md), and the highest a site may set.
POW_MAX_NUMBER = 20_000
POW_MAX_NUMBER_LIMIT = 10_000_000


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


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


def parse_flag(value: str) -> bool | None:
    """The one reading of a yes/no word, wherever one is given (environment, form field, URL
    query): "1", "true", "yes", "on" → True; "0", "false", "no", "off", "" → False; any
    other word → None (the caller refuses it). Case and surrounding spaces do not matter."""
    word = value.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def _flag(env: Mapping[str, str], name: str) -> bool:
    """Raises ConfigError for a word that is neither yes nor no (a typo must not mean "off")."""
    flag = parse_flag(env.get(name, ""))
    if flag is None:
        raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off)")
    return flag


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


SPAM_DIGEST_CHOICES = ("daily", "weekly", "off")


def _spam_digest(env: Mapping[str, str]) -> str:
    """COMMENTD_SPAM_DIGEST: how often the author is mailed what the spam defences caught."""
    value = env.get("COMMENTD_SPAM_DIGEST", "").strip().lower() or SPAM_DIGEST_CHOICES[0]
    if value not in SPAM_DIGEST_CHOICES:
        raise ConfigError(f"COMMENTD_SPAM_DIGEST must be daily, weekly or off, not {value!r}")
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
        "spam_digest": _spam_digest(env),
        "post_url": _post_url(env.get("COMMENTD_POST_URL", "").strip()),
    }


# The groups of the configuration page (docs/configuration.md), in the order it shows them.
GROUPS = (
    "Core",
    "Rate limits",
    "Spam defences",
    "Email and webhooks",
    "Privacy",
    "Production",
)


@dataclass(frozen=True)
class Variable:
    """How one COMMENTD_* variable is documented: the one place its name, unit and meaning live.

    `Settings`' fields carry one in their metadata (`documented`); `commentd.ops.config_docs`
    prints docs/configuration.md from them. `shown_default` replaces the field's default on
    that page when the default is not a value a person would write (None: "generated", …).
    """

    name: str
    group: str
    unit: str
    meaning: str
    shown_default: str | None = None


def documented(
    name: str, group: str, unit: str, meaning: str, shown_default: str | None = None
) -> dict[str, Variable]:
    """Field metadata for a setting read from the variable `name` (one line of meaning).

    Raises ValueError when `group` is not one of GROUPS.
    """
    if group not in GROUPS:
        raise ValueError(f"{name}: unknown group {group!r}")
    return {"variable": Variable(name, group, unit, meaning, shown_default)}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything configurable, with the defaults of API.md; tests build their own.

    Each field's metadata names its COMMENTD_* variable, unit and meaning (`Variable`); the
    configuration page is generated from them (`commentd.ops.config_docs`).
    """

    database_url: str = field(
        default="sqlite:///commentd.db",
        metadata=documented(
            "COMMENTD_DATABASE_URL",
            "Core",
            "SQLAlchemy URL",
            "Any SQLAlchemy URL whose driver is installed; "
            "`postgresql+psycopg://user:pass@host/db` in production (`postgres://…` and "
            "`postgresql://…`, as hosting platforms write them, mean the same).",
        ),
    )
    admin_token: str | None = field(  # secret: never in a repr
        default=None,
        repr=False,
        metadata=documented(
            "COMMENTD_ADMIN_TOKEN",
            "Core",
            "secret",
            "A moderation bearer token accepted besides those made by `commentd token`.",
        ),
    )
    moderation_session_seconds: int = field(
        default=12 * 3600,
        metadata=documented(
            "COMMENTD_MODERATION_SESSION_SECONDS",
            "Core",
            "seconds",
            "How long a sign-in on the hosted `/moderate` page lasts (its HttpOnly session "
            "cookie), counted from the sign-in, not renewed by use: 12 hours, a working day. "
            "Revoking its token ends a session at once.",
        ),
    )
    allowed_origins: tuple[str, ...] = field(
        default=(),
        metadata=documented(
            "COMMENTD_ALLOWED_ORIGINS",
            "Core",
            "origins, comma-separated",
            "Origins (`scheme://host[:port]`) whose pages may post comments and use the "
            "moderation API; the service's own origin always may.",
            shown_default="unset (same origin only)",
        ),
    )
    ratelimit_storage_uri: str = field(
        default="memory://",
        metadata=documented(
            "COMMENTD_RATELIMIT_STORAGE_URI",
            "Production",
            "storage URI",
            "Where the rate-limit counters live: `memory://` is commentd's own counters, for "
            "one host (`commentd serve` runs a process per core that share them through a "
            "file of their own, exact across processes: beside an SQLite database, "
            "`<database>-rate-limits`); `redis://host:6379/0` (or "
            "`rediss://`, `redis+sentinel://`, `redis+cluster://`, as the `limits` library "
            "reads them) when several hosts serve.",
        ),
    )
    post_rate_limit: str = field(
        default="5 per minute;50 per day",
        metadata=documented(
            "COMMENTD_POST_RATE_LIMIT",
            "Rate limits",
            "rate limit",
            "Comments per client address (IPv6: per /64).",
        ),
    )
    site_rate_limit: str = field(
        default="60 per minute",
        metadata=documented(
            "COMMENTD_SITE_RATE_LIMIT",
            "Rate limits",
            "rate limit",
            "Ceiling on accepted comments for the whole site.",
        ),
    )
    auth_failure_limit: str = field(
        default="10 per minute",
        metadata=documented(
            "COMMENTD_AUTH_FAILURE_LIMIT",
            "Rate limits",
            "rate limit",
            "Wrong moderation tokens per client address before it gets 429 instead of 401 "
            "(one count for every route that takes the token).",
        ),
    )
    min_fill_seconds: int = field(
        default=3,
        metadata=documented(
            "COMMENTD_MIN_FILL_SECONDS",
            "Spam defences",
            "seconds",
            "A form sent sooner than this after its form token was issued is held.",
        ),
    )
    hold_links: int = field(
        default=2,
        metadata=documented(
            "COMMENTD_HOLD_LINKS",
            "Spam defences",
            "links",
            "A comment with this many links or more waits for moderation (`0`: no limit); "
            "the author can override it at run time.",
        ),
    )
    trusted_proxies: int = field(
        default=0,
        metadata=documented(
            "COMMENTD_TRUSTED_PROXIES",
            "Production",
            "proxy hops",
            "How many reverse-proxy hops to trust for `X-Forwarded-For` / `-Proto` / `-Host`; "
            "`0` when nothing is in front.",
        ),
    )
    moderation: ModerationMode = field(
        default=ModerationMode.ALL,
        metadata=documented(
            "COMMENTD_MODERATION",
            "Core",
            "`all`, `known` or `none`",
            "Which new comments no spam defence holds wait for moderation: every one, all but "
            "those of proven returning commenters, or none.",
        ),
    )
    public_url: str = field(
        default="",
        metadata=documented(
            "COMMENTD_PUBLIC_URL",
            "Core",
            "URL",
            "Base URL of the links the service hands out (avatars, emails); every instance "
            "behind one proxy needs the same one (it is part of the ETag).",
            shown_default="the address `serve` listens on",
        ),
    )
    secret_key: str | None = field(  # secret: never in a repr
        default=None,
        repr=False,
        metadata=documented(
            "COMMENTD_SECRET_KEY",
            "Core",
            "secret",
            "Signs form tokens and keys the avatar and address hashes.",
            shown_default="generated on first start, kept in the database",
        ),
    )
    check_email_deliverability: bool = field(
        default=False,
        metadata=documented(
            "COMMENTD_CHECK_EMAIL_DELIVERABILITY",
            "Core",
            "flag",
            "Make email-validator check a commenter's email domain in DNS (slow, and fails "
            "offline).",
        ),
    )
    smtp_url: str | None = field(  # secret: never in a repr
        default=None,
        repr=False,
        metadata=documented(
            "COMMENTD_SMTP_URL",
            "Email and webhooks",
            "URL",
            "`smtp://user:password@host:port`; `smtps://…` for TLS from the start (port 465 "
            "by default), `smtp://…?starttls=1` for STARTTLS (port 587 by default). "
            "Percent-encode `@`, `/` and `:` in the user name and password.",
            shown_default="unset (no email)",
        ),
    )
    notify_email: str | None = field(
        default=None,
        metadata=documented(
            "COMMENTD_NOTIFY_EMAIL",
            "Email and webhooks",
            "email address",
            "Where the author's notices of new comments go; needs `COMMENTD_SMTP_URL`.",
            shown_default="unset (no notices)",
        ),
    )
    mail_from: str | None = field(
        default=None,
        metadata=documented(
            "COMMENTD_MAIL_FROM",
            "Email and webhooks",
            "email address",
            "The sender of every email (most providers require an address of your own).",
            shown_default="`commentd@<host of COMMENTD_PUBLIC_URL>`",
        ),
    )
    notify_digest_minutes: int = field(
        default=0,
        metadata=documented(
            "COMMENTD_NOTIFY_DIGEST_MINUTES",
            "Email and webhooks",
            "minutes",
            "`0`: one notice per new comment that waits; `N`: one digest every N minutes.",
        ),
    )
    notify_approved: bool = field(
        default=False,
        metadata=documented(
            "COMMENTD_NOTIFY_APPROVED",
            "Email and webhooks",
            "flag",
            "Also tell the author about comments the site's rules approved at once.",
        ),
    )
    webhook_urls: tuple[str, ...] = field(  # often secret URLs
        default=(),
        repr=False,
        metadata=documented(
            "COMMENTD_WEBHOOK_URLS",
            "Email and webhooks",
            "URLs, comma-separated",
            "`http(s)` URLs that receive a signed JSON POST on comment events.",
        ),
    )
    webhook_secret: str | None = field(  # secret: never in a repr
        default=None,
        repr=False,
        metadata=documented(
            "COMMENTD_WEBHOOK_SECRET",
            "Email and webhooks",
            "secret",
            "The HMAC key of the webhooks' signatures; required with `COMMENTD_WEBHOOK_URLS`.",
        ),
    )
    delivery_timeout: int = field(
        default=10,
        metadata=documented(
            "COMMENTD_DELIVERY_TIMEOUT",
            "Email and webhooks",
            "seconds",
            "How long an SMTP conversation or webhook POST may take before the attempt fails.",
        ),
    )
    retry_seconds: int = field(
        default=30,
        metadata=documented(
            "COMMENTD_RETRY_SECONDS",
            "Email and webhooks",
            "seconds",
            "Delay before the first retry of a failed delivery; it doubles each time, at most "
            "an hour.",
        ),
    )
    max_attempts: int = field(
        default=12,
        metadata=documented(
            "COMMENTD_MAX_ATTEMPTS",
            "Email and webhooks",
            "attempts",
            "Attempts before a delivery is given up (shown as `failed`, retried on request).",
        ),
    )
    outbox_poll_seconds: int = field(
        default=5,
        metadata=documented(
            "COMMENTD_OUTBOX_POLL_SECONDS",
            "Email and webhooks",
            "seconds",
            "How often each server process looks for due deliveries made by other processes "
            "(new ones in-process wake it at once).",
        ),
    )
    action_link_days: int = field(
        default=14,
        metadata=documented(
            "COMMENTD_ACTION_LINK_DAYS",
            "Email and webhooks",
            "days",
            "How long the Approve / Reject / Spam and confirmation links of an email work.",
        ),
    )
    confirm_email_minutes: int = field(
        default=60,
        metadata=documented(
            "COMMENTD_CONFIRM_EMAIL_MINUTES",
            "Email and webhooks",
            "minutes",
            "At most one confirmation email (reply notices or a known address on a new device) "
            "per address in this window.",
        ),
    )
    spam_digest: str = field(
        default="daily",
        metadata=documented(
            "COMMENTD_SPAM_DIGEST",
            "Email and webhooks",
            "`daily`, `weekly` or `off`",
            "How often COMMENTD_NOTIFY_EMAIL gets the list of what the spam defences caught, "
            "each with a Not spam link (none when nothing was caught); the author may change "
            "it with the `spam_digest` rule of `PUT /api/moderation/settings`.",
        ),
    )
    post_url: str | None = field(
        default=None,
        metadata=documented(
            "COMMENTD_POST_URL",
            "Email and webhooks",
            "URL with `{slug}`",
            "A post's address on the blog, e.g. `https://blog.example.com/{slug}/`, for links "
            "in emails, on the hosted `/moderate` page and in the Atom feeds.",
        ),
    )
    site_language: str = field(
        default="en",
        metadata=documented(
            "COMMENTD_SITE_LANGUAGE",
            "Core",
            "BCP 47 language tag",
            "The blog's language: the words of the HTML fragment (`comments.html` without "
            "`?lang=`) and of the no-script form's pages when the form does not say; the "
            "nearest language commentd has (`de-AT` → `de`), else English.",
        ),
    )
    email_rate_limit: str = field(
        default="3 per minute;30 per day",
        metadata=documented(
            "COMMENTD_EMAIL_RATE_LIMIT",
            "Rate limits",
            "rate limit",
            "Comments stored per email address (as typed, keyed-hashed in the counters).",
        ),
    )
    slug_rate_limit: str = field(
        default="20 per minute",
        metadata=documented(
            "COMMENTD_SLUG_RATE_LIMIT",
            "Rate limits",
            "rate limit",
            "Comments stored per post: a burst on one slug is a bot, or a thread that needs "
            "the author.",
        ),
    )
    min_post_interval: int = field(
        default=15,
        metadata=documented(
            "COMMENTD_MIN_POST_INTERVAL",
            "Rate limits",
            "seconds",
            "Minimum time between two comments from one address or one email (WordPress's "
            "flood check); `0` turns it off.",
        ),
    )
    moderation_keywords: tuple[str, ...] = field(
        default=(),
        metadata=documented(
            "COMMENTD_MODERATION_KEYWORDS",
            "Spam defences",
            "word list",
            "A comment matching one of these words or phrases is held; entries "
            "comma-separated or one per line. The author can replace the list at run time.",
        ),
    )
    disallowed_keywords: tuple[str, ...] = field(
        default=(),
        metadata=documented(
            "COMMENTD_DISALLOWED_KEYWORDS",
            "Spam defences",
            "word list",
            "A comment matching one of these goes to the spam folder; same form.",
        ),
    )
    duplicate_window_seconds: int = field(
        default=86400,
        metadata=documented(
            "COMMENTD_DUPLICATE_WINDOW_SECONDS",
            "Spam defences",
            "seconds",
            "The same text again within this window is held (spam if the first one is spam); "
            "`0` turns it off.",
        ),
    )
    pow_max_number: int = field(
        default=POW_MAX_NUMBER,
        metadata=documented(
            "COMMENTD_POW_MAX_NUMBER",
            "Spam defences",
            "hashes",
            "Proof of work: the widget tries up to this many SHA-256 hashes (half on average) "
            "before posting; a comment without a valid solution is held. `0` turns it off.",
        ),
    )
    spam_threshold: float = field(
        default=0.84,
        metadata=documented(
            "COMMENTD_SPAM_THRESHOLD",
            "Spam defences",
            "score, 0 to 1",
            "The learning filter's score from which a comment goes to the spam folder, when "
            "the text alone says as much and the filter has 50 lessons of each kind (unsure "
            "is held); chosen on a measured curve (docs/spam.md).",
        ),
    )
    hold_threshold: float = field(
        default=0.4,
        metadata=documented(
            "COMMENTD_HOLD_THRESHOLD",
            "Spam defences",
            "score, 0 to 1",
            "The filter's score from which a comment is held (up to the spam threshold), "
            "whatever `COMMENTD_MODERATION` says; not above `COMMENTD_SPAM_THRESHOLD`.",
        ),
    )
    spam_retention_days: int = field(
        default=30,
        metadata=documented(
            "COMMENTD_SPAM_RETENTION_DAYS",
            "Spam defences",
            "days",
            "Age after which `commentd purge` deletes spam-folder comments; `0` never.",
        ),
    )
    edit_minutes: int = field(
        default=15,
        metadata=documented(
            "COMMENTD_EDIT_MINUTES",
            "Privacy",
            "minutes",
            "How long after posting a reader may edit or delete their comment from the browser "
            "that posted it (its `commenter_token`); `0` turns editing and deleting off.",
        ),
    )
    client_key_retention_days: int = field(
        default=30,
        metadata=documented(
            "COMMENTD_CLIENT_KEY_RETENTION_DAYS",
            "Privacy",
            "days",
            "Age after which `commentd purge` forgets the keyed hash of the client address a "
            "comment came from (kept for the spam and rate rules); `0` keeps it.",
        ),
    )
    rejected_retention_days: int = field(
        default=30,
        metadata=documented(
            "COMMENTD_REJECTED_RETENTION_DAYS",
            "Privacy",
            "days",
            "Age after which `commentd purge` deletes rejected comments; `0` keeps them.",
        ),
    )
    privacy_rate_limit: str = field(
        default="3 per hour;10 per day",
        metadata=documented(
            "COMMENTD_PRIVACY_RATE_LIMIT",
            "Privacy",
            "rate limit",
            "Data export or erasure requests per email address (keyed-hashed in the counters); "
            "beyond it a request is answered the same and mails nothing.",
        ),
    )
    privacy_client_rate_limit: str = field(
        default="10 per hour",
        metadata=documented(
            "COMMENTD_PRIVACY_CLIENT_RATE_LIMIT",
            "Privacy",
            "rate limit",
            "Data export or erasure requests per client address (`429` beyond it).",
        ),
    )
    author_name: str = field(
        default="Author",
        metadata=documented(
            "COMMENTD_AUTHOR_NAME",
            "Core",
            "text, 1-80 characters",
            "The name the author's replies from the moderation console carry (shown with an "
            "Author badge); their email is `COMMENTD_NOTIFY_EMAIL`, if set.",
        ),
    )
    review_rate_limit: str = field(
        default="3 per hour;10 per day",
        metadata=documented(
            "COMMENTD_REVIEW_RATE_LIMIT",
            "Spam defences",
            "rate limit",
            "Requests from one client address to review a comment the spam defences caught "
            "(`429` beyond it).",
        ),
    )
    import_max_mb: int = field(
        default=512,
        metadata=documented(
            "COMMENTD_IMPORT_MAX_MB",
            "Core",
            "megabytes",
            "The largest export the moderation API takes as an upload (the command line has "
            "no limit).",
        ),
    )
    ratelimit_key_prefix: str = field(
        default="commentd",
        metadata=documented(
            "COMMENTD_RATELIMIT_KEY_PREFIX",
            "Production",
            "text",
            "Prefix of this service's keys in the rate-limit storage; services sharing one "
            "Redis need different ones.",
        ),
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """The settings the COMMENTD_* variables in `env` give (docs/configuration.md lists
        them); raises ConfigError naming the first variable whose value cannot work."""
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
            check_email_deliverability=_flag(env, "COMMENTD_CHECK_EMAIL_DELIVERABILITY"),
            **_delivery_settings(env),
            site_language=_language(env, "COMMENTD_SITE_LANGUAGE", cls.site_language),
            email_rate_limit=_rate_limit(env, "COMMENTD_EMAIL_RATE_LIMIT", cls.email_rate_limit),
            slug_rate_limit=_rate_limit(env, "COMMENTD_SLUG_RATE_LIMIT", cls.slug_rate_limit),
            min_post_interval=_int(env, "COMMENTD_MIN_POST_INTERVAL", cls.min_post_interval),
            moderation_keywords=split_lines_or_csv(env.get("COMMENTD_MODERATION_KEYWORDS", "")),
            disallowed_keywords=split_lines_or_csv(env.get("COMMENTD_DISALLOWED_KEYWORDS", "")),
            duplicate_window_seconds=_int(
                env, "COMMENTD_DUPLICATE_WINDOW_SECONDS", cls.duplicate_window_seconds
            ),
            pow_max_number=_pow_max_number(env),
            spam_threshold=spam_threshold,
            hold_threshold=hold_threshold,
            spam_retention_days=_int(env, "COMMENTD_SPAM_RETENTION_DAYS", cls.spam_retention_days),
            edit_minutes=_int(env, "COMMENTD_EDIT_MINUTES", cls.edit_minutes),
            moderation_session_seconds=_int(
                env,
                "COMMENTD_MODERATION_SESSION_SECONDS",
                cls.moderation_session_seconds,
                minimum=1,
            ),
            client_key_retention_days=_int(
                env, "COMMENTD_CLIENT_KEY_RETENTION_DAYS", cls.client_key_retention_days
            ),
            rejected_retention_days=_int(
                env, "COMMENTD_REJECTED_RETENTION_DAYS", cls.rejected_retention_days
            ),
            privacy_rate_limit=_rate_limit(
                env, "COMMENTD_PRIVACY_RATE_LIMIT", cls.privacy_rate_limit
            ),
            privacy_client_rate_limit=_rate_limit(
                env, "COMMENTD_PRIVACY_CLIENT_RATE_LIMIT", cls.privacy_client_rate_limit
            ),
            author_name=_author_name(env),
            review_rate_limit=_rate_limit(env, "COMMENTD_REVIEW_RATE_LIMIT", cls.review_rate_limit),
            import_max_mb=_int(env, "COMMENTD_IMPORT_MAX_MB", cls.import_max_mb, minimum=1),
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
        """Whether the counters live in a storage of their own (Redis), which instances on
        several hosts can share; memory:// (and the file `commentd serve` shares between its
        processes in its place, `commentd-file://`) count on one host only."""
        return not self.ratelimit_storage_uri.startswith(("memory://", "commentd-file://"))

    @property
    def sqlite_path(self) -> Path | None:
        """The database file when the database is an SQLite file, else None."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and ":memory:" not in self.database_url:
            return Path(self.database_url[len(prefix) :].split("?", 1)[0])
        return None


def _author_name(env: Mapping[str, str]) -> str:
    """COMMENTD_AUTHOR_NAME: 1 to 80 characters, no control characters; "Author" if unset."""
    name = env.get("COMMENTD_AUTHOR_NAME", "").strip()
    if not name:
        return "Author"
    if len(name) > 80 or any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):
        raise ConfigError("COMMENTD_AUTHOR_NAME must be 1 to 80 characters, no control characters")
    return name


# Read by `commentd serve` itself (a click option's envvar), not by Settings.
METRICS_BIND = Variable(
    "COMMENTD_METRICS_BIND",
    "Production",
    "host:port",
    "The listener that serves `/metrics` alone, in the Prometheus text format (also "
    "`commentd serve --metrics-bind`); keep it on the monitoring network.",
    shown_default="unset (no metrics)",
)


def documented_variables() -> list[tuple[Variable, object]]:
    """Every COMMENTD_* variable the service reads, with its default, in field order.

    Returns (Variable, default) pairs: Settings' fields first, then the variables `commentd
    serve` reads itself (default None). Raises LookupError for a field without metadata.
    """
    found: list[tuple[Variable, object]] = []
    for setting in fields(Settings):
        variable = setting.metadata.get("variable")
        if not isinstance(variable, Variable):
            raise LookupError(f"Settings.{setting.name} has no documented() metadata")
        found.append((variable, setting.default))
    found.append((METRICS_BIND, None))
    return found
