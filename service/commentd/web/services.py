"""The app's state in one typed object (Services): what create_app() builds once, where the
app keeps it, and how views reach it (`current()`).

Its parts come from several layers (the page cache, limits and metrics from web/, the notifier
and outbox from notify/, the filter and rules from spam/); web's create_app() is the one place
that builds them, so only their types are imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from commentd.config import Settings
    from commentd.group_commit import GroupCommit
    from commentd.notify.notifier import Notifier
    from commentd.notify.outbox import Outbox, Worker
    from commentd.spam.learned import SpamFilter
    from commentd.spam.rules import RulesCache
    from commentd.web.limits import RateLimits
    from commentd.web.metrics import Metrics
    from commentd.web.page_cache import PageCache


@dataclass(frozen=True, kw_only=True)
class Services:
    """Everything one app shares between its requests (one per create_app() call).

    Attributes:
        settings: the configuration, already `serving_at` its address.
        secret_key: the site secret (COMMENTD_SECRET_KEY, else the one stored in the database).
        instance_id: this service's name for itself in its exports (keys.instance_id).
        engine: the connection pool of COMMENTD_DATABASE_URL.
        read_sessions: Sessions that read (on SQLite, without the write lock).
        write_sessions: Sessions that write (on SQLite, BEGIN IMMEDIATE under a write turn).
        group_commit: writing Sessions whose commits this process groups (on SQLite): posts.
        page_cache: each post's public comment list as ready JSON bytes.
        site_rules: this process's copy of the author's stored rule changes, kept current.
        spam_filter: this process's copy of the learned filter, kept current.
        notifier: enqueues the emails and webhooks a change calls for.
        outbox: delivers what the notifier enqueued.
        worker: the outbox's delivery thread (started by `commentd serve` or start_delivery).
        rate_limits: the posting and auth-failure limits (flask-limiter).
        metrics: request counts and latencies, and the moderation queue at scrape time.
    """

    settings: Settings
    secret_key: str
    instance_id: str
    engine: Engine
    read_sessions: sessionmaker[Session]
    write_sessions: sessionmaker[Session]
    group_commit: GroupCommit
    page_cache: PageCache
    site_rules: RulesCache
    spam_filter: SpamFilter
    notifier: Notifier
    outbox: Outbox
    worker: Worker
    rate_limits: RateLimits
    metrics: Metrics


EXTENSION = "commentd"  # the one key of app.extensions that commentd uses


def install(app: Flask, services: Services) -> None:
    """Attach `services` to `app` (once, in create_app)."""
    app.extensions[EXTENSION] = services


def of(app: Flask) -> Services:
    """The Services of `app`; KeyError if create_app() did not build it."""
    services: Services = app.extensions[EXTENSION]
    return services


def current() -> Services:
    """The Services of the app handling this request (or whose app context is pushed);
    RuntimeError outside an app context."""
    return of(current_app)
