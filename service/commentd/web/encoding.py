"""A request's path and query string are UTF-8 text, or it gets 400 before anything reads them.

The server hands them over as bytes (PEP 3333: as latin-1 text), percent-escapes already
decoded in the path, and Werkzeug would turn bytes that are not UTF-8 into U+FFFD in the path
and keep them as their escapes in the query: a slug `%FF` would become the post "\ufffd", and
`/api/counts?slug=%FF` a count for the text "%FF". Bodies are decoded where they are read
(web/public.py, validation.form_fields and json_text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from flask import Flask, request

from commentd.errors import BadRequest

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _wsgi_bytes(environ: WSGIEnvironment, key: str) -> bytes:
    try:
        return str(environ.get(key, "")).encode("latin-1")
    except UnicodeEncodeError:  # a server that broke PEP 3333: certainly not the bytes sent
        raise BadRequest("The request's URL could not be read as UTF-8.") from None


def check_path(environ: WSGIEnvironment) -> None:
    """Raise BadRequest (400) when the URL path, its escapes decoded, is not UTF-8."""
    if not _is_utf8(_wsgi_bytes(environ, "PATH_INFO")):
        raise BadRequest("The URL path is not UTF-8: percent-encode its text as UTF-8.")


def check_query(environ: WSGIEnvironment) -> None:
    """Raise BadRequest (400) when the query string, raw or percent-decoded, is not UTF-8."""
    query = _wsgi_bytes(environ, "QUERY_STRING")
    if query and not _is_utf8(unquote_to_bytes(query)):
        raise BadRequest("The query string is not UTF-8: percent-encode its text as UTF-8.")


def _check_request() -> None:
    check_path(request.environ)
    check_query(request.environ)


def init_app(app: Flask) -> None:
    """Check every request's path and query first (after the request id is set for the log)."""
    app.before_request(_check_request)
