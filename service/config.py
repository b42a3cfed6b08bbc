"""Settings, read once from COMMENTD_* environment variables (the only module that reads them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from limits import parse_many


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


def _origin(value: str) -> str:
    return value.rstrip("/").lower()


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


def _delivery_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The COMMENTD_* variables of emails and webhooks (API.md, "Running it")."""
    smtp_url = env.get("COMMENTD_SMTP_URL", "").strip() or None
    if smtp_url:
        _url(smtp_url, "COMMENTD_SMTP_URL", {"smtp", "smtps"})
    webhook_urls = tuple(
        _url(url, "COMMENTD_WEBHOOK_URLS", {"http", "https"})
        for url in split_csv(env.get("COMMENTD_WEBHOOK_URLS", ""))
    )
    webhook_secret = env.get("COMMENTD_WEBHOOK_SECRET", "").strip() or None
    if webhook_urls and not webhook_secret:
        raise ConfigError("COMMENTD_WEBHOOK_URLS needs COMMENTD_WEBHOOK_SECRET to sign the POSTs")
    return {
        "smtp_url": smtp_url,
        "notify_email": env.get("COMMENTD_NOTIFY_EMAIL", "").strip() or None,
        "mail_from": env.get("COMMENTD_MAIL_FROM", "").strip() or None,
        "notify_digest_minutes": _int(env, "COMMENTD_NOTIFY_DIGEST_MINUTES", 0),
        "notify_approved": _flag(env, "COMMENTD_NOTIFY_APPROVED"),
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
    admin_token: str | None = None
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
    secret_key: str | None = None
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
            database_url=env.get("COMMENTD_DATABASE_URL", "").strip() or cls.database_url,
            admin_token=env.get("COMMENTD_ADMIN_TOKEN", "").strip() or None,
            allowed_origins=tuple(
                _origin(o) for o in split_csv(env.get("COMMENTD_ALLOWED_ORIGINS", ""))
            ),
            ratelimit_storage_uri=env.get("COMMENTD_RATELIMIT_STORAGE_URI", "").strip()
            or cls.ratelimit_storage_uri,
            post_rate_limit=_rate_limit(env, "COMMENTD_POST_RATE_LIMIT", cls.post_rate_limit),
            site_rate_limit=_rate_limit(env, "COMMENTD_SITE_RATE_LIMIT", cls.site_rate_limit),
            auth_failure_limit=_rate_limit(
                env, "COMMENTD_AUTH_FAILURE_LIMIT", cls.auth_failure_limit
            ),
            min_fill_seconds=_int(env, "COMMENTD_MIN_FILL_SECONDS", cls.min_fill_seconds),
            hold_links=_int(env, "COMMENTD_HOLD_LINKS", cls.hold_links),
            trusted_proxies=_int(env, "COMMENTD_TRUSTED_PROXIES", cls.trusted_proxies),
            moderation=ModerationMode(mode),
            public_url=env.get("COMMENTD_PUBLIC_URL", "").strip().rstrip("/"),
            secret_key=env.get("COMMENTD_SECRET_KEY", "").strip() or None,
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
