"""/metrics is off the public surface: served only on COMMENTD_METRICS_BIND, a listener of its
own, as a Prometheus scrape config would reach it (README, "Metrics")."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import ADMIN_TOKEN, LiveServer, comment_fields, start_server

SLUG = "pose"


def quiet_about_metrics(response: requests.Response) -> None:
    """A public answer that says nothing of what /metrics holds."""
    assert "commentd_" not in response.text
    assert "# HELP" not in response.text and "# TYPE" not in response.text


@pytest.fixture
def monitored_server(serve_env: dict[str, str], tmp_path: Path) -> Iterator[LiveServer]:
    """A live server with a metrics listener of its own (COMMENTD_METRICS_BIND)."""
    server = start_server(serve_env, tmp_path, metrics=True)
    yield server
    server.stop()


@pytest.fixture
def metrics_bind(monitored_server: LiveServer) -> str:
    """HOST:PORT of the monitored server's metrics listener."""
    assert monitored_server.metrics_url is not None
    return monitored_server.metrics_url.removeprefix("http://")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {ADMIN_TOKEN}"}],
    ids=["anonymous", "wrong-token", "moderation-token"],
)
def test_the_public_port_has_no_metrics_by_default(
    shared_server: LiveServer, headers: dict[str, str]
) -> None:
    for method in ("GET", "HEAD"):
        for path in ("/metrics", "/metrics/", "/METRICS", "/metrics?format=text"):
            url = shared_server.url + path
            response = requests.request(method, url, headers=headers, timeout=5)
            assert response.status_code == 404, (method, path)
            quiet_about_metrics(response)


def test_the_metrics_listener_serves_real_metrics_and_the_public_port_still_none(
    monitored_server: LiveServer, metrics_bind: str
) -> None:
    base = monitored_server.url
    assert requests.post(f"{base}/api/posts/{SLUG}/comments", json=comment_fields(), timeout=5)
    assert requests.get(f"{base}/api/posts/{SLUG}/comments", timeout=5).status_code == 200

    scrape = requests.get(f"http://{metrics_bind}/metrics", timeout=5)
    head = requests.head(f"http://{metrics_bind}/metrics", timeout=5)
    public = [requests.request(m, f"{base}/metrics", timeout=5) for m in ("GET", "HEAD")]

    assert scrape.status_code == 200
    assert scrape.headers["Content-Type"].startswith("text/plain")
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scrape.text)
        for sample in family.samples
    }
    assert found[("commentd_comments", (("status", "pending"),))] == 1
    assert found[("commentd_comments_submitted_total", (("status", "pending"),))] == 1
    assert (
        found[
            (
                "commentd_http_requests_total",
                (("endpoint", "public.list_comments"), ("method", "GET"), ("status", "200")),
            )
        ]
        == 1
    )
    assert (head.status_code, head.content) == (200, b"")
    for response in public:
        assert response.status_code == 404
        quiet_about_metrics(response)


def test_the_metrics_listener_serves_nothing_else(
    monitored_server: LiveServer, metrics_bind: str
) -> None:
    other = requests.get(f"http://{metrics_bind}/api/posts/{SLUG}/comments", timeout=5)
    health = requests.get(f"http://{metrics_bind}/healthz", timeout=5)
    post = requests.post(f"http://{metrics_bind}/metrics", timeout=5)

    assert (other.status_code, other.json()["error"]) == (404, "not_found")
    assert health.status_code == 404
    assert (post.status_code, post.headers["Allow"]) == (405, "GET, HEAD")


@pytest.mark.parametrize(
    "value", ["9100", "localhost:", ":9100", "127.0.0.1:99999", "a:b", "fd://x", "fd://3"]
)
def test_a_bad_metrics_bind_stops_the_start_naming_the_variable(tmp_path: Path, value: str) -> None:
    # fd://3 alone: an inherited metrics listener needs --fd for the service's own listener.
    result = subprocess.run(
        [sys.executable, "-m", "commentd.ops.cli", "serve", "--port", "0"],
        env={"PATH": os.environ["PATH"], "COMMENTD_METRICS_BIND": value},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "COMMENTD_METRICS_BIND" in result.stderr
    assert "Traceback" not in result.stderr
