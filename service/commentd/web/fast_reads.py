"""An optional accelerator for the most frequent request: a post's comments (as JSON, or as the
HTML fragment of comments.html), ahead of Flask.

Every page view of every blog asks for its post's comments. The `list_comments` view answers
that request completely; this WSGI layer in front of the app (the pattern of WhiteNoise for
static files) sends the very same answer, made by the same function (PageCache.answer), without
Flask's request machinery and per-request hooks, which cost about as much again as the rest of
a cached answer. What the app's hooks add to that answer is added here too, and a test
(tests/api/test_fast_reads.py) sends the same requests through both paths and compares the bytes:
the access line with its request id, the metrics, CORS for any origin (the same with or without
an Origin), `nosniff`, and the JSON errors (400 for a bad slug or a URL that is not UTF-8, 503
when the database is down, never a bare 500). Anything else goes on to the app.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from commentd.comments.validation import normalize_slug
from commentd.errors import ApiError, error_json
from commentd.web import errors, logs, no_script
from commentd.web.cors import EXPOSED_HEADERS
from commentd.web.encoding import check_path, check_query
from commentd.web.page_cache import CACHE_BYTES, JSON_LIST, Answer, json_headers

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from commentd.web.services import Services

ENDPOINT = "public.list_comments"  # the view's endpoint: its name in logs and metrics
FRAGMENT_ENDPOINT = "public.thread_fragment"  # and comments.html's
# The path of API.md's `GET /api/posts/{slug}/comments` and of its HTML fragment
# (`…/comments.html`); a slug may itself hold slashes.
COMMENTS_PATH = re.compile(r"/api/posts/(?P<slug>.+)/comments(?P<html>\.html)?")
READ_METHODS = frozenset({"GET", "HEAD"})
NOSNIFF = ("X-Content-Type-Options", "nosniff")
# A body between these sizes is handed to the server as a file (wsgi.file_wrapper) over the
# page cache's bytes, which it keeps: waitress then sends it from them, neither copied for
# each connection until its client has read it all nor spilled to a temporary file past 1 MB
# (a full TMPDIR cut such answers short, 200s with half a thread). A larger body would push
# the rest of the cache out and be rebuilt for each request, each connection pinning its own
# copy (a red team reached 1.5 GB with 100 slow readers): it goes the usual way, written
# whole to a temporary file before it is sent (web/spooling.py), memory bounded.
SHARED_BODY_BYTES = 64 * 1024
SHARED_BODY_MAX_BYTES = CACHE_BYTES
PUBLIC_CORS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", EXPOSED_HEADERS),
)


class PublicReads:
    """WSGI middleware: answers GET and HEAD of a post's comments; passes all else to `app`."""

    def __init__(self, app: WSGIApplication, services: Services) -> None:
        """In front of `app` (the Flask app's wsgi_app), with that app's `services`."""
        self.app = app
        self.page_cache = services.page_cache
        self.settings = services.settings
        self.metrics = services.metrics

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer a post's comments as `list_comments` would; else call the app."""
        method = environ.get("REQUEST_METHOD", "")
        # PEP 3333 hands the path over as latin-1; werkzeug decodes it the same way (a path
        # that is not UTF-8 is then answered 400 by _answer).
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        found = COMMENTS_PATH.fullmatch(path) if method in READ_METHODS else None
        if found is None:
            return self.app(environ, start_response)
        started = time.perf_counter()
        request_id = logs.request_id_for(environ.get("HTTP_X_REQUEST_ID"))
        html = found["html"] is not None
        endpoint = FRAGMENT_ENDPOINT if html else ENDPOINT
        with logs.answering_as(request_id):
            answer = self._answer(found["slug"], environ, html=html)
        # CORS as for every public read (cors.py): the same whatever the Origin, so a cached
        # copy fetched without one still serves a blog page.
        headers = [*answer.headers, (logs.REQUEST_ID_HEADER, request_id), NOSNIFF, *PUBLIC_CORS]
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", headers)
        seconds = time.perf_counter() - started
        size = len(answer.body)
        logs.log_request(request_id, method, path, endpoint, answer.status, size, seconds)
        self.metrics.observe(endpoint, method, answer.status, seconds)
        if method == "HEAD":
            return []
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None and SHARED_BODY_BYTES < len(answer.body) <= SHARED_BODY_MAX_BYTES:
            # Sent a chunk at a time from the page cache's own bytes (a BytesIO shares them).
            return wrapper(io.BytesIO(answer.body))  # type: ignore[no-any-return]
        return [answer.body]

    def _answer(self, raw_slug: str, environ: WSGIEnvironment, *, html: bool) -> Answer:
        """What the app answers: its encoding checks, then the view (`list_comments`, or
        `thread_fragment` for comments.html), then its error handlers."""
        try:
            check_path(environ)
            check_query(environ)
            variant = JSON_LIST
            extra_header: tuple[str, str] | None = None
            if html:
                variant, extra_header = no_script.fragment_read(self.settings, _first_lang(environ))
            answer = self.page_cache.answer(
                normalize_slug(raw_slug), environ.get("HTTP_IF_NONE_MATCH"), variant
            )
            if extra_header is not None:
                answer = Answer(answer.status, [*answer.headers, extra_header], answer.body)
            return answer
        except ApiError as error:
            status, extra, body = errors.api_error_answer(error)
            return Answer(status, [*json_headers(body), *extra], body)
        except Exception as error:
            status, code, message, headers = errors.unexpected(error)
            body = error_json(code, message)
            return Answer(status, [*json_headers(body), *headers.items()], body)


def _first_lang(environ: WSGIEnvironment) -> str | None:
    """The first `lang` of the query string, as `request.args.get("lang")` reads it."""
    query = str(environ.get("QUERY_STRING", ""))
    if "lang" not in query:
        return None
    text = query.encode("latin-1").decode("utf-8", "replace")  # check_query passed: UTF-8
    for name, value in parse_qsl(text, keep_blank_values=True):
        if name == "lang":
            return value
    return None
