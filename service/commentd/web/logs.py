"""One-line JSON logs, each request with an id that is also returned as X-Request-Id.

A log collector (journald, Docker, Loki...) takes one JSON object per line; the request id ties
the access line to any warning logged while the request ran, and to what the client saw.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Rule

REQUEST_ID_HEADER = "X-Request-Id"
# An id handed in by a proxy (nginx's $request_id, say) is kept when it is plainly an id.
INCOMING_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
ACCESS_LOGGER = "commentd.access"
access_log = logging.getLogger(ACCESS_LOGGER)


# The id of the request being answered in this thread, for every line logged meanwhile: set by
# the app's first hook and by the fast read path, which answers outside Flask (answering_as).
_answering: ContextVar[str | None] = ContextVar("commentd_request_id", default=None)

# One encoder for every line: json.dumps with options builds a new JSONEncoder per call.
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    """A LogRecord as one JSON line: time, level, logger, message, request id, and the dict
    given as `extra={"fields": {...}}` (one attribute, so formatting stays cheap)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A line holds none of the caller's file and line, thread or process, so no record
        # looks them up: the logging HOWTO's "Optimization". With them and _LINE_ENCODER, an
        # access line costs 15.5 µs of CPU instead of 19.5 (20,000 lines to a file, medians).
        logging._srcfile = None  # private, but named by the HOWTO for this
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False

    def format(self, record: logging.LogRecord) -> str:
        """`record` as one line of JSON, without a trailing newline."""
        message = record.getMessage()
        if record.name != ACCESS_LOGGER:  # access lines hold loggable_path() already
            message = without_tokens(message)
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": message,
        }
        request_id = _answering.get()
        if request_id is not None:
            line["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exc"] = without_tokens(self.formatException(record.exc_info))
        return _LINE_ENCODER.encode(line)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """logging.config.dictConfig for gunicorn and the app: every logger writes JSON to stderr.

    gunicorn's own access line is replaced by ours (it has no request id).
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }


# URL variables that carry a secret (the signed tokens of email links): an access line shows
# the variable's name in their place, never the value.
SECRET_URL_ARGS = frozenset({"token"})
# A path no route has (a mangled or mistyped link): a segment shaped like a signed token
# (itsdangerous: base64url parts joined by dots, the signature last) is left out, since no rule
# says which segments are secret. Slugs and ids never end in a 27-character part after a dot.
SIGNED_TOKEN_SEGMENT = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.[A-Za-z0-9_-]{27,}")
ELIDED = "<elided>"


# What a line of text is cut into to look for token-shaped words: anything between spaces,
# slashes, quotes and the delimiters of a URL's query and fragment.
_WORD = re.compile(r"[^\s/?#&=;'\"<>()\[\]]+")


def without_tokens(text: str) -> str:
    """`text` with every word shaped like a signed token (SIGNED_TOKEN_SEGMENT) replaced by
    `<elided>`. For lines written by others, who know no route: waitress names the path of a
    request whose client hung up ("Client disconnected while serving /email/confirm/…")."""
    return _WORD.sub(
        lambda word: ELIDED if SIGNED_TOKEN_SEGMENT.fullmatch(word.group()) else word.group(),
        text,
    )


def loggable_path(path: str, rule: Rule | None, view_args: Mapping[str, Any] | None) -> str:
    """The path as an access line may show it: secret URL variables (SECRET_URL_ARGS) replaced
    by `<name>` when the path has a route; signed-token-shaped segments replaced by `<elided>`
    when it has none.

    The query string is never logged (it may carry anything), nor are headers.
    """
    if rule is not None:
        for name in SECRET_URL_ARGS & set(rule.arguments):
            value = str((view_args or {}).get(name, ""))
            if value:
                path = path.replace(value, f"<{name}>")
        return path
    return "/".join(
        ELIDED if SIGNED_TOKEN_SEGMENT.fullmatch(segment) else segment
        for segment in path.split("/")
    )


def _route_of_request() -> tuple[Rule | None, Mapping[str, Any] | None]:
    """The rule the request's path matched, also when its method did not (a 405)."""
    if request.url_rule is not None:
        return request.url_rule, request.view_args
    error = request.routing_exception
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        adapter = current_app.url_map.bind_to_environ(request.environ)
        try:
            rule, args = adapter.match(method=next(iter(error.valid_methods)), return_rule=True)
        except HTTPException:
            return None, None
        return rule, args
    return None, None


def new_request_id() -> str:
    """16 hex digits. An id only ties lines together, so it needs no cryptographic randomness
    (os.urandom is a system call per request); `random` reseeds in each forked worker."""
    return f"{random.getrandbits(64):016x}"


def request_id_for(incoming: str | None) -> str:
    """The id a proxy handed in, when it is plainly an id; else a new one."""
    return incoming if incoming and INCOMING_REQUEST_ID.fullmatch(incoming) else new_request_id()


def log_request(
    request_id: str,
    method: str,
    path: str,
    endpoint: str,
    status: int,
    size: int | None,
    seconds: float,
) -> None:
    """The access line: one per request, whoever answered it."""
    if access_log.isEnabledFor(logging.INFO):
        access_log.info(
            "request",
            extra={
                "fields": {
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "endpoint": endpoint,
                    "status": status,
                    "bytes": size,
                    "duration_ms": round(seconds * 1000, 2),
                }
            },
        )


@contextmanager
def answering_as(request_id: str) -> Iterator[None]:
    """Every line logged in this thread within the block carries `request_id`."""
    token = _answering.set(request_id)
    try:
        yield
    finally:
        _answering.reset(token)


def _start_request() -> None:
    g.request_id_token = _answering.set(request_id_for(request.headers.get(REQUEST_ID_HEADER)))
    g.request_started = time.perf_counter()


def _end_request(_error: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        _answering.reset(token)


def elapsed_seconds() -> float:
    """Time since the request began (0 when it never reached the app's first hook)."""
    started = g.get("request_started")
    return time.perf_counter() - started if started is not None else 0.0


def _finish_request(response: Response) -> Response:
    request_id = _answering.get() or new_request_id()
    response.headers[REQUEST_ID_HEADER] = request_id
    log_request(
        request_id,
        request.method,
        loggable_path(request.path, *_route_of_request()),
        request.endpoint or "unmatched",
        response.status_code,
        response.calculate_content_length(),
        elapsed_seconds(),
    )
    return response


def init_app(app: Flask) -> None:
    """Call before any other extension, so the request id exists when they run and log."""
    # Our lines carry no process or thread name; without these, logging skips a getpid()
    # system call and two lookups per record (the logging HOWTO's "Optimization").
    logging.logProcesses = False
    logging.logThreads = False
    logging.logMultiprocessing = False
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.teardown_request(_end_request)
