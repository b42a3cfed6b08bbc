"""Unbound extension objects, bound to the app in create_app(); and the rate-limit keys."""

from __future__ import annotations

from flask import current_app, request
from flask_limiter import Limiter

from .config import Settings
from .keys import client_network


def client_address_key() -> str:
    """The client's address (IPv6 by its /64); ProxyFix has already applied trusted proxies."""
    return client_network(request.remote_addr)


def current_settings() -> Settings:
    settings: Settings = current_app.extensions["settings"]
    return settings


def post_rate_limit() -> str:
    return current_settings().post_rate_limit


def site_rate_limit() -> str:
    return current_settings().site_rate_limit


def auth_failure_limit() -> str:
    return current_settings().auth_failure_limit


def whole_site_key() -> str:
    return "site"


limiter = Limiter(key_func=client_address_key, strategy="sliding-window-counter")
