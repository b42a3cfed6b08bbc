"""commentd: a self-hosted comment service for static blogs. create_app() assembles it."""

from __future__ import annotations

from flask import Flask, Response
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import PathConverter

from commentd import db
from commentd.config import Settings
from commentd.keys import load_or_create_secret
from commentd.notify import outbox
from commentd.notify.handlers import build_outbox, build_worker
from commentd.notify.notifier import Notifier
from commentd.spam.learned import SpamFilter
from commentd.spam.rules import RulesCache
from commentd.web import cors, deliveries, email_pages, encoding, errors, logs, moderation, public
from commentd.web.fast_reads import PublicReads
from commentd.web.limits import RateLimits
from commentd.web.page_cache import PublicFeed

MAX_BODY_BYTES = 64 * 1024  # API.md: a larger body gets 413


class SlugConverter(PathConverter):
    """Like `path`, but a slug may also start with "/" (normalize_slug strips it)."""

    regex = ".+?"
    part_isolating = False


def _response_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def create_app(settings: Settings | None = None) -> Flask:
    """Assemble the service on a migrated database; tests pass their own Settings."""
    settings = (settings or Settings.from_env()).serving_at("localhost", 8080)
    app = Flask("commentd", static_folder=None)
    # API.md: "/posts/x/" and "posts/x" are one slug; no redirect for the doubled slashes.
    app.url_map.merge_slashes = False
    app.url_map.converters["slug"] = SlugConverter
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    RateLimits(app, settings)  # before the engine: a bad storage URI stops here
    engine = db.make_engine(settings.database_url)
    app.extensions["settings"] = settings
    app.extensions["secret_key"] = settings.secret_key or load_or_create_secret(engine)
    app.extensions["feed"] = PublicFeed(engine, settings.public_url)
    app.extensions["site_rules"] = RulesCache(settings)  # per-process copies, kept current
    app.extensions["spam_filter"] = SpamFilter()  # from the database (site_rules, spam_filter)
    db.init_app(app, engine)
    app.after_request(_response_headers)  # registered first, so it runs after the others
    logs.init_app(app)  # first: the request id and start time exist for everything after
    encoding.init_app(app)  # then: a path or query that is not UTF-8 is a 400 before any use
    # Imported here, not at the top: under `commentd serve` prometheus_client must first see
    # the multiprocess directory the server sets up (server.py).
    from commentd.web import metrics

    metrics.init_app(app, engine)
    errors.register_handlers(app)
    cors.init_app(app)
    app.register_blueprint(public.bp)
    app.register_blueprint(moderation.bp)
    _init_notifications(app, settings)
    app.wsgi_app = PublicReads(  # type: ignore[method-assign]
        app.wsgi_app,
        app.extensions["feed"],
        app.extensions["read_sessions"],
        app.extensions["metrics"],
    )
    return app


def _init_notifications(app: Flask, settings: Settings) -> None:
    """Emails and webhooks: the Notifier enqueues, the outbox worker delivers.

    The worker thread is started per server process by `commentd serve` (after gunicorn forks);
    `start_delivery(app)` starts it under any other server.
    """
    secret = app.extensions["secret_key"]
    app.extensions["notifier"] = Notifier(settings, secret)
    app.extensions["outbox"] = build_outbox(app.extensions["engine"], settings, secret)
    app.extensions["outbox_worker"] = build_worker(app.extensions["outbox"], settings)
    app.register_blueprint(email_pages.bp)
    app.register_blueprint(deliveries.bp)
    if not event.contains(Session, "after_commit", outbox.wake_after_commit):
        event.listen(Session, "after_commit", outbox.wake_after_commit)


def start_delivery(app: Flask) -> None:
    """Start this process's outbox worker (idempotent); a site that sends nothing needs none."""
    settings: Settings = app.extensions["settings"]
    if settings.smtp_url or settings.webhook_urls:
        app.extensions["outbox_worker"].start()


def stop_delivery(app: Flask) -> None:
    app.extensions["outbox_worker"].stop()
