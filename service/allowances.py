"""Rate limits as allowances: every limit of a request taken at once, or none of them.

A request that a limit governs names its claims (a limit, a scope and the keyed hash of who or
what it counts: a client network, an email, a post, the whole site) once it is known to be
valid, and `Allowances.take` tests and consumes them in one atomic step of the storage: on
Redis one Lua script over every claim's keys; in-process, one lock. Either every claim fits
and each is counted, or none is counted and the answer is 429 with the wait for the claim that
did not fit. So concurrent requests can never pass a limit between its check and its count,
and a refused request uses up nothing.

The counting is limits' sliding-window counter, with its key layout and window arithmetic;
only the "all at once" step is commentd's (neither limits nor flask-limiter offers it). Keys
never hold a client address or an email: callers pass keyed hashes (`claim`, keys.py).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.errors import ConfigurationError, StorageError
from limits.storage import (
    RedisClusterStorage,
    RedisSentinelStorage,
    RedisStorage,
    storage_from_string,
)
from redis import RedisError

from .config import ConfigError
from .counters import SCHEME, Breach, InProcessCounters, Window
from .errors import RateLimited
from .keys import keyed_hash

log = logging.getLogger(__name__)

# How long a shared storage that failed is left alone before it is tried again (seconds).
STORAGE_RETRY_SECONDS = 5.0
REDIS_SCHEMES = frozenset(
    scheme
    for storage in (RedisStorage, RedisClusterStorage, RedisSentinelStorage)
    for scheme in storage.STORAGE_SCHEME or ()
)
FALLBACK_WARNING = "Rate limit storage unreachable - falling back to in-memory storage"

# limits' acquire_sliding_window.lua, over several limits: every window is shifted and weighed
# first, and only if all fit is each counted. KEYS: (previous, current) per limit; ARGV:
# (limit, expiry seconds) per limit. Answers {} when counted, else {n, previous count,
# previous ttl ms, current count, current ttl ms, ...} for every n-th limit (1-based) that is full.
ACQUIRE_ALL = """
local n = #KEYS / 2
local full = {}
for i = 1, n do
    local previous_key, current_key = KEYS[2 * i - 1], KEYS[2 * i]
    local limit = tonumber(ARGV[2 * i - 1])
    local expiry = tonumber(ARGV[2 * i]) * 1000
    local current_ttl = tonumber(redis.call('pttl', current_key))
    if current_ttl > 0 and current_ttl < expiry then
        redis.call('rename', current_key, previous_key)
        redis.call('set', current_key, 0, 'PX', current_ttl + expiry)
    end
    local previous_count = tonumber(redis.call('get', previous_key)) or 0
    local previous_ttl = math.max(tonumber(redis.call('pttl', previous_key)) or 0, 0)
    local current_count = tonumber(redis.call('get', current_key)) or 0
    current_ttl = math.max(tonumber(redis.call('pttl', current_key)) or 0, 0)
    if math.floor(previous_count * previous_ttl / expiry) + current_count + 1 > limit then
        for _, value in ipairs({i, previous_count, previous_ttl, current_count, current_ttl}) do
            table.insert(full, value)
        end
    end
end
if #full > 0 then
    return full
end
for i = 1, n do
    local current_key = KEYS[2 * i]
    if redis.call('exists', current_key) == 1 then
        redis.call('incrby', current_key, 1)
    else
        redis.call('set', current_key, 1, 'PX', tonumber(ARGV[2 * i]) * 2000)
    end
end
return {}
"""


@dataclass(frozen=True)
class Claim:
    """One limit on one counted thing: `key` is already a keyed hash, never a raw value."""

    item: RateLimitItem
    scope: str
    key: str

    def storage_key(self, prefix: str) -> str:
        return self.item.key_for(prefix, self.scope, self.key)


def claims(limits: str, scope: str, secret: str, value: str) -> list[Claim]:
    """The claims of a limit string ("5 per minute;50 per day", "" for none) on `value`, which
    is keyed-hashed here with the site secret (so it may be an address or an email)."""
    if not limits:
        return []
    key = keyed_hash(secret, "limit", f"{scope}\0{value}")
    return [Claim(item, scope, key) for item in parse_many(limits)]


def seconds_until_allowed(expiry: int, window: Window) -> int:
    """A 429's Retry-After in whole seconds (at least 1): limits' estimate of when the sliding
    window that was full lets one more in (as its `get_window_stats` computes the reset)."""
    waits = []
    if window.previous_count:
        waits.append(window.previous_ttl % (expiry / window.previous_count))
    if window.current_count:
        waits.append(window.current_ttl % expiry)
    return max(1, math.ceil(min(waits, default=expiry)))


class RedisStore:
    """The claims on Redis (or Sentinel, Cluster, Valkey): one Lua script, atomic."""

    def __init__(self, storage: RedisStorage) -> None:
        self.storage = storage
        self._acquire = storage.get_connection().register_script(ACQUIRE_ALL.encode())

    def acquire_all(self, entries: Sequence[tuple[str, int, int]]) -> None:
        keys: list[str] = []
        arguments: list[int] = []
        for key, limit, expiry in entries:
            # limits' own names for a sliding window: "{key}/-1" (previous) and "{key}"; the
            # braces keep both on one Cluster node.
            keys += [
                self.storage.prefixed_key(f"{{{key}}}/-1"),
                self.storage.prefixed_key(f"{{{key}}}"),
            ]
            arguments += [limit, expiry]
        answer = [int(value) for value in self._acquire(keys, arguments)]
        if answer:
            raise Breach(
                [
                    (number - 1, Window(previous, previous_ms / 1000, current, current_ms / 1000))
                    for number, previous, previous_ms, current, current_ms in zip(
                        *[iter(answer)] * 5, strict=True
                    )
                ]
            )


class Allowances:
    """The service's rate limits; `take` is the only way a limit is checked or counted.

    With a shared storage (Redis) that stops answering, limits are kept per process meanwhile
    (logged once), and the storage is tried again every STORAGE_RETRY_SECONDS.
    """

    def __init__(self, storage_uri: str, prefix: str) -> None:
        self.prefix = prefix
        self.memory = InProcessCounters()
        self.shared: RedisStore | None = None
        if not storage_uri.startswith(("memory://", f"{SCHEME}://")):
            storage = None
            if storage_uri.partition("://")[0] in REDIS_SCHEMES:
                with contextlib.suppress(ConfigurationError):  # its client is not installed
                    storage = storage_from_string(storage_uri)
            if not isinstance(storage, RedisStorage):
                raise ConfigError(
                    "COMMENTD_RATELIMIT_STORAGE_URI must be memory:// or a Redis URL "
                    "(redis://, rediss://, redis+sentinel://, redis+cluster://)"
                )
            self.shared = RedisStore(storage)
        self._lock = threading.Lock()
        self._shared_down_until = 0.0

    def take(self, wanted: Sequence[Claim]) -> None:
        """Count every claim, or none: RateLimited (429, with a whole-second Retry-After) when
        one does not fit."""
        if not wanted:
            return
        entries = [(c.storage_key(self.prefix), c.item.amount, c.item.get_expiry()) for c in wanted]
        try:
            self._acquire_all(entries)
        except Breach as breach:
            # The longest wait: retrying sooner would only meet another full limit.
            wait = max(
                seconds_until_allowed(wanted[index].item.get_expiry(), window)
                for index, window in breach.full
            )
            raise RateLimited(
                f"Too many at once: please wait {wait} seconds and try again.", retry_after=wait
            ) from None

    def _acquire_all(self, entries: Sequence[tuple[str, int, int]]) -> None:
        if self.shared is None or time.monotonic() < self._shared_down_until:
            self.memory.acquire_all(entries)
            return
        try:
            self.shared.acquire_all(entries)
        except (RedisError, StorageError, OSError):
            self._shared_failed()
            self.memory.acquire_all(entries)
            return
        if self._shared_down_until:
            self._shared_recovered()

    def _shared_failed(self) -> None:
        with self._lock:
            first = not self._shared_down_until
            self._shared_down_until = time.monotonic() + STORAGE_RETRY_SECONDS
        if first:
            log.warning(FALLBACK_WARNING)

    def _shared_recovered(self) -> None:
        with self._lock:
            recovered, self._shared_down_until = bool(self._shared_down_until), 0.0
        if recovered:
            log.info("Rate limit storage recovered")
