"""The app's rate limits, through flask-limiter.

Every limit is flask-limiter's, counted by limits' moving window in the storage of
COMMENTD_RATELIMIT_STORAGE_URI: commentd's in-process counters or the counters file the
processes of one host share (counters.py), or Redis. The moving window keeps each hit's moment
for its window, so "5 per minute" is never a sixth comment within any 60 seconds and the
interval (COMMENTD_MIN_POST_INTERVAL) is exact: limits' sliding-window counter, used before,
let a second comment through moments after one that came just before its window's boundary. No
route carries a limit. Each limit sits on a function of `RateLimits`, decorated with
`limiter.shared_limit` and no `deduct_when`, that a view calls once the request is known to be
valid: calling it is one hit, a test-and-count that is atomic in the storage (limits' Lua
script on Redis, the counters' lock in-process), so concurrent requests can never pass a limit
between its check and its count. A full limit counts nothing and raises RateLimited (429).

A comment takes several limits, one hit each, in the order of `RateLimits.posting`: from what
is the sender's alone to what everyone shares (its email's interval and rate, its address's
interval and rate, the post, the whole site; within one function flask-limiter goes from the
shortest window to the longest). A refused comment has counted once in each limit before the
full one and in none after it: what one sender's own limits refuse never uses up the
address's, the post's or the site's allowance. Invalid or refused comments (fields, closed
post, parent) reach no limit at all (comments.submit's `admit`).

Keys never hold an address or an email: every key function answers a keyed hash (keys.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

from flask import Flask, g, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import RateLimitItem, parse_many
from limits.storage import RedisClusterStorage, RedisSentinelStorage, RedisStorage, Storage
from limits.strategies import STRATEGIES

from commentd.config import ConfigError, Settings
from commentd.errors import RateLimited
from commentd.keys import client_network, keyed_hash
from commentd.web import counters

# The moving window: exact; the in-process counters and the file serve it, and on Redis it is
# one Lua call.
LIMIT_STRATEGY = "moving-window"
# The shared storages whose hit is one atomic step (limits' Lua script).
REDIS_SCHEMES = frozenset(
    scheme
    for storage in (RedisStorage, RedisClusterStorage, RedisSentinelStorage)
    for scheme in storage.STORAGE_SCHEME or ()
)
# Seconds to wait for Redis (to connect, and for each answer) before calling it down: then
# flask-limiter counts in-process meanwhile. Without them a Redis that took connections and
# answered nothing (stopped, a paused VM) held every post until it woke.
STORAGE_TIMEOUT = 3
STORAGE_URI_ERROR = (
    "COMMENTD_RATELIMIT_STORAGE_URI must be memory:// or a Redis URL "
    "(redis://, rediss://, redis+sentinel://, redis+cluster://)"
)


# limits' own Lua script for one moving-window hit (its KEYS: the window's list of moments;
# ARGV: now, limit, window in seconds, amount), run for each limit in turn inside one script: a
# comment's limits in one round trip, and atomic together as each is alone. The wrapper only
# loops; the counting is limits' text, read from the installed package.
_ACQUIRE_MANY = """
local function acquire(KEYS, ARGV)
{acquire_one}
end
local now = ARGV[1]
for i = 1, #KEYS do
    if not acquire({{KEYS[i]}}, {{now, ARGV[2 * i], ARGV[2 * i + 1], 1}}) then
        return i
    end
end
return 0
"""


class RedisMovingWindows:
    """counters.MovingWindows on limits' Redis storage: a comment's limits in one round trip
    (one Lua script, where hitting them one by one took one round trip each). The keys are
    the ones limits' own `acquire_entry` uses, so its other calls (the wait of a 429, clearing
    an erased address's windows) read and clear the same windows."""

    def __init__(self, storage: RedisStorage) -> None:
        self._storage = storage
        acquire_one = storage.SCRIPT_ACQUIRE_MOVING_WINDOW  # bytes: limits' package data
        self._script = storage.get_connection().register_script(
            _ACQUIRE_MANY.format(acquire_one=acquire_one.decode()).encode()
        )

    def acquire_entries(self, entries: Sequence[counters.Entry]) -> int | None:
        """See counters.MovingWindows."""
        keys: list[str] = []
        arguments: list[float] = [time.time()]  # limits' own hit takes its moment so too
        for key, limit, expiry in entries:
            keys.append(self._storage.prefixed_key(key))
            arguments += (limit, expiry)
        refused = int(self._script(keys, arguments))
        return refused - 1 if refused else None


def moving_windows(storage: object) -> counters.MovingWindows | None:
    """The storage's way to take several moving-window hits in one step, if it has one:
    commentd's counters (in-process or the shared file), Redis and Redis Sentinel. None for
    Redis Cluster, where one script cannot reach the keys of several limits."""
    if isinstance(storage, counters.InProcessCounters | counters.FileCounters):
        return storage
    if isinstance(storage, RedisStorage) and not isinstance(storage, RedisClusterStorage):
        return RedisMovingWindows(storage)
    return None


def storage_errors(*storages: Storage | None) -> tuple[type[Exception], ...]:
    """The exceptions a failing storage among `storages` raises (limits' `base_exceptions`),
    and OSError."""
    errors: list[type[Exception]] = [OSError]
    for storage in storages:
        if storage is not None:
            base = storage.base_exceptions
            errors += base if isinstance(base, tuple) else (base,)
    return tuple(errors)


def seconds(n: int) -> str:
    """`n` seconds in words: "1 second", "5 seconds"."""
    return "1 second" if n == 1 else f"{n} seconds"


def client_address_key() -> str:
    """The client's address (IPv6 by its /64); ProxyFix has already applied trusted proxies."""
    return client_network(request.remote_addr)


def limit_key(secret: str, what: str, value: str) -> str:
    """What a limit counts (`what`: "address", "sender", "post"), as a keyed hash of `value`
    with the site secret: the only form in which a limiter key may hold it."""
    return keyed_hash(secret, "limit", f"{what}\0{value}")


# flask-limiter calls a limit's key function with no arguments, so the keys of the request's
# sender and post travel on `g`, set by RateLimits.take_posting just before the hits.
def sender_limit_key() -> str:
    """The sender's key, set by `RateLimits.take_posting` (never the email itself)."""
    return str(g.limit_sender)


def post_limit_key() -> str:
    """The post's key, set by `RateLimits.take_posting`."""
    return str(g.limit_post)


def privacy_limit_key() -> str:
    """The address a data request is about, set by `RateLimits.take_privacy` (keyed-hashed)."""
    return str(g.limit_privacy)


def whole_site_key() -> str:
    """The one key of the whole-site limit."""
    return "site"


# The key function of each posting scope (None: the client network's, the default).
POSTING_KEYS: dict[str, Callable[[], str] | None] = {
    "sender": sender_limit_key,
    "sender-interval": sender_limit_key,
    "address": None,
    "address-interval": None,
    "post": post_limit_key,
    "site": whole_site_key,
}


def min_interval_limit(settings: Settings) -> str:
    """WordPress's flood check as a limit: one comment per interval; "" (no limit) when 0."""
    seconds = settings.min_post_interval
    return f"1 per {seconds} second" if seconds else ""


def storage_options(storage_uri: str) -> dict[str, float]:
    """The client options of a rate-limit storage: Redis's timeouts (STORAGE_TIMEOUT), but on
    Redis Cluster, whose client takes them per node."""
    scheme = storage_uri.partition("://")[0]
    if scheme not in REDIS_SCHEMES or "cluster" in scheme:
        return {}
    return {"socket_connect_timeout": STORAGE_TIMEOUT, "socket_timeout": STORAGE_TIMEOUT}


def limiter_config(settings: Settings) -> dict[str, object]:
    """flask-limiter's part of the app's config (the benchmark's posting floor uses it too).

    Raises ConfigError for a storage other than memory:// or Redis: only those count a hit in
    one atomic step.
    """
    storage_uri = settings.ratelimit_storage_uri
    scheme = storage_uri.partition("://")[0]
    if storage_uri.startswith("memory://"):  # commentd's own in-process counters
        storage_uri = storage_uri.replace("memory://", f"{counters.SCHEME}://", 1)
    elif scheme != counters.FILE_SCHEME and scheme not in REDIS_SCHEMES:
        raise ConfigError(STORAGE_URI_ERROR)
    return {
        "RATELIMIT_STORAGE_URI": storage_uri,
        "RATELIMIT_STORAGE_OPTIONS": storage_options(storage_uri),
        "RATELIMIT_KEY_PREFIX": settings.ratelimit_key_prefix,
        # No X-RateLimit-* headers: nothing reads them, and on Redis each costs a round trip
        # per post. A 429 still says when to try again (Retry-After).
        "RATELIMIT_HEADERS_ENABLED": False,
        # Off here: flask-limiter's own fallback is a MemoryStorage, whose sweep starts a
        # thread in gunicorn's master. RateLimits installs commentd's (_fall_back_in_process).
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": False,
        "RATELIMIT_SWALLOW_ERRORS": True,
    }


class RateLimits:
    """commentd's limits on one app, through one flask-limiter `Limiter` of its own.

    Each limit function below counts one hit on its limits when called (429 when one is full);
    `take` calls several in order and turns flask-limiter's refusal into RateLimited.
    """

    def __init__(self, app: Flask, settings: Settings, secret: str) -> None:
        """Bind the limits of `settings` to `app`, whose config already holds limiter_config's
        part; keys are hashed with `secret`."""
        self.secret = secret
        self.limiter = Limiter(key_func=self.address_key, strategy=LIMIT_STRATEGY)
        self._init_without_request_hooks(app)
        if not isinstance(self.limiter.storage, counters.InProcessCounters):
            self._fall_back_in_process()

        limit = self.limiter.shared_limit
        interval = min_interval_limit(settings)

        # flask-limiter hits the limits of one function by their unit of time, seconds before
        # minutes before days, and where units tie in the order the decorators are applied
        # (the nearest the function first): so each interval (seconds, nearest) is hit before
        # the rates, also a rate in seconds.
        @limit(settings.email_rate_limit, scope="sender", key_func=sender_limit_key)
        @limit(interval, scope="sender-interval", key_func=sender_limit_key)
        def sender() -> None:
            """One email (as typed, or as proven): COMMENTD_MIN_POST_INTERVAL and
            COMMENTD_EMAIL_RATE_LIMIT."""

        @limit(settings.post_rate_limit, scope="address")
        @limit(interval, scope="address-interval")
        def address() -> None:
            """One client network: COMMENTD_MIN_POST_INTERVAL and COMMENTD_POST_RATE_LIMIT."""

        @limit(settings.slug_rate_limit, scope="post", key_func=post_limit_key)
        def post() -> None:
            """COMMENTD_SLUG_RATE_LIMIT."""

        @limit(settings.site_rate_limit, scope="site", key_func=whole_site_key)
        def site() -> None:
            """COMMENTD_SITE_RATE_LIMIT."""

        @limit(settings.auth_failure_limit, scope="auth-failure")
        def auth_failure() -> None:
            """COMMENTD_AUTH_FAILURE_LIMIT: wrong bearer tokens from one client network, one
            count for every route that takes one."""

        @limit(settings.privacy_client_rate_limit, scope="privacy-client")
        def privacy_client() -> None:
            """COMMENTD_PRIVACY_CLIENT_RATE_LIMIT: data requests from one client network."""

        @limit(settings.privacy_rate_limit, scope="privacy-address", key_func=privacy_limit_key)
        def privacy_address() -> None:
            """COMMENTD_PRIVACY_RATE_LIMIT: data requests about one email address."""

        @limit(settings.review_rate_limit, scope="review")
        def review() -> None:
            """COMMENTD_REVIEW_RATE_LIMIT: requests to review caught spam from one client
            network."""

        # The same hits as `posting`, resolved once: (limit, scope, key function) in the order
        # flask-limiter takes them: function by function; within one, sorted by their unit of
        # time (limits compares a limit's granularity only), and in the order the decorators
        # were applied (the interval's first, the one nearest the function) where that ties.
        # Declared rate first, a rate in seconds ("3 per 4 second") came before the interval
        # here and after it on flask-limiter's path, and each comment the interval refused
        # used up the rate.
        self.posting_hits: tuple[tuple[RateLimitItem, str, Callable[[], str]], ...] = tuple(
            (item, scope, key)
            for declared in (
                ((interval, "sender-interval"), (settings.email_rate_limit, "sender")),
                ((interval, "address-interval"), (settings.post_rate_limit, "address")),
                ((settings.slug_rate_limit, "post"),),
                ((settings.site_rate_limit, "site"),),
            )
            for item, scope in sorted(
                ((item, scope) for text, scope in declared if text for item in parse_many(text)),
                key=lambda pair: pair[0],
            )
            for key in (POSTING_KEYS[scope] or self.address_key,)
        )
        self.privacy_client, self.privacy_address = privacy_client, privacy_address
        self.review = review
        self._moving_windows = moving_windows(self.limiter.storage)
        # What the storages raise when they fail (Redis's errors on Redis, so that the redis
        # package is imported only where Redis is used: 4 MB of every process on SQLite).
        fallback = self.limiter._fallback_limiter
        self._storage_errors = storage_errors(
            self.limiter.storage, fallback.storage if fallback is not None else None
        )
        # Every limit whose key is made of an email address: what erasing the address clears
        # (scope, rate limit, what the key hashes); see forget_address.
        self.address_limits = (
            ("sender", settings.email_rate_limit, "sender"),
            ("sender-interval", interval, "sender"),
            ("privacy-address", settings.privacy_rate_limit, "privacy"),
        )
        self.key_prefix = settings.ratelimit_key_prefix
        self.sender, self.address, self.post, self.site = sender, address, post, site
        self.auth_failure = auth_failure
        # The order of a comment's hits: from the sender's own limits to the shared ones.
        self.posting: tuple[Callable[[], None], ...] = (sender, address, post, site)

    def key(self, what: str, value: str) -> str:
        """limit_key with this app's secret."""
        return limit_key(self.secret, what, value)

    def address_key(self) -> str:
        """The client network's key (the default key function), computed once per request."""
        if "limit_address" not in g:
            g.limit_address = self.key("address", client_address_key())
        return str(g.limit_address)

    def take_posting(self, slug: str, sender: str) -> None:
        """One hit on every posting limit, in `posting` order, for a comment to `slug` from
        `sender` (its email key, with whether it is proven); RateLimited at the first full one.
        """
        g.limit_sender = self.key("sender", sender)
        g.limit_post = self.key("post", slug)
        if self.limiter.limiter is not self.limiter._limiter:
            # On flask-limiter's fallback while the storage is down: its own path, which is
            # also where it looks (1 s, 2 s, 4 s... apart) whether the storage is back and
            # returns to it. Posting never looked, and stayed on per-process counters after
            # Redis returned.
            self.take(self.posting)
            return
        try:
            breached = self._hit_posting()
        except Exception:  # the storage failed: flask-limiter's own path decides (falls
            # back to in-process counters while the storage is down, and says so in the log).
            self.take(self.posting)
            return
        if breached is not None:
            item, identifiers = breached
            wait = self._wait(item, identifiers)
            raise RateLimited(
                f"Too many at once: please wait {seconds(wait)} and try again.", retry_after=wait
            )

    def _hit_posting(self) -> tuple[RateLimitItem, tuple[str, ...]] | None:
        """The posting hits with flask-limiter's strategy, storage and keys, without resolving
        each function's limits again on every call (a quarter of a post's CPU, profiled): the
        first full limit and its identifiers, or None when every one counted. Taken in one
        step of the storage (`moving_windows`) where it has one; never on flask-limiter's
        fallback (take_posting)."""
        prefix = (self.key_prefix,) if self.key_prefix else ()
        if self._moving_windows is not None:
            hits = [(item, (*prefix, key(), scope)) for item, scope, key in self.posting_hits]
            refused = self._moving_windows.acquire_entries(
                [
                    (item.key_for(*identifiers), item.amount, item.get_expiry())
                    for item, identifiers in hits
                ]
            )
            return None if refused is None else hits[refused]
        strategy = self.limiter.limiter  # Redis Cluster: one hit (one round trip) per limit
        batch = getattr(self.limiter.storage, "batch", None)
        with batch() if batch is not None else nullcontext():
            for item, scope, key in self.posting_hits:
                identifiers = (*prefix, key(), scope)
                if not strategy.hit(item, *identifiers):
                    return item, identifiers
        return None

    def _wait(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> int:
        """seconds_until_allowed for a limit found full by `_hit_posting`."""
        try:
            reset = self.limiter.limiter.get_window_stats(item, *identifiers).reset_time
        except Exception:  # the storage failed since it refused: the longest wait
            return item.get_expiry()
        return min(item.get_expiry(), max(1, math.ceil(reset - time.time())))

    def take_privacy(self, email_key: str) -> bool:
        """A data request about `email_key` (lower case): one hit on the client's limit
        (RateLimited, 429, when full), then one on the address's. False when the address's
        is full: the request is answered alike and mails nothing (a 429 there would tell a
        stranger that someone asked about that address)."""
        self.take((self.privacy_client,))
        g.limit_privacy = self.key("privacy", email_key)
        try:
            self.privacy_address()
        except RateLimitExceeded:
            return False
        return True

    def forget_address(self, email_key: str) -> None:
        """Clear every counter whose key is made of the address `email_key` (its comments'
        sender limits, typed and proven, and its data requests): after an erasure the
        rate-limit storage holds nothing derived from it, in memory or in Redis."""
        for scope, rate_limit, what in self.address_limits:
            if not rate_limit:
                continue
            values = (
                [f"typed\0{email_key}", f"proven\0{email_key}"] if what == "sender" else [email_key]
            )
            # The identifiers as the hits made them: an empty prefix is left out, as
            # flask-limiter and _hit_posting leave it out (`LIMITER//…` is no key of theirs).
            prefix = (self.key_prefix,) if self.key_prefix else ()
            for value in values:
                key = self.key(what, value)
                for item in parse_many(rate_limit):
                    self._clear(item, *prefix, key, scope)

    def _clear(self, item: RateLimitItem, *identifiers: str) -> None:
        # The storage's own strategy, not `limiter.limiter`: while flask-limiter counts on its
        # fallback, Redis may well answer again (a moment's refusal, not yet looked at) and
        # still hold the counters of the comments before.
        for strategy in (self.limiter._limiter, self.limiter._fallback_limiter):
            if strategy is None:
                continue
            try:
                strategy.clear(item, *identifiers)
            except self._storage_errors:
                # The storage is down: its counters expire with their windows (at most a day).
                continue

    def take(self, hits: Sequence[Callable[[], None]]) -> None:
        """Call each limit function in order: RateLimited (429 with a Retry-After in whole
        seconds) at the first whose limit is full; the ones before it have counted."""
        # One lock (in-process) or one transaction (the shared file) for all the hits.
        batch = getattr(self.limiter.storage, "batch", None)
        try:
            try:
                with batch() if batch is not None else nullcontext():
                    for hit in hits:
                        hit()
            except RateLimitExceeded:
                raise
            except Exception:
                if batch is None:
                    raise
                # The batch itself failed (the storage): hit one by one, where flask-limiter's
                # own handling of a failing storage decides.
                for hit in hits:
                    hit()
        except RateLimitExceeded:
            wait = self.seconds_until_allowed()
            raise RateLimited(
                f"Too many at once: please wait {seconds(wait)} and try again.", retry_after=wait
            ) from None

    def seconds_until_allowed(self) -> int:
        """Until the limit this request found full lets one more in (the oldest hit inside its
        moving window leaves it), in whole seconds, at least 1 and at most the limit's window
        (flask-limiter's own `reset_at` adds a second, which made 61 of a 60 s window)."""
        breached = self.limiter.current_limit
        if breached is None:  # not reached: the refusal always names its limit
            return 60
        window = breached.limit.get_expiry()
        try:
            wait = breached.window.reset_time - time.time()
        except self._storage_errors:  # the storage failed since it refused: the longest wait
            return window
        return min(window, max(1, math.ceil(wait)))

    def _init_without_request_hooks(self, app: Flask) -> None:
        """Bind the limiter to the app, without the hooks it adds to every request.

        flask-limiter checks limits declared on routes before each request, and writes
        headers and conditional deductions after it. commentd declares no limit on a route,
        no `deduct_when` and no headers, so those hooks would find nothing to do, at a cost
        (~45 µs) larger than the rest of a cached public read. flask-limiter 4 has no switch
        for them (3.x's `auto_check=False` also stopped decorated functions), so the hooks it
        registers here are taken out again. Its per-request state lives on the request
        context and goes with it.
        """
        hook_lists: tuple[dict[str | None, list[Any]], ...] = (
            app.before_request_funcs,
            app.after_request_funcs,
            app.teardown_request_funcs,
        )
        before = [list(hooks.get(None, ())) for hooks in hook_lists]
        self.limiter.init_app(app)
        for hooks, existing in zip(hook_lists, before, strict=True):
            hooks[None] = [hook for hook in hooks.get(None, []) if hook in existing]

    def _fall_back_in_process(self) -> None:
        """A storage outside the process (Redis, the counters file `commentd serve`'s processes
        share) that fails must neither stop posting nor lift the limits: flask-limiter's
        fallback counts in-process meanwhile, in commentd's counters (one lock, no sweep
        thread), and logs "falling back to in-memory storage". Without it, its swallowed
        errors (RATELIMIT_SWALLOW_ERRORS) let every hit through.

        Set on the limiter's own fields, as its `__configure_fallbacks` sets them, because the
        MemoryStorage that one builds starts a thread before gunicorn forks (limiter_config).
        """
        self.limiter._in_memory_fallback_enabled = True
        self.limiter._fallback_storage = counters.InProcessCounters()
        self.limiter._fallback_limiter = STRATEGIES[LIMIT_STRATEGY](self.limiter._fallback_storage)
