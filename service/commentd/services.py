"""The app's state in one typed object: what create_app() builds once and every view reaches.

Only types are imported here, never their modules: the parts come from several layers
(the page cache, limits and metrics from web/, the notifier and outbox from notify/), and web's
create_app() is the one place that builds them. Views reach the object through
`commentd.web.services.current()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from commentd.config import Settings
    from commentd.notify.notifier import Notifier
    from commentd.notify.outbox import Outbox, Worker
    from commentd.spam.learned import SpamFilter
    from commentd.spam.rules import RulesCache
    from commentd.web.limits import RateLimits
    from commentd.web.metrics import Metrics
    from commentd.web.page_cache import PublicFeed


@dataclass(frozen=True, kw_only=True)
class Services:
    """Everything one app shares between its requests (one per create_app() call).

    Attributes:
        settings: the configuration, already `serving_at` its address.
        secret_key: the site secret (COMMENTD_SECRET_KEY, else the one stored in the database).
        engine: the connection pool of COMMENTD_DATABASE_URL.
        read_sessions: Sessions that read (on SQLite, without the write lock).
        write_sessions: Sessions that write (on SQLite, BEGIN IMMEDIATE under a write turn).
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
    engine: Engine
    read_sessions: sessionmaker[Session]
    write_sessions: sessionmaker[Session]
    page_cache: PublicFeed
    site_rules: RulesCache
    spam_filter: SpamFilter
    notifier: Notifier
    outbox: Outbox
    worker: Worker
    rate_limits: RateLimits
    metrics: Metrics
