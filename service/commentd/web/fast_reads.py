"""A post's public comments, answered ahead of Flask, the way a static file server would.

Every page view of every blog asks for its post's comments, so this one request is served by
a small WSGI layer in front of the app (the pattern of WhiteNoise for static files): one
indexed lookup of the post's version, then a 304, the cached JSON bytes, or one rebuild
(feed.py). Flask's request machinery and its per-request hooks would cost twice the rest of
the answer. Everything else a response carries is kept: the access line with its request id,
the metrics, CORS for any origin (the same with or without an Origin), `nosniff`, and JSON
errors (400 for a bad slug, 503 when the database is down, never a bare 500).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.http import parse_etags, quote_etag

from commentd.comments.validation import normalize_slug
from commentd.errors import ApiError, error_json
from commentd.web import errors, logs
from commentd.web.cors import EXPOSED_HEADERS
from commentd.web.encoding import check_path
from commentd.web.public import PUBLIC_LIST_CACHE

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from commentd.services import Services

ENDPOINT = "public.list_comments"  # its name in logs and metrics
# The path of API.md's `GET /api/posts/{slug}/comments`; a slug may itself hold slashes.
COMMENTS_PATH = re.compile(r"/api/posts/(?P<slug>.+)/comments")
READ_METHODS = frozenset({"GET", "HEAD"})
NOSNIFF = ("X-Content-Type-Options", "nosniff")
PUBLIC_CORS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", EXPOSED_HEADERS),
)

Headers = list[tuple[str, str]]


class PublicReads:
    """WSGI middleware: answers GET and HEAD of a post's comments; passes all else to `app`."""

    def __init__(self, app: WSGIApplication, services: Services) -> None:
        self.app = app
        self.feed = services.page_cache
        self.sessions = services.read_sessions
        self.metrics = services.metrics

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        # PEP 3333 hands the path over as latin-1; werkzeug decodes it the same way (a path
        # that is not UTF-8 is then answered 400 by _answer).
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        found = COMMENTS_PATH.fullmatch(path) if method in READ_METHODS else None
        if found is None:
            return self.app(environ, start_response)
        started = time.perf_counter()
        request_id = logs.request_id_for(environ.get("HTTP_X_REQUEST_ID"))
        status, headers, body = self._answer(found["slug"], environ)
        # CORS as for every public read (cors.py): the same whatever the Origin, so a cached
        # copy fetched without one still serves a blog page.
        headers += [(logs.REQUEST_ID_HEADER, request_id), NOSNIFF, *PUBLIC_CORS]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        seconds = time.perf_counter() - started
        logs.log_request(request_id, method, path, ENDPOINT, status, len(body), seconds)
        self.metrics.observe(ENDPOINT, method, status, seconds)
        return [] if method == "HEAD" else [body]

    def _answer(self, raw_slug: str, environ: WSGIEnvironment) -> tuple[int, Headers, bytes]:
        try:
            check_path(environ)
            return self._page(normalize_slug(raw_slug), environ.get("HTTP_IF_NONE_MATCH"))
        except ApiError as error:
            return _error(error.status, error.code, error.message)
        except Exception as error:
            status, code, message, extra = errors.unexpected(error)
            status, headers, body = _error(status, code, message)
            return status, [*headers, *extra.items()], body

    def _page(self, slug: str, if_none_match: str | None) -> tuple[int, Headers, bytes]:
        post_id, version = self.feed.current_version(slug)
        etag = self.feed.etag(version)
        cache = [("ETag", quote_etag(etag)), ("Cache-Control", PUBLIC_LIST_CACHE)]
        if if_none_match and parse_etags(if_none_match).contains(etag):
            return 304, cache, b""
        with _LazySession(self.sessions) as session:
            page = self.feed.page(session, slug, post_id, version)
        return 200, [*_json_headers(page.body), *cache], page.body


class _LazySession:
    """A Session opened only if asked for (a cached page needs none), closed afterwards."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._session: Session | None = None

    def __enter__(self) -> Callable[[], Session]:
        return self._open

    def _open(self) -> Session:
        if self._session is None:
            self._session = self._factory()
        return self._session

    def __exit__(self, *_exc: Any) -> None:
        if self._session is None:
            return
        try:
            self._session.close()
        except DBAPIError:
            self._session.invalidate()  # the database went away: drop the dead connection


def _json_headers(body: bytes) -> Headers:
    return [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]


def _error(status: int, code: str, message: str) -> tuple[int, Headers, bytes]:
    body = error_json(code, message)
    return status, _json_headers(body), body
