"""/metrics in Prometheus text format, correct however many gunicorn worker processes serve.

Request counts and latencies are counted in each process; under `commentd serve` they live in
prometheus_client's multiprocess files (PROMETHEUS_MULTIPROC_DIR, set by the server before this
module is first imported) and a scrape sums them over all workers. The moderation queue is read
from the database at scrape time, so it is right across processes and hosts alike.

/metrics is not part of the public app: `commentd serve --metrics-bind` (COMMENTD_METRICS_BIND)
serves `scrape_app` on a listener of its own, for the monitoring network alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from werkzeug.wrappers import Request

from commentd.models import Comment, CommentStatus
from commentd.web.logs import elapsed_seconds

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Reads answer in about a millisecond; posting and rebuilding a page take longer.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The app's instruments, in their own registry so that several apps can share a process,
    and the moderation queue of `engine`, read at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.registry = registry = CollectorRegistry()
        self.queue = QueueCollector(engine)
        self.requests = Counter(
            "commentd_http_requests",
            "HTTP requests answered, by endpoint, method and status.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "commentd_http_request_duration_seconds",
            "Time from the first app hook to the response, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.submitted = Counter(
            "commentd_comments_submitted",
            "Comments accepted with a 201, by the status the spam defences and rules gave them.",
            ["status"],
            registry=registry,
        )

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def comment_submitted(self, status: str) -> None:
        """Count one comment stored with a 201, by the status it was given."""
        self.submitted.labels(status).inc()


class QueueCollector(Collector):
    """Stored comments by status (the moderation queue is `pending`), counted at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> list[GaugeMetricFamily]:
        """One gauge, `commentd_comments{status=...}`, from one GROUP BY query now."""
        gauge = GaugeMetricFamily(
            "commentd_comments", "Stored comments by status.", labels=["status"]
        )
        with self.engine.connect() as connection:
            rows = dict(
                connection.execute(
                    select(Comment.status, func.count()).group_by(Comment.status)
                ).all()
            )
        for status in CommentStatus:
            gauge.add_metric([status.value], rows.get(status, 0))
        return [gauge]


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
    response = Response(output, mimetype=CONTENT_TYPE_LATEST)
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
                response = _scrape(metrics)
        return response(environ, start_response)

    return application


def init_app(app: Flask, metrics: Metrics) -> None:
    """Count every request of `app` in `metrics` (after logs.init_app, whose start time it
    reads); `scrape_app` serves what is counted."""
    app.after_request(_observer(metrics))
