"""Turning every error into the JSON answer of API.md: the ApiError family, Werkzeug's own
HTTP errors, a database that is down (503) and anything unexpected (500, logged)."""

from __future__ import annotations

import logging

from flask import Flask, Response, has_request_context, request
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response as WerkzeugResponse

from commentd import i18n
from commentd.errors import (
    OVERLOADED_CODE,
    OVERLOADED_MESSAGE,
    STORAGE_FULL_CODE,
    STORAGE_FULL_MESSAGE,
    ApiError,
    RateLimited,
    damaged,
    driver_error,
    error_json,
    first_line,
    replaced,
    short_of,
)

log = logging.getLogger(__name__)

# Machine codes for Werkzeug's own errors (404, 405, 413, 429...): snake case of their names.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


# A database that is down: 503, and when to try again.
DATABASE_DOWN_CODE = "database_unavailable"
DATABASE_DOWN_MESSAGE = "The comment database is not answering; try again shortly."


def error_response(status: int, code: str, message: str, **details: object) -> Response:
    """API.md's JSON error: `{"error": code, "message": message, **details}` with `status`."""
    return Response(error_json(code, message, **details), status, mimetype="application/json")


def is_database_down(error: BaseException) -> bool:
    """A driver error that means the database cannot be reached, or read as one (damaged: a
    corrupt file, a file that is not a database); not a bad statement."""
    return isinstance(error, DBAPIError) and (
        isinstance(error, OperationalError) or error.connection_invalidated or damaged(error)
    )


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` is one `unexpected` answers 503: the service cannot serve now, for a
    reason that passes (a database that is down, a full disk, no open files or memory)."""
    return short_of(error) is not None or is_database_down(error)


def _told(error: BaseException) -> str:
    """A shortage's error for the log: the driver's error class and first line (SQLite's and
    PostgreSQL's first lines quote no value), never the statement's."""
    return f"{type(driver_error(error)).__name__}: {first_line(error)}"


def api_error_answer(
    error: ApiError, language: str = i18n.DEFAULT
) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers besides Content-Type, JSON body) of an ApiError: 401 says how to
    authenticate, a RateLimited when to try again. Its message and details that are
    `i18n.Text`s (a 422's field errors) are said in `language` (a catalogue's name), and the
    answer then says so: `Content-Language` and `Vary: Accept-Language`."""
    headers = []
    if error.status == 401:
        headers.append(("WWW-Authenticate", 'Bearer realm="commentd"'))
    if isinstance(error, RateLimited):
        headers.append(("Retry-After", str(error.retry_after)))
    message, details = error.message, error.details
    if _has_text(message) or _has_text(details):
        message = str(i18n.localise(message, language))
        details = {k: i18n.localise(v, language) for k, v in details.items()}
        headers += [("Content-Language", language), ("Vary", "Accept-Language")]
    return error.status, headers, error_json(error.code, message, **details)


def _has_text(value: object) -> bool:
    if isinstance(value, i18n.Text):
        return True
    if isinstance(value, dict):
        return any(_has_text(v) for v in value.values())
    return isinstance(value, list | tuple) and any(_has_text(v) for v in value)


def _api_error(error: ApiError) -> Response:
    language = i18n.DEFAULT
    if has_request_context():
        language = i18n.negotiate(request.headers.get("Accept-Language"))
    status, headers, body = api_error_answer(error, language)
    return Response(body, status, headers, mimetype="application/json")


def _http_error(error: HTTPException) -> WerkzeugResponse:
    if isinstance(error, InternalServerError):
        return _unexpected(error.original_exception or error)
    response = error.get_response()  # keeps status and headers (Allow, ...)
    status = error.code or 500
    message = error.description or "The request could not be handled."
    if status == 429:  # commentd's own limits raise RateLimited; this is a fallback
        message = "Too many requests; try again later."
        response.headers.setdefault("Retry-After", "60")
    response.set_data(error_json(HTTP_CODES.get(status, "error"), message))
    response.content_type = "application/json"
    return response


class RefusedStatement(Exception):
    """What the log says of a statement the database refused (refused_statement)."""


def refused_statement(error: DBAPIError) -> str:
    """`error` told without what a request carried: its driver's error class, PostgreSQL's
    SQLSTATE and the constraint, table and column it names, or SQLite's message (which names
    columns, never values), and the statement with placeholders. Never the bound values nor
    PostgreSQL's message and DETAIL, which quote them ("Failing row contains (…)")."""
    orig = error.orig
    kind = f"{type(orig).__module__}.{type(orig).__name__}"
    diag = getattr(orig, "diag", None)
    if diag is not None:
        named = {
            "sqlstate": getattr(diag, "sqlstate", None) or getattr(orig, "sqlstate", None),
            "constraint": getattr(diag, "constraint_name", None),
            "table": getattr(diag, "table_name", None),
            "column": getattr(diag, "column_name", None),
        }
        told = ", ".join(f"{key} {value}" for key, value in named.items() if value)
    else:
        told = first_line(error)
    return f"{kind}: {told}\n[SQL: {error.statement}]"


def unexpected(error: BaseException) -> tuple[int, str, str, dict[str, str]]:
    """What to answer for an error nothing else handled, logged here: a database that is down
    or a full disk is a 503 with Retry-After, anything else a 500. (status, code, message,
    extra headers)"""
    shortage = short_of(error)
    if shortage == STORAGE_FULL_CODE:
        log.error("disk full, answered 503 until there is room: %s", _told(error))
        return 503, STORAGE_FULL_CODE, STORAGE_FULL_MESSAGE, {"Retry-After": "60"}
    if shortage == OVERLOADED_CODE:
        log.error("out of open files or memory, answered 503: %s", _told(error))
        return 503, OVERLOADED_CODE, OVERLOADED_MESSAGE, {"Retry-After": "5"}
    if damaged(error):
        log.error("database unreadable, answered 503 until it is restored: %s", _told(error))
        return 503, DATABASE_DOWN_CODE, DATABASE_DOWN_MESSAGE, {"Retry-After": "5"}
    if replaced(error):
        log.error("database file replaced, answered 503 until a restart: %s", first_line(error))
        return 503, DATABASE_DOWN_CODE, DATABASE_DOWN_MESSAGE, {"Retry-After": "5"}
    if is_database_down(error):
        log.warning("database unavailable: %s", first_line(error))
        return 503, DATABASE_DOWN_CODE, DATABASE_DOWN_MESSAGE, {"Retry-After": "5"}
    if isinstance(error, DBAPIError):
        fault = RefusedStatement(refused_statement(error))
        log.error("unhandled error", exc_info=(RefusedStatement, fault, error.__traceback__))
    else:
        log.error("unhandled error", exc_info=error)
    return 500, "internal", "Something went wrong on our side; it was logged.", {}


def _unexpected(error: BaseException) -> Response:
    status, code, message, headers = unexpected(error)
    response = error_response(status, code, message)
    response.headers.update(headers)
    return response


def register_handlers(app: Flask) -> None:
    """Answer ApiError, Werkzeug's HTTP errors and anything else as API.md's JSON errors."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
