"""Each post's public comment list as ready JSON bytes, cached under the post's version, and
the whole answer to `GET /api/posts/{slug}/comments` made from it (status, headers, body), which
the `list_comments` view and the PublicReads accelerator both send.

Every change to what the public sees moves `Post.version` (comments.py), so a read costs one
indexed lookup of that version, and then either a 304, the cached bytes, or one rebuild from
one more query (PageCache.thread: no ORM on a public read).
The cache is per process; the version in the database keeps processes and hosts in agreement.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Engine
from sqlalchemy.exc import DBAPIError
from werkzeug.http import parse_etags, quote_etag

from commentd import db
from commentd.comments.public import Thread, public_json, thread, thread_sql
from commentd.models import Comment

EMPTY_VERSION = "0"
# A CDN or browser may reuse a list briefly, and serve a stale one while it revalidates.
PUBLIC_LIST_CACHE = "public, max-age=10, stale-while-revalidate=60"

Headers = list[tuple[str, str]]
# How a representation of a post's list is made: (what the list holds, slug, public_url) ->
# the body.
Builder = Callable[[Thread, str, str], bytes]


@dataclass(frozen=True)
class PublicPage:
    """One representation of a post's public list: the post's version, the ETag (unquoted)
    and the bytes."""

    version: str
    etag: str
    body: bytes


@dataclass(frozen=True)
class Answer:
    """An HTTP answer before the app's common headers (request id, nosniff, CORS) are added."""

    status: int
    headers: Headers
    body: bytes


def json_headers(body: bytes) -> Headers:
    """Content-Type and Content-Length of a JSON `body`."""
    return [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]


def _json_variant(thread: Thread, slug: str, public_url: str) -> bytes:
    """The body of `GET /api/posts/{slug}/comments` (API.md): the list as compact UTF-8."""
    return public_json(thread.page(slug, public_url))


@dataclass(frozen=True)
class Variant:
    """One representation of a post's public list, cached and answered alike: `name` tells it
    apart in the cache and in its ETag ("" for API.md's JSON), `content_type` is what it is,
    `build` makes it."""

    name: str
    content_type: str
    build: Builder


JSON_LIST = Variant("", "application/json", _json_variant)


def _wrapped(dialect: Dialect, sql: str, error: Exception, *, invalidated: bool) -> DBAPIError:
    """A driver error as SQLAlchemy raises it (OperationalError and kin)."""
    wrapped = DBAPIError.instance(
        sql,
        None,
        error,
        dialect.loaded_dbapi.Error,
        dialect=dialect,
        connection_invalidated=invalidated,
    )
    assert isinstance(wrapped, DBAPIError)  # given a driver error, it always is one
    return wrapped


# What one process keeps of cached pages, by their total size: pages weigh from ~1 KB (a few
# comments) to ~60 KB (200), so a bound on their number would not bound the memory. Reading
# 100,000 posts at random and posting, a SQLite worker levelled off at 72.6 MB with 4 MiB
# and 70.3 MB with 2 MiB (2,048 pages of ~3 KB had taken it to 77 MB); 2 MiB still holds
# ~700 pages of a few comments, a blog's front page and recent posts many times over.
CACHE_BYTES = 2 * 1024 * 1024
_CURSOR = "commentd.page_cache.cursor"  # where a pooled connection keeps the reads' cursor


class PageCache:
    """A bounded, thread-safe cache of public pages in front of the database."""

    def __init__(self, engine: Engine, public_url: str, capacity_bytes: int = CACHE_BYTES) -> None:
        """A cache of at most `capacity_bytes` of pages read from `engine`; `public_url` is
        the base of avatar links, and part of every ETag."""
        self.engine = engine
        self.reader = db.make_reader(engine)
        # On PostgreSQL each thread keeps its own connection for these reads.
        self._held = (
            db.ThreadConnections(engine, self.reader) if self.reader is not engine else None
        )
        self.public_url = public_url
        self._placeholder = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._version_sql = f"SELECT id, version FROM posts WHERE slug = {self._placeholder}"
        self._thread_sql = thread_sql(self._placeholder)
        # A stored time as the ORM reads it (models.UTCDateTime over the dialect's own type).
        stored = Comment.__table__.c.created_at.type.dialect_impl(engine.dialect)
        moment = stored.result_processor(engine.dialect, None)
        self._moment: Callable[[Any], Any] = moment or (lambda value: value)
        self.capacity_bytes = capacity_bytes
        self._cached_bytes = 0
        # The base URL is in every avatar link: a changed one must not match old ETags.
        self._url_tag = hashlib.sha256(public_url.encode()).hexdigest()[:6]
        self._pages: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def etag(self, version: str, variant: Variant = JSON_LIST) -> str:
        """The ETag (unquoted) of a post's list at `version` under this public URL, in the
        representation `variant` (each has its own)."""
        if variant.name:
            return f"{version}.{self._url_tag}.{variant.name}"
        return f"{version}.{self._url_tag}"

    def answer(
        self,
        slug: str,
        if_none_match: str | None,
        variant: Variant = JSON_LIST,
    ) -> Answer:
        """The answer to `GET /api/posts/{slug}/comments` (`slug` canonical), or to another
        representation of the same list (`variant`, e.g. comments.html): 304 when
        `if_none_match` names the current ETag, or, for the JSON list, the post's bare version
        (the `data-commentd-version` of a thread fragment: embed.js asks whether the page's
        copy is current), else 200 with the body.

        Raises SQLAlchemy's DBAPIError when the database cannot be read.
        """
        etags = parse_etags(if_none_match) if if_none_match else None
        version = None
        if etags or self._holds(slug, variant):
            version = self.current_version(slug)[1]
            as_fragment = variant is JSON_LIST and version != EMPTY_VERSION
            if etags and (
                etags.contains(self.etag(version, variant))
                or (as_fragment and etags.contains(version))
            ):
                return Answer(304, self._caching(version, variant), b"")
        page = self.page(slug, variant, version=version)
        headers = [("Content-Type", variant.content_type), ("Content-Length", str(len(page.body)))]
        return Answer(200, [*headers, *self._caching(page.version, variant)], page.body)

    def _caching(self, version: str, variant: Variant) -> Headers:
        return [
            ("ETag", quote_etag(self.etag(version, variant))),
            ("Cache-Control", PUBLIC_LIST_CACHE),
        ]

    def current_version(self, slug: str) -> tuple[int | None, str]:
        """The post's id and version: the one indexed lookup of a read whose page is cached
        (or that names a copy it holds)."""
        rows = self._fetch(self._version_sql, (slug,))
        return (int(rows[0][0]), str(rows[0][1])) if rows else (None, EMPTY_VERSION)

    def thread(self, slug: str) -> Thread:
        """What the public list of `slug` holds, with the post's id and version, read in one
        query on the driver (comments.public.thread_sql) and turned into rows without ORM
        objects: a rebuild costs about a quarter of the ORM's (docs/architecture.md)."""
        return thread(self._fetch(self._thread_sql, (slug,)), self._moment)

    def counts(self, slugs: Sequence[str]) -> dict[str, int]:
        """Approved comments per slug, from the count kept on each post (0 for unknown ones)."""
        found: dict[str, int] = {}
        if slugs:
            marks = ", ".join([self._placeholder] * len(slugs))
            sql = f"SELECT slug, approved_count FROM posts WHERE slug IN ({marks})"
            found = {str(slug): int(count) for slug, count in self._fetch(sql, tuple(slugs))}
        return {slug: found.get(slug, 0) for slug in slugs}

    def _fetch(self, sql: str, params: tuple[str | int, ...]) -> list[tuple[Any, ...]]:
        """Rows of one query, on the driver directly.

        Public reads are the most frequent requests, so they skip the ORM and SQLAlchemy's
        statement layer (ten times the cost of the query itself). Errors still surface as
        SQLAlchemy's, so a database that is down is a 503 like anywhere else, and a dead
        connection invalidates the pool as on the ORM's path (db.make_engine).
        """
        if self._held is not None:
            return self._fetch_held(self._held, sql, params)
        dialect = self.reader.dialect
        try:
            connection = self.reader.raw_connection()
        except dialect.loaded_dbapi.Error as error:
            raise _wrapped(dialect, sql, error, invalidated=False) from error
        # On a connection in autocommit (SQLite's): one SELECT, no transaction, nothing to
        # roll back on return to the pool.
        driver_connection = connection.dbapi_connection
        assert driver_connection is not None  # a checked-out connection always has one
        try:
            # One cursor per connection, kept with it for the next read (the pool clears
            # `info` when it drops the connection): making one cost ~4 µs of a ~40 µs read.
            cursor = connection.info.get(_CURSOR)
            if cursor is None or cursor.connection is not driver_connection:
                cursor = connection.info[_CURSOR] = connection.cursor()
            cursor.execute(sql, params)
            return [tuple(row) for row in cursor.fetchall()]
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, driver_connection, None):
                # A restart killed every pooled connection: drop this one, and the pools with
                # it, so the next requests connect afresh instead of each meeting a dead one
                # (as SQLAlchemy's Connection does on a disconnect; test_faults checks it).
                connection.invalidate(error)
                self.engine.dispose()
            raise _wrapped(dialect, sql, error, invalidated=not connection.is_valid) from error
        finally:
            connection.close()

    def _fetch_held(
        self, held: db.ThreadConnections, sql: str, params: tuple[str | int, ...]
    ) -> list[tuple[Any, ...]]:
        """_fetch on PostgreSQL: on this thread's own connection, in autocommit (one SELECT,
        no transaction; db.ThreadConnections)."""
        dialect = self.reader.dialect
        try:
            connection, lock = held.take()
            locked = True
        except dialect.loaded_dbapi.Error as error:
            raise _wrapped(dialect, sql, error, invalidated=False) from error
        try:
            cursor = connection.cursor
            cursor.execute(sql, params)
            return cursor.fetchall()  # type: ignore[no-any-return]  # tuples (psycopg's rows)
        except dialect.loaded_dbapi.Error as error:
            invalidated = dialect.is_disconnect(error, connection.connection, None)
            if invalidated:
                # A restart killed every connection: this thread's is closed, every other
                # thread's retired, and the ORM's pool dropped with them (which retires them
                # too), so the next requests connect afresh instead of each meeting a dead one
                # (as SQLAlchemy's Connection does on a disconnect; test_faults checks it).
                lock.release()
                locked = False
                held.forget()
                self.engine.dispose()
            raise _wrapped(dialect, sql, error, invalidated=invalidated) from error
        except BaseException:
            # Interrupted half-way (a signal, a bug): the connection's state is unknown, so
            # it is not used again.
            lock.release()
            locked = False
            held.forget()
            raise
        finally:
            if locked:
                lock.release()

    def _key(self, slug: str, variant: Variant) -> str:
        return f"{slug}\0{variant.name}" if variant.name else slug  # a slug holds no NUL

    def _holds(self, slug: str, variant: Variant) -> bool:
        with self._lock:
            return self._key(slug, variant) in self._pages

    def page(
        self, slug: str, variant: Variant = JSON_LIST, *, version: str | None = None
    ) -> PublicPage:
        """The cached page if it is of the post's current version (`version`, or looked up);
        else one query (thread()) and a rebuild: a post not cached costs that one query.
        Every variant of every post shares the one byte budget."""
        key = self._key(slug, variant)
        with self._lock:
            cached = self._pages.get(key)
        if cached is not None:
            if version is None:
                version = self.current_version(slug)[1]
            if cached[0] == version:
                with self._lock:
                    if key in self._pages:
                        self._pages.move_to_end(key)
                return PublicPage(version, self.etag(version, variant), cached[1])
        read = self.thread(slug)
        version = read.version if read.version is not None else EMPTY_VERSION
        body = variant.build(read, slug, self.public_url)
        with self._lock:
            replaced = self._pages.pop(key, None)
            if replaced is not None:
                self._cached_bytes -= len(replaced[1])
            self._pages[key] = (version, body)
            self._cached_bytes += len(body)
            while self._cached_bytes > self.capacity_bytes and len(self._pages) > 1:
                _slug, (_version, evicted) = self._pages.popitem(last=False)
                self._cached_bytes -= len(evicted)
        return PublicPage(version, self.etag(version, variant), body)
