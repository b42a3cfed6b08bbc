"""Metrics stay bounded and never fault: labels a client cannot multiply, and multiprocess files
allocated whole before the first count (web/metrics.py), tried on real files in a real process.

A file prometheus_client creates itself is sparse and memory-mapped: on a full filesystem the
first write to a page with no block behind it kills the worker with SIGBUS. The live proof on
a full filesystem is in tests/live/test_faults.py; here, that the files are whole and never
grow whatever is counted, and that a worker whose files the kernel refuses serves on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import create_engine

from commentd.models import CommentStatus
from commentd.web.metrics import MAX_REQUEST_SERIES, METHODS, OTHER, OVERFLOW, Metrics

STRANGE_METHODS = ["FOO", "PROPFIND", "get", "X" * 200, "BREW"]
# The app's endpoints do not depend on the database: these tests take them from SQLite alone.
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def request_series(registry: CollectorRegistry) -> set[tuple[str, str, str]]:
    """(endpoint, method, status) of every commentd_http_requests_total sample."""
    return {
        (sample.labels["endpoint"], sample.labels["method"], sample.labels["status"])
        for family in registry.collect()
        if family.name == "commentd_http_requests"
        for sample in family.samples
        if sample.name == "commentd_http_requests_total"
    }


def endpoints_of(app: Flask) -> list[str]:
    return sorted({rule.endpoint for rule in app.url_map.iter_rules()})


def test_a_method_outside_http_s_own_counts_as_other() -> None:
    metrics = Metrics(create_engine("sqlite://"))
    for method in [*METHODS, *STRANGE_METHODS]:
        metrics.observe("public.list_comments", method, 405, 0.001)

    assert {method for _, method, _ in request_series(metrics.registry)} == {*METHODS, OTHER}


def test_past_the_series_cap_new_series_count_as_overflow_and_old_ones_go_on() -> None:
    metrics = Metrics(create_engine("sqlite://"))
    for n in range(MAX_REQUEST_SERIES + 300):
        metrics.observe(f"endpoint.{n}", "GET", 200, 0.001)
    metrics.observe("endpoint.0", "GET", 200, 0.001)  # counted before the cap: still itself

    series = request_series(metrics.registry)
    assert len(series) == MAX_REQUEST_SERIES + 1
    assert OVERFLOW in series
    samples = {
        sample.labels["endpoint"]: sample.value
        for family in metrics.registry.collect()
        if family.name == "commentd_http_requests"
        for sample in family.samples
        if sample.name == "commentd_http_requests_total"
    }
    assert samples["endpoint.0"] == 2
    assert samples[OTHER] == 300


@ON_SQLITE
def test_once_the_endpoints_are_known_an_unknown_one_counts_as_other(app: Flask) -> None:
    metrics = Metrics(create_engine("sqlite://"))
    assert metrics.reserve_files(endpoints_of(app))  # not multiprocess: names them, no files
    metrics.observe("public.list_comments", "GET", 200, 0.001)
    metrics.observe("made.up", "GET", 200, 0.001)

    assert request_series(metrics.registry) == {
        ("public.list_comments", "GET", "200"),
        (OTHER, "GET", "200"),
    }


# Runs in a process of its own: prometheus_client picks its storage (files or memory) at
# import, from PROMETHEUS_MULTIPROC_DIR.
WORKER = textwrap.dedent(
    """
    import json, logging, os, resource, sys
    directory, endpoints, fsize = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    left = int(sys.argv[4])
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if fsize:  # the kernel refuses any file larger than this (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))
    from sqlalchemy import create_engine
    import commentd.web.metrics as metrics_module
    from commentd.models import CommentStatus

    def files():
        return {
            name: [os.stat(os.path.join(directory, name)).st_size,
                   os.stat(os.path.join(directory, name)).st_blocks * 512]
            for name in sorted(os.listdir(directory))
        }

    metrics_module.RESERVE_RETRY_SECONDS = 0.0  # retry at the next request, not in 60 s
    if left:  # a dead worker of the same pid left its file, full to the last byte
        from prometheus_client.mmap_dict import MmapedDict, mmap_key
        name, help_text = metrics_module.REQUESTS
        dead = MmapedDict(os.path.join(directory, f"counter_{os.getpid()}.db"))
        for n in range(left):
            key = mmap_key(name, name + "_total", ["endpoint", "method", "status"],
                           [f"dead.{n}", "GET", "200"], help_text)
            dead.write_value(key, 7.0, 0.0)
        dead.close()
    metrics = metrics_module.Metrics(create_engine("sqlite://"))
    reserved = metrics.reserve_files(endpoints)
    before = files()
    methods = [*metrics_module.METHODS, "FOO", "PROPFIND", "get", "X" * 200]
    for endpoint in [*endpoints, "unmatched", "made.up." + "y" * 300]:
        for method in methods:
            for status in range(100, 600, 7):
                metrics.observe(endpoint, method, status, 0.003)
    for status in CommentStatus:
        metrics.comment_submitted(status.value)
    counted_while_refused = metrics.counting
    if fsize:  # the operator frees space: the next request allocates and counts
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        metrics.observe("public.list_comments", "GET", 200, 0.003)
    print(json.dumps({"reserved": reserved, "before": before, "after": files(),
                      "counted_while_refused": counted_while_refused}))
    """
)


def run_worker(
    directory: Path, endpoints: list[str], fsize: int = 0, left: int = 0
) -> dict[str, object]:
    """Run WORKER with its files in `directory` (made here): `fsize` caps their size
    (RLIMIT_FSIZE), `left` is the number of series a dead worker of its pid left in its
    counter file."""
    directory.mkdir()
    arguments = [str(directory), json.dumps(endpoints), str(fsize), str(left)]
    done = subprocess.run(
        [sys.executable, "-c", WORKER, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    result["log"] = done.stderr
    return result


@ON_SQLITE
@pytest.mark.parametrize("left", [0, 1200], ids=["new", "left-by-a-dead-worker-of-its-pid"])
def test_a_worker_s_files_are_whole_from_the_start_and_never_grow(
    app: Flask, tmp_path: Path, left: int
) -> None:
    directory = tmp_path / "metrics"
    result = run_worker(directory, endpoints_of(app), left=left)

    assert result["reserved"] is True
    before = result["before"]
    assert isinstance(before, dict)
    assert sorted(name.split("_")[0] for name in before) == ["counter", "histogram"]
    for size, allocated in before.values():
        assert allocated >= size > 0  # every page has its block: no write can fault
    # Every endpoint x 11 methods x 72 statuses, the widest labels there are: not one byte more.
    assert result["after"] == before
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    series = request_series(registry)
    dead = {(f"dead.{n}", "GET", "200") for n in range(left)}
    assert dead <= series  # what the dead worker counted is kept
    series -= dead
    assert len(series) == MAX_REQUEST_SERIES + 1
    assert {method for _, method, _ in series} <= {*METHODS, OTHER}
    assert {endpoint for endpoint, _, _ in series} <= {*endpoints_of(app), "unmatched", OTHER}
    submitted = {
        sample.labels["status"]
        for family in registry.collect()
        if family.name == "commentd_comments_submitted"
        for sample in family.samples
    }
    assert submitted == {status.value for status in CommentStatus}


@ON_SQLITE
@pytest.mark.parametrize("fsize", [4096, 64 * 1024])
def test_a_worker_whose_files_the_kernel_refuses_serves_on_uncounted_then_counts_again(
    app: Flask, tmp_path: Path, fsize: int
) -> None:
    directory = tmp_path / "metrics"
    result = run_worker(directory, endpoints_of(app), fsize=fsize)

    assert result["reserved"] is False
    assert result["before"] == {}  # what it created it removed: no sparse file left behind
    assert result["counted_while_refused"] is False  # 36,000 requests, none of them lost
    after = result["after"]
    assert isinstance(after, dict) and len(after) == 2
    for size, allocated in after.values():
        assert allocated >= size > fsize
    log = str(result["log"])
    assert "File too large" in log and "counts nothing until its files fit" in log
    assert "counts again" in log
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    assert request_series(registry) == {("public.list_comments", "GET", "200")}
