"""Unbound extension objects, bound to the app in create_app(); and the rate-limit keys."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, current_app, g, request
from flask_limiter import Limiter

from . import counters
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


def email_limits() -> str:
    """The limits on one email address: its own rate, and the minimum interval."""
    return ";".join(filter(None, (current_settings().email_rate_limit, min_interval_limit())))


def slug_rate_limit() -> str:
    return current_settings().slug_rate_limit


def min_interval_limit() -> str:
    """WordPress's flood check as a limit: one comment per interval; "" (no limit) when 0."""
    seconds = current_settings().min_post_interval
    return f"1 per {seconds} second" if seconds else ""


def slug_key() -> str:
    """The post being commented on, as the URL names it (normalised enough to group a burst)."""
    slug = (request.view_args or {}).get("slug", "")
    return "post:" + str(slug).strip("/")


def sender_email_key() -> str:
    """The submission's email, keyed-hashed by the view (never stored in the counters as typed).

    Limits on it run inside the view, once the body is parsed: a key function running before
    the view would have to parse junk itself.
    """
    return str(g.get("sender_email_key", ""))


# The sliding window counter: the in-process counters (counters.py) serve it, not the moving window.
LIMIT_STRATEGY = "sliding-window-counter"
limiter = Limiter(key_func=client_address_key, strategy=LIMIT_STRATEGY)


def limiter_config(settings: Settings) -> dict[str, object]:
    """flask-limiter's part of the app's config (the benchmark's posting floor uses it too)."""
    storage_uri = settings.ratelimit_storage_uri
    if storage_uri.startswith("memory://"):  # commentd's own in-process counters
        storage_uri = storage_uri.replace("memory://", f"{counters.SCHEME}://", 1)
    return {
        "RATELIMIT_STORAGE_URI": storage_uri,
        "RATELIMIT_KEY_PREFIX": settings.ratelimit_key_prefix,
        # No X-RateLimit-* headers: nothing reads them, and on Redis each costs a round trip
        # per post. A 429 still says when to try again (Retry-After, errors.py).
        "RATELIMIT_HEADERS_ENABLED": False,
        # Redis down must not stop posting: count in-process meanwhile, and say so in the log.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": settings.uses_shared_rate_limit_storage,
        "RATELIMIT_SWALLOW_ERRORS": True,
    }


def seconds_until_allowed() -> int:
    """A 429's Retry-After (API.md: whole seconds): until the breached limit lets one more in.

    Computed for the 429 alone: flask-limiter's own headers would read the window of a limit
    on every limited request, one Redis round trip per post for an answer nobody reads.
    """
    breached = limiter.current_limit
    if breached is None:
        return 60
    return max(1, math.ceil(breached.reset_at - time.time()))


def init_limiter(app: Flask, carries_no_limit: Callable[[], bool]) -> None:
    """Bind the limiter; requests for which `carries_no_limit()` is true skip its hooks.

    flask-limiter hooks every request before, after and at teardown, and even a request its
    filters exempt pays ~45 µs in them: more than the rest of a cached public read. The
    hooks it registers are wrapped so that such requests pass by them untouched.
    """
    hook_lists: tuple[dict[str | None, list[Any]], ...] = (
        app.before_request_funcs,
        app.after_request_funcs,
        app.teardown_request_funcs,
    )
    before = [list(hooks.get(None, ())) for hooks in hook_lists]
    limiter.init_app(app)
    for hooks, existing in zip(hook_lists, before, strict=True):
        hooks[None] = [
            hook if hook in existing else _unless(carries_no_limit, hook)
            for hook in hooks.get(None, [])
        ]


def _unless(skip: Callable[[], bool], hook: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(hook)
    def guarded(*args: Any) -> Any:
        if skip():
            return args[0] if args else None  # an after_request hook hands the response on
        return hook(*args)

    return guarded
