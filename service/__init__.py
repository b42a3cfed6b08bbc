"""commentd: a self-hosted comment service for static blogs. create_app() assembles it."""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from . import db, errors, logs
from .api import cors, moderation, public
from .config import Settings
from .extensions import limiter
from .feed import PublicFeed
from .keys import load_or_create_secret

MAX_BODY_BYTES = 64 * 1024  # API.md: a larger body gets 413


def _response_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.status_code not in (429, 503):
        # flask-limiter adds Retry-After to every limited response; it means "wait" on 429/503.
        response.headers.pop("Retry-After", None)
    return response


def create_app(settings: Settings | None = None) -> Flask:
    """Assemble the service on a migrated database; tests pass their own Settings."""
    settings = (settings or Settings.from_env()).serving_at("localhost", 8080)
    app = Flask(__name__, static_folder=None)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES,
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_HEADERS_ENABLED=True,
        # Redis down must not stop posting: count in-process meanwhile, and say so in the log.
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=settings.uses_shared_rate_limit_storage,
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_KEY_PREFIX=settings.ratelimit_key_prefix,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    engine = db.make_engine(settings.database_url)
    app.extensions["settings"] = settings
    app.extensions["secret_key"] = settings.secret_key or load_or_create_secret(engine)
    app.extensions["feed"] = PublicFeed(engine, settings.public_url)
    db.init_app(app, engine)
    logs.init_app(app)  # first: the request id and start time exist for everything after
    # Imported here, not at the top: under `commentd serve` prometheus_client must first see
    # the multiprocess directory the server sets up (server.py).
    from . import metrics

    metrics.init_app(app, engine)
    limiter.init_app(app)
    errors.register_handlers(app)
    cors.init_app(app)
    app.after_request(_response_headers)
    app.register_blueprint(public.bp)
    app.register_blueprint(moderation.bp)
    return app
