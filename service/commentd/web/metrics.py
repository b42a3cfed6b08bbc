"""/metrics in Prometheus text format, correct however many gunicorn worker processes serve.

Request counts and latencies are counted in each process; under `commentd serve` they live in
prometheus_client's multiprocess files (PROMETHEUS_MULTIPROC_DIR, set by the server before this
module is first imported) and a scrape sums them over all workers. The moderation queue is read
from the database at scrape time, so it is right across processes and hosts alike.

/metrics is not part of the public app: `commentd serve --metrics-bind` (COMMENTD_METRICS_BIND)
serves `scrape_app` on a listener of its own, for the monitoring network alone.

A multiprocess file is memory-mapped, and the library creates and grows it sparse: on a full
filesystem the first write to a page that has no block behind it kills the process with
SIGBUS (and the request it was answering with it). So each worker allocates its files whole
when it starts (`Metrics.reserve_files`), large enough for every series it can ever count:
the labels are bounded (methods outside METHODS count as "other", endpoints are the app's,
at most MAX_REQUEST_SERIES request series) and the files never grow. A worker that cannot
allocate them serves without counting, tries again every RESERVE_RETRY_SECONDS, and says so
in the log.
"""

from __future__ import annotations

import logging
import mmap
import os
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.mmap_dict import mmap_key
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError
from werkzeug.wrappers import Request

from commentd.errors import first_line
from commentd.models import Comment, CommentStatus
from commentd.web.errors import error_response, is_unavailable, unexpected
from commentd.web.logs import elapsed_seconds

log = logging.getLogger("commentd")

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Reads answer in about a millisecond; posting and rebuilding a page take longer.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# The label values a request can be counted under. Any method outside METHODS (HTTP lets a
# client send any token) counts as OTHER, an endpoint the app does not have as OTHER, and
# once a process counts MAX_REQUEST_SERIES (endpoint, method, status) series, a new one counts
# as OVERFLOW: no client can add series, and bytes to every worker's file, at will. A probe of
# every endpoint with every method makes ~400 series; a day of real traffic ~100.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"
UNMATCHED = "unmatched"  # a path no route has
MAX_REQUEST_SERIES = 1024
OVERFLOW = (OTHER, OTHER, OTHER)
RESERVE_RETRY_SECONDS = 60.0

REQUESTS = ("commentd_http_requests", "HTTP requests answered, by endpoint, method and status.")
LATENCY = (
    "commentd_http_request_duration_seconds",
    "Time from the first app hook to the response, by endpoint.",
)
SUBMITTED = (
    "commentd_comments_submitted",
    "Comments accepted with a 201, by the status the spam defences and rules gave them.",
)


class Metrics:
    """The app's instruments, in their own registry so that several apps can share a process,
    and the moderation queue of `engine`, read at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.registry = registry = CollectorRegistry()
        self.queue = QueueCollector(engine)
        self.requests = Counter(*REQUESTS, ["endpoint", "method", "status"], registry=registry)
        self.latency = Histogram(*LATENCY, ["endpoint"], buckets=LATENCY_BUCKETS, registry=registry)
        self.submitted = Counter(*SUBMITTED, ["status"], registry=registry)
        # False while this worker's files could not be allocated (reserve_files).
        self.counting = True
        self._endpoints: frozenset[str] | None = None  # any, until reserve_files names them
        self._identity: str | None = None  # this process's files' name (reserve_files)
        self._series: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        self._retry_at = 0.0

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency (`seconds`), under bounded labels.
        Never raises: counting is not worth an answer (see _stop_counting)."""
        if not self.counting and not self._retry():
            return
        series = (endpoint, method if method in METHODS else OTHER, str(status))
        if series not in self._series:
            series = self._admit(series)
        try:
            self.requests.labels(*series).inc()
            self.latency.labels(series[0]).observe(seconds)
        except (OSError, MemoryError) as error:
            self._stop_counting(error)

    def comment_submitted(self, status: str) -> None:
        """Count one comment stored with a 201, by the status it was given (a CommentStatus
        value). Never raises: it runs after the comment was stored, which its writer must be
        told (a 503 then had readers post the same comment again)."""
        if self.counting or self._retry():
            try:
                self.submitted.labels(status).inc()
            except (OSError, MemoryError) as error:
                self._stop_counting(error)

    def _stop_counting(self, error: BaseException) -> None:
        """Count nothing until the next retry: the files could not be opened (no open files
        left: prometheus_client opens a type's file at its first value) or written."""
        self.counting = False
        self._retry_at = time.monotonic() + RESERVE_RETRY_SECONDS
        log.warning(
            "metrics: this worker counts nothing for now (%s); it answers requests as ever"
            " and tries again in %d s",
            getattr(error, "strerror", None) or type(error).__name__,
            RESERVE_RETRY_SECONDS,
        )

    def _admit(self, series: tuple[str, str, str]) -> tuple[str, str, str]:
        """`series` as it is counted: its endpoint OTHER if the app has none such, OVERFLOW
        once MAX_REQUEST_SERIES are counted."""
        with self._lock:
            if self._endpoints is not None and series[0] not in self._endpoints:
                series = (OTHER, *series[1:])
            if series in self._series or series == OVERFLOW:
                return series
            if len(self._series) >= MAX_REQUEST_SERIES:
                return OVERFLOW
            self._series.add(series)
            return series

    def reserve_files(self, endpoints: Collection[str], identity: str | None = None) -> bool:
        """Allocate this process's multiprocess files whole (nothing to do outside
        multiprocess mode), sized for every series it can count with the app's `endpoints`;
        call it in each new worker before its first request. `identity` names the files
        (default: the pid): unique among the live processes, and a process that takes over a
        dead one's identity goes on in its files, counts and all. True if it counts; False (a
        warning logged, a retry planned) if the filesystem refused, on a full disk say."""
        self._endpoints = frozenset(endpoints) | {UNMATCHED, OTHER}
        if identity is not None:
            self._identity = identity
        directory = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
        if not directory:
            return True
        if self._identity is not None:
            # prometheus_client names each process's files by its process_identifier.
            values.ValueClass = values.MultiProcessValue(lambda: self._identity)  # type: ignore[no-untyped-call]
        sizes = multiprocess_file_bytes(self._endpoints)
        try:
            _allocate_whole(Path(directory), self._identity or str(os.getpid()), sizes)
            self._open_files()
        except OSError as error:
            self.counting = False
            self._retry_at = time.monotonic() + RESERVE_RETRY_SECONDS
            log.warning(
                "metrics: this worker counts nothing until its files fit in %s (%d bytes: %s);"
                " it answers requests as ever and tries again in %d s",
                directory,
                sum(sizes.values()),
                error.strerror or error,
                RESERVE_RETRY_SECONDS,
            )
            return False
        if not self.counting:
            log.warning("metrics: this worker's files fit in %s now; it counts again", directory)
        self.counting = True
        return True

    def _open_files(self) -> None:
        """Open this process's files now, not at a request's first count (prometheus_client
        opens a metric type's file with its first value): a worker out of open files later
        still counts. The series made for it start at 0, as Prometheus advises for label
        values known in advance: every status a comment can be given, requests of no route."""
        for status in CommentStatus:
            self.submitted.labels(status.value)
        self.latency.labels(UNMATCHED)

    def _retry(self) -> bool:
        """Whether this worker counts, after trying to allocate its files again if a retry is
        due (one thread tries; the others go on without counting)."""
        if time.monotonic() < self._retry_at or self._endpoints is None:
            return False
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self.counting:
                return True
            self._retry_at = time.monotonic() + RESERVE_RETRY_SECONDS
            return self.reserve_files(self._endpoints)
        finally:
            self._lock.release()


# prometheus_client's multiprocess files, one per metric type and process: `{type}_{pid}.db`
# (prometheus_client/values.py), each a header of 8 bytes and then, per value, a 4-byte length,
# the JSON key (mmap_dict.mmap_key), padding to 8 bytes and two doubles (mmap_dict.MmapedDict).
_HEADER_BYTES = 8
_WIDEST_METHOD = max([*METHODS, OTHER], key=len)
_WIDEST_STATUS = "599"
_WIDEST_SUBMITTED = max((status.value for status in CommentStatus), key=len)


def multiprocess_file_bytes(endpoints: Collection[str]) -> dict[str, int]:
    """{file prefix: bytes} that hold every value one process can write, in whole pages, for
    labels within `endpoints` (which includes UNMATCHED and OTHER): an upper bound, as each key
    is sized with the widest label values."""
    endpoint = max(endpoints, key=len)
    widest_request = [endpoint, _WIDEST_METHOD, _WIDEST_STATUS]
    request = _value_bytes(REQUESTS, "_total", ["endpoint", "method", "status"], widest_request)
    submitted = _value_bytes(SUBMITTED, "_total", ["status"], [_WIDEST_SUBMITTED])
    bounds = (*LATENCY_BUCKETS, float("inf"))
    widest_le = max((floatToGoString(b) for b in bounds), key=len)  # type: ignore[no-untyped-call]
    bucket = _value_bytes(LATENCY, "_bucket", ["endpoint", "le"], [endpoint, widest_le])
    values_per_endpoint = len(LATENCY_BUCKETS) + 2  # the buckets, +Inf and _sum
    counters = (MAX_REQUEST_SERIES + 1) * request + len(CommentStatus) * submitted
    histograms = len(endpoints) * values_per_endpoint * bucket
    return {
        "counter": _whole_pages(_HEADER_BYTES + counters),
        "histogram": _whole_pages(_HEADER_BYTES + histograms),
    }


def _value_bytes(
    metric: tuple[str, str], suffix: str, labelnames: list[str], labelvalues: list[str]
) -> int:
    name, help_text = metric
    key = mmap_key(name, name + suffix, labelnames, labelvalues, help_text).encode()
    return 4 + len(key) + 8 + 16


def _whole_pages(size: int) -> int:
    return -(-size // mmap.PAGESIZE) * mmap.PAGESIZE


def _allocate_whole(directory: Path, identity: str, sizes: dict[str, int]) -> None:
    """Give the files of `identity` in `directory` their blocks now (posix_fallocate: every
    page has a block behind it, so a write to the mapping can never fault). Raises OSError
    (ENOSPC, EFBIG, ...) with the files it created removed again. A file that a dead process
    of the same identity left is kept, counts and all, with room past what it uses for all
    of `sizes` (its series and this process's may differ)."""
    created: list[Path] = []
    try:
        for prefix, size in sizes.items():
            path = directory / f"{prefix}_{identity}.db"
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                created.append(path)
            except FileExistsError:
                fd = os.open(path, os.O_RDWR)
            try:
                used = int.from_bytes(os.pread(fd, 4, 0).ljust(4, b"\0"), sys.byteorder)
                os.posix_fallocate(fd, 0, max(os.fstat(fd).st_size, used + size))
            finally:
                os.close(fd)
    except OSError:
        for path in created:
            path.unlink(missing_ok=True)
        raise


class QueueCollector(Collector):
    """Stored comments by status (the moderation queue is `pending`), counted at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> list[GaugeMetricFamily]:
        """`commentd_comments{status=...}` from one GROUP BY query now, and
        `commentd_database_up`: 1, or 0 without the first when the database did not answer
        (down, damaged, or the machine short of files or memory: web.errors.is_unavailable,
        said in one log line). The scrape still answers then: the request counts, 503s among
        them, are what an outage is watched by. Raises any other error."""
        up = GaugeMetricFamily(
            "commentd_database_up", "1 if the database answered this scrape's count, else 0."
        )
        try:
            with self.engine.connect() as connection:
                rows = dict(
                    connection.execute(
                        select(Comment.status, func.count()).group_by(Comment.status)
                    ).all()
                )
        except (DBAPIError, OSError, MemoryError) as error:
            if not is_unavailable(error):
                raise
            log.warning("metrics: stored comments not counted: %s", first_line(error))
            up.add_metric([], 0)
            return [up]
        gauge = GaugeMetricFamily(
            "commentd_comments", "Stored comments by status.", labels=["status"]
        )
        for status in CommentStatus:
            gauge.add_metric([status.value], rows.get(status, 0))
        up.add_metric([], 1)
        return [gauge, up]


def is_multiprocess() -> bool:
    """Whether counts live in prometheus_client's multiprocess files (under `commentd serve`)."""
    return bool(os.environ.get(MULTIPROCESS_DIR_VARIABLE))


def _observer(metrics: Metrics) -> Callable[[Response], Response]:
    def observe(response: Response) -> Response:
        metrics.observe(
            request.endpoint or "unmatched", request.method, response.status_code, elapsed_seconds()
        )
        return response

    return observe


def _scrape(metrics: Metrics) -> Response:
    if is_multiprocess():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = metrics.registry
    output = generate_latest(registry) + generate_latest(_single(metrics.queue))
    response = Response(output, content_type=CONTENT_TYPE_LATEST)  # it names its charset
    response.headers["Cache-Control"] = "no-store"
    return response


def _single(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def scrape_app(
    app: Flask, metrics: Metrics
) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """A WSGI app that answers GET and HEAD /metrics with `app`'s metrics, and nothing else:
    404 for any other path, 405 for any other method (JSON errors, like the service's)."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = Request(environ).path, environ.get("REQUEST_METHOD", "")
        with app.app_context():
            if path != "/metrics":
                response = jsonify(error="not_found", message="Only /metrics is served here.")
                response.status_code = 404
            elif method not in ("GET", "HEAD"):
                response = jsonify(error="method_not_allowed", message="Use GET or HEAD.")
                response.status_code = 405
                response.headers["Allow"] = "GET, HEAD"
            else:
                try:
                    response = _scrape(metrics)
                except Exception as error:  # the service's answer (web.errors), not waitress's
                    status, code, message, headers = unexpected(error)
                    response = error_response(status, code, message)
                    response.headers.update(headers)
        return response(environ, start_response)

    return application


def init_app(app: Flask, metrics: Metrics) -> None:
    """Count every request of `app` in `metrics` (after logs.init_app, whose start time it
    reads); `scrape_app` serves what is counted."""
    app.after_request(_observer(metrics))
