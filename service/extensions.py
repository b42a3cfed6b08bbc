"""The app's shared objects, as views reach them, and the rate limits' claims.

Every limit is an allowance (allowances.py) taken once the request is known to be valid; the
claims here name what each limit counts, always by keyed hash (never an address or email).
"""

from __future__ import annotations

from flask import Flask, current_app, request

from .allowances import Allowances, Claim, claims
from .config import Settings
from .keys import client_network


def client_address_key() -> str:
    """The client's address (IPv6 by its /64); ProxyFix has already applied trusted proxies."""
    return client_network(request.remote_addr)


def current_settings() -> Settings:
    settings: Settings = current_app.extensions["settings"]
    return settings


def current_allowances() -> Allowances:
    allowances: Allowances = current_app.extensions["allowances"]
    return allowances


def current_secret() -> str:
    secret: str = current_app.extensions["secret_key"]
    return secret


def init_allowances(app: Flask, settings: Settings) -> None:
    """The limits' storage: in-process counters, or the shared one of
    COMMENTD_RATELIMIT_STORAGE_URI (Redis), under COMMENTD_RATELIMIT_KEY_PREFIX."""
    app.extensions["allowances"] = Allowances(
        settings.ratelimit_storage_uri, settings.ratelimit_key_prefix
    )


def min_interval_limit(settings: Settings) -> str:
    """WordPress's flood check as a limit: one comment per interval; "" (no limit) when 0."""
    seconds = settings.min_post_interval
    return f"1 per {seconds} second" if seconds else ""


def posting_claims(slug: str, sender_email_key: str) -> list[Claim]:
    """Every limit a new comment takes from: its client address (rate and interval), its
    sender (`sender_email_key`, the email as typed or as proven; rate and interval), its post,
    and the whole site."""
    settings, secret = current_settings(), current_secret()
    address = client_address_key()
    interval = min_interval_limit(settings)
    return [
        *claims(interval, "interval", secret, address),
        *claims(settings.post_rate_limit, "address", secret, address),
        *claims(interval, "email-interval", secret, sender_email_key),
        *claims(settings.email_rate_limit, "email", secret, sender_email_key),
        *claims(settings.slug_rate_limit, "post", secret, slug),
        *claims(settings.site_rate_limit, "site", secret, "site"),
    ]


def auth_failure_claims() -> list[Claim]:
    """The failed bearer tokens of a client address, one count for every route that takes one."""
    return claims(
        current_settings().auth_failure_limit,
        "auth-failure",
        current_secret(),
        client_address_key(),
    )
