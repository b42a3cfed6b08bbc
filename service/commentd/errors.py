"""The one error family: every refusal commentd answers with is an ApiError subclass, carrying
its HTTP status, its machine code and a human message (API.md, "Errors"); and what the machine
ran short of (short_of), which the web layer answers 503 and the command line says in a line.
A leaf: imports nothing of commentd's and no web framework; web/errors.py turns these into
answers."""

from __future__ import annotations

import errno
import json
import os
from typing import ClassVar

from sqlalchemy.exc import DBAPIError


class ApiError(Exception):
    """An answer the client is owed: HTTP `status`, a `code` and a message, plus details
    (web/errors.py renders `{"error": code, "message": message, **details}`, API.md).
    """

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message, self.details = message, details


class BadRequest(ApiError):
    """400 bad_request: the request itself is malformed (a body, a slug, a parameter)."""

    status = 400
    code = "bad_request"


class ValidationFailed(ApiError):
    """422 naming every failing field: `ValidationFailed(message, fields={...})`."""

    status = 422
    code = "validation"


class TooMany(ApiError):
    """422 too_many: an action would take more items at once than the service allows."""

    status = 422
    code = "too_many"


class Unauthorized(ApiError):
    """401: a bearer or commenter token is missing or not known here."""

    status = 401
    code = "unauthorized"


class OriginNotAllowed(ApiError):
    """403: a browser posted from an origin not in COMMENTD_ALLOWED_ORIGINS."""

    status = 403
    code = "origin_not_allowed"


class CsrfFailed(ApiError):
    """403 csrf_failed: a request signed in by the hosted page's session cookie, with an unsafe
    method, lacked the session's `X-Commentd-CSRF` header (or carried another value)."""

    status = 403
    code = "csrf_failed"


class CrossOrigin(ApiError):
    """403 cross_origin: a moderation session may only be opened from the service's own
    origin (the hosted /moderate page), never from another site through CORS."""

    status = 403
    code = "cross_origin"


class Conflict(ApiError):
    """409: the request clashes with what is stored (`code` given per case: label_taken,
    too_many_tokens)."""

    status = 409
    code = "conflict"


class LabelTaken(Conflict):
    """409 label_taken: another moderation token already has this label."""

    code = "label_taken"


class TooManyTokens(Conflict):
    """409 too_many_tokens: the site holds as many moderation tokens as it may."""

    code = "too_many_tokens"


class NotFound(ApiError):
    """404 not_found: no such comment (or other named thing)."""

    status = 404
    code = "not_found"


class UnsupportedMediaType(ApiError):
    """415: a comment body that is neither JSON nor an HTML form."""

    status = 415
    code = "unsupported_media_type"


class PostClosed(ApiError):
    """403 comments_closed: the author closed the post to new comments."""

    status = 403
    code = "comments_closed"


class NotYours(ApiError):
    """403 not_yours: the commenter_token did not post this comment on this post. A wrong token,
    an unknown id and an id of another post all get this same answer (API.md)."""

    status = 403
    code = "not_yours"


class EditWindowClosed(ApiError):
    """403 edit_window_closed: the comment's writer asked after COMMENTD_EDIT_MINUTES."""

    status = 403
    code = "edit_window_closed"


class ReviewUnavailable(ApiError):
    """409 review_unavailable: its writer asked to review a comment that is not one the spam
    defences caught and nobody decided on yet (the author already did, or it is not spam)."""

    status = 409
    code = "review_unavailable"


class ReviewAlreadyRequested(ApiError):
    """409 review_already_requested: a comment is sent for review once."""

    status = 409
    code = "review_already_requested"


class RateLimited(ApiError):
    """429 with `Retry-After: retry_after` (whole seconds, at least 1)."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


def error_json(code: str, message: str, **details: object) -> bytes:
    """The body of every error answer: {"error": code, "message": ..., details...}."""
    return json.dumps(
        {"error": code, "message": message, **details}, ensure_ascii=False, separators=(",", ":")
    ).encode()


class ParentNotPublic(ApiError):
    """The author replied to a comment that was rejected or filed as spam (approve it first)."""

    status = 409
    code = "parent_not_public"


class NotTopLevel(ApiError):
    """Only a top-level comment can be pinned to the top of its post."""

    status = 422
    code = "not_top_level"


class PostNotFound(ApiError):
    """No post has this slug (no comment ever made it exist)."""

    status = 404
    code = "post_not_found"


# A full disk (or a spent quota), the database's or where the app writes a file of its own
# (an import's upload assembled in TMPDIR): a 503 the operator ends by making room. What was
# taken stays stored (the upload's parts are in the database; a refused write stored
# nothing), so the same request succeeds then.
STORAGE_FULL_CODE = "storage_full"
STORAGE_FULL_MESSAGE = "The server's disk is full; nothing was lost. Try again later."
STORAGE_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# The process out of open files or memory (a burst of connections, a descriptor limit set
# too low): a 503 that passes when the burst does.
OVERLOADED_CODE = "overloaded"
OVERLOADED_MESSAGE = "The server is short of memory or open files; try again shortly."
OVERLOADED_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM})
# How the databases say the same: SQLite's result codes (https://sqlite.org/rescode.html;
# an extended code keeps the primary one in its low byte), PostgreSQL's SQLSTATEs of class 53,
# insufficient resources (https://www.postgresql.org/docs/current/errcodes-appendix.html).
SQLITE_FULL, SQLITE_NOMEM, SQLITE_CANTOPEN = 13, 7, 14
SQLSTATE_DISK_FULL, SQLSTATE_OUT_OF_MEMORY = "53100", "53200"
# A database that cannot be read as one: SQLite's "database disk image is malformed" and "file
# is not a database" (a file replaced, or restored from a bad copy), PostgreSQL's class XX data
# and index corruption.
SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26
SQLSTATES_DAMAGED = frozenset({"XX001", "XX002"})


def driver_error(error: BaseException) -> BaseException:
    """The error a database driver raised (sqlite3's, psycopg's) under SQLAlchemy's DBAPIError
    wrappers, however many (a group commit hands each member the COMMIT's wrapper in one of
    its own); `error` itself when it wraps nothing."""
    while isinstance(error, DBAPIError) and error.orig is not None:
        error = error.orig
    return error


def first_line(error: BaseException) -> str:
    """What `error` says, on one line for a log or a terminal: the first line of its driver's
    message (driver_error; SQLite's and PostgreSQL's first lines quote no stored value, their
    DETAIL lines do), or its class name when it says nothing (`MemoryError()`)."""
    cause = driver_error(error)
    lines = str(cause).strip().splitlines()
    return lines[0].strip() if lines else type(cause).__name__


def damaged(error: BaseException) -> bool:
    """Whether `error` (a driver's, or SQLAlchemy's DBAPIError around it) says the database
    cannot be read as one: corrupt, or a file that is not a database. The service answers it
    as a database that is down (503): no request can succeed until the operator restores it."""
    error = driver_error(error)
    sqlite_code = getattr(error, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)
    return getattr(error, "sqlstate", None) in SQLSTATES_DAMAGED


class DatabaseFileReplaced(Exception):
    """The SQLite file a connection opened is no longer the one at the database's path: it was
    renamed over (a backup restored with `mv`), or removed, while the service ran. A write
    would go to the file nobody will read again (lost at the next start), so db.py refuses it
    with this, wrapped in SQLAlchemy's OperationalError: a 503 until commentd restarts."""


def replaced(error: BaseException) -> bool:
    """Whether `error` (or the DBAPIError around it) is a DatabaseFileReplaced."""
    return isinstance(driver_error(error), DatabaseFileReplaced)


def short_of(error: BaseException) -> str | None:
    """What the machine ran out of, if that is what `error` says, as the code of its 503:
    STORAGE_FULL_CODE for a full disk or quota, OVERLOADED_CODE for no open files or memory
    left; None for any other error.

    `error` may be an OSError or MemoryError, a driver's own error (sqlite3's, psycopg's), or
    SQLAlchemy's DBAPIError wrapping any of these, once or more (a group commit passes the
    COMMIT's error on to each member in a wrapper of its own).
    """
    error = driver_error(error)
    if isinstance(error, MemoryError):
        return OVERLOADED_CODE
    if isinstance(error, OSError):
        if error.errno in STORAGE_FULL_ERRNOS:
            return STORAGE_FULL_CODE
        return OVERLOADED_CODE if error.errno in OVERLOADED_ERRNOS else None
    sqlite_code = getattr(error, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        primary = sqlite_code & 0xFF
        if primary == SQLITE_FULL:
            return STORAGE_FULL_CODE
        if primary == SQLITE_CANTOPEN and _out_of_files():
            return OVERLOADED_CODE  # "unable to open database file", for want of a descriptor
        return OVERLOADED_CODE if primary == SQLITE_NOMEM else None
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate == SQLSTATE_DISK_FULL:
        return STORAGE_FULL_CODE
    return OVERLOADED_CODE if sqlstate == SQLSTATE_OUT_OF_MEMORY else None


def _out_of_files() -> bool:
    """Whether this process can open no file now (SQLite's SQLITE_CANTOPEN does not say why
    it could not: a missing folder, a permission, or no descriptor left)."""
    try:
        os.close(os.open(os.devnull, os.O_RDONLY))
    except OSError as error:
        return error.errno in OVERLOADED_ERRNOS
    return False
