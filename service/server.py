"""`commentd serve`: the app on gunicorn, sized so the rate limits hold for the whole service."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from . import start_delivery, stop_delivery
from .config import Settings


def worker_plan(settings: Settings, cpus: int | None = None) -> tuple[int, int]:
    """(processes, threads per process).

    In-process rate-limit counters are only right when a single process serves; with shared
    storage (Redis) there is one process per core, each with a few threads for I/O waits.
    """
    cpus = cpus or os.cpu_count() or 1
    if settings.uses_shared_rate_limit_storage:
        return max(2, cpus), 4
    return 1, 8


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


def _after_fork(app: Flask) -> None:
    # Connections opened before the fork belong to the parent: open this process's own.
    app.extensions["engine"].dispose(close=False)
    start_delivery(app)


def serve(app: Flask, settings: Settings, host: str, port: int) -> None:
    workers, threads = worker_plan(settings)
    CommentdServer(
        app,
        {
            "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": "-",
            "errorlog": "-",
            "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
            "graceful_timeout": 20,
            "timeout": 30,
            "keepalive": 5,
            "proc_name": "commentd",
            "forwarded_allow_ips": "",  # proxies are trusted by COMMENTD_TRUSTED_PROXIES only
            "control_socket_disable": True,  # one fixed path would clash between instances
            # Each worker process delivers the outbox in a thread of its own, started after
            # the fork (threads do not survive one) and stopped before the process exits.
            "post_worker_init": lambda _worker: _after_fork(app),
            "worker_exit": lambda _server, _worker: stop_delivery(app),
        },
    ).run()
