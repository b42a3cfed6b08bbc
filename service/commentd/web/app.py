"""commentd: a self-hosted comment service for static blogs. create_app() assembles it."""

from __future__ import annotations

from flask import Flask, Response
from sqlalchemy import Engine
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import PathConverter

from commentd import db, i18n
from commentd.config import Settings
from commentd.group_commit import GroupCommit
from commentd.keys import instance_id, load_or_create_secret
from commentd.notify.handlers import build_outbox, build_worker
from commentd.notify.notifier import Notifier
from commentd.publishing import fragment
from commentd.spam.learned import SpamFilter
from commentd.spam.rules import RulesCache
from commentd.web import (
    cors,
    email_pages,
    encoding,
    errors,
    logs,
    moderation,
    moving,
    public,
    readers,
    sessions,
    tokens,
)
from commentd.web.fast_reads import PublicReads
from commentd.web.limits import RateLimits, limiter_config
from commentd.web.page_cache import PageCache
from commentd.web.services import Services, install, of
from commentd.web.spooling import SpooledAnswers

MAX_BODY_BYTES = 64 * 1024  # API.md: a larger body gets 413


class SlugConverter(PathConverter):
    """Like `path`, but a slug may also start with "/" (normalize_slug strips it)."""

    regex = ".+?"
    part_isolating = False


def _response_headers(response: Response) -> Response:
    """`nosniff` on every answer: a browser takes JSON and SVG for what they say they are."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def create_app(settings: Settings | None = None, *, fast_reads: bool = True) -> Flask:
    """Assemble the service on a migrated database; tests pass their own Settings.

    `fast_reads` puts the PublicReads accelerator (fast_reads.py) in front of the app; without
    it the `list_comments` view answers the same bytes. Raises ConfigError for a rate-limit
    storage other than memory:// or Redis, before the database is opened.
    """
    settings = (settings or Settings.from_env()).serving_at("localhost", 8080)
    # Read now what requests would read from package files at their first use.
    i18n.load_all()
    fragment.load_templates()
    app = Flask("commentd", static_folder=None)
    # API.md: "/posts/x/" and "posts/x" are one slug; no redirect for the doubled slashes.
    app.url_map.merge_slashes = False
    app.url_map.converters["slug"] = SlugConverter
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES,
        **limiter_config(settings),  # before the engine: a bad storage URI stops here
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    engine = db.make_engine(settings.database_url, temp_in_memory=True)
    try:
        services = _services(app, settings, engine)
    except BaseException:
        # Whatever failed, the connections opened for the secret and the instance id close
        # now, not when the garbage collector finds the engine.
        engine.dispose()
        raise
    install(app, services)
    sessions.init_app(app)
    app.after_request(_response_headers)  # registered first, so it runs after the others
    logs.init_app(app)  # first: the request id and start time exist for everything after
    encoding.init_app(app)  # then: a path or query that is not UTF-8 is a 400 before any use
    from commentd.web import metrics  # imported by _services already (see there)

    metrics.init_app(app, services.metrics)
    errors.register_handlers(app)
    cors.init_app(app)
    app.register_blueprint(public.bp)
    app.register_blueprint(moderation.bp)
    app.register_blueprint(moving.bp)
    app.register_blueprint(tokens.bp)
    app.register_blueprint(tokens.session_bp)
    app.register_blueprint(email_pages.bp)
    app.register_blueprint(readers.bp)
    if fast_reads:
        app.wsgi_app = PublicReads(app.wsgi_app, services)  # type: ignore[method-assign]
    # Outermost: every answer over a megabyte is written whole before it is sent.
    app.wsgi_app = SpooledAnswers(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _services(app: Flask, settings: Settings, engine: Engine) -> Services:
    """Everything the views share, on `engine`: reads the secret and the instance id (creating
    them in a new database)."""
    secret = settings.secret_key or load_or_create_secret(engine)
    read_sessions, write_sessions = db.make_sessionmakers(engine)
    outbox = build_outbox(engine, settings, secret)
    worker = build_worker(outbox, settings)
    for factory in (read_sessions, write_sessions):
        worker.wake_on_commit(factory)  # what a request enqueues goes out at once
    # Imported here, not at the top: under `commentd serve` prometheus_client must first see
    # the multiprocess directory the server sets up (server.py).
    from commentd.web import metrics

    return Services(
        settings=settings,
        secret_key=secret,
        instance_id=instance_id(engine),  # made now: a GET of an export must write nothing
        engine=engine,
        read_sessions=read_sessions,
        write_sessions=write_sessions,
        group_commit=GroupCommit(write_sessions, db.writer(engine)),
        page_cache=PageCache(engine, settings.public_url),
        site_rules=RulesCache(settings),  # per-process copies, kept current
        spam_filter=SpamFilter(),  # from the database (site_rules, spam_filter)
        notifier=Notifier(settings, secret),
        outbox=outbox,
        worker=worker,
        rate_limits=RateLimits(app, settings, secret),
        metrics=metrics.Metrics(engine),
    )


def start_delivery(app: Flask) -> None:
    """Start this process's outbox worker (idempotent); a site that sends nothing needs none.

    The worker thread is started per server process by `commentd serve` (after gunicorn forks);
    call this under any other server.
    """
    services = of(app)
    if services.settings.smtp_url or services.settings.webhook_urls:
        services.worker.start()


def stop_delivery(app: Flask) -> None:
    """Stop this process's outbox worker once its delivery in progress is recorded."""
    of(app).worker.stop()
