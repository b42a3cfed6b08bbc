"""`commentd serve`: the app on gunicorn, sized so the rate limits hold for the whole service."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from . import start_delivery, stop_delivery
from .config import Settings
from .logs import logging_config

METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir() -> Path:
    """A fresh directory where every worker process keeps its metrics (prometheus_client).

    Must run before service.metrics is first imported: the library picks its storage then.
    """
    path = Path(tempfile.mkdtemp(prefix="commentd-metrics-"))
    os.environ[METRICS_DIR_VARIABLE] = str(path)
    return path


def worker_plan(settings: Settings, cpus: int | None = None) -> tuple[int, int]:
    """(processes, threads per process).

    In-process rate-limit counters are only right when a single process serves; with shared
    storage (Redis) there is one process per core. Threads are for I/O waits only (the GIL
    runs one at a time): measured on cached reads at 16 connections, 8 threads per process
    gave ~30% fewer requests/s and a p99 of 25-28 ms against 12-25 ms with 2 or 4.
    """
    cpus = cpus or os.cpu_count() or 1
    if settings.uses_shared_rate_limit_storage:
        return max(2, cpus), 4
    return 1, 4


class CommentdServer(BaseApplication):  # type: ignore[misc]
    """gunicorn's documented custom-application hook, fed from our own options."""

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


class NoAccessLineLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, minus its access line: the app writes its own, with the request id.

    With a logging config given, gunicorn assembles its access line for every request even when
    nothing will print it (about 3% of a cached read's time).
    """

    def access(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def _worker_exited(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def _remove(metrics_dir: Path | None) -> None:
    if metrics_dir is not None:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def gunicorn_options(
    settings: Settings, host: str, port: int, metrics_dir: Path | None = None
) -> dict[str, Any]:
    """The server settings of `commentd serve` (bench/ runs its trivial ceiling app on them too)."""
    workers, threads = worker_plan(settings)
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": None,  # the app logs each request itself, as JSON with its id (logs.py)
        "errorlog": "-",
        "logconfig_dict": logging_config(),
        "logger_class": NoAccessLineLogger,
        "child_exit": _worker_exited,
        "on_exit": lambda _server: _remove(metrics_dir),
        "graceful_timeout": 20,
        "timeout": 30,
        "keepalive": 5,
        "proc_name": "commentd",
        "forwarded_allow_ips": "",  # proxies are trusted by COMMENTD_TRUSTED_PROXIES only
        "control_socket_disable": True,  # one fixed path would clash between instances
    }


def serve(
    app: Flask, settings: Settings, host: str, port: int, metrics_dir: Path | None = None
) -> None:
    options = gunicorn_options(settings, host, port, metrics_dir)
    options["post_fork"] = lambda _server, _worker: _fresh_pool(app)
    # Each worker process delivers the outbox in a thread of its own, started after the fork
    # (threads do not survive one) and stopped before the process exits.
    options["post_worker_init"] = lambda _worker: start_delivery(app)
    options["worker_exit"] = lambda _server, _worker: stop_delivery(app)
    app.extensions["engine"].dispose()  # the master itself never queries: close what it opened
    CommentdServer(app, options).run()


def _fresh_pool(app: Flask) -> None:
    """In a new worker: forget the connections inherited from the master (SQLAlchemy's advice
    for forking), or two processes would talk over one database socket."""
    app.extensions["engine"].dispose(close=False)
