"""Settings, read once from COMMENTD_* environment variables (the only module that reads them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

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


def _origin(value: str) -> str:
    return value.rstrip("/").lower()


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
    # Prefix of the rate-limit keys in shared storage: services sharing one Redis keep apart.
    ratelimit_key_prefix: str = "commentd"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        mode = env.get("COMMENTD_MODERATION", "all").strip().lower() or "all"
        if mode not in {m.value for m in ModerationMode}:
            raise ConfigError(f"COMMENTD_MODERATION must be all, known or none, not {mode!r}")
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
    def uses_shared_rate_limit_storage(self) -> bool:
        """In-process counters hold for the whole service only when one process serves."""
        return not self.ratelimit_storage_uri.startswith("memory://")

    @property
    def sqlite_path(self) -> Path | None:
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and ":memory:" not in self.database_url:
            return Path(self.database_url[len(prefix) :].split("?", 1)[0])
        return None
