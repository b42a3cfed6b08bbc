"""CORS as API.md sets it: reads from anywhere, writes and moderation from allowed origins only.

A small policy of our own rather than flask-cors: the same URL (a post's comments) is readable
from every origin but writable only from some, and flask-cors decides per path, not per method.
"""

from __future__ import annotations

from flask import Flask, Response, request

from commentd.web.services import current
from commentd.web.sessions import WRITE_METHODS

# Never Access-Control-Allow-Credentials, and never X-Commentd-CSRF: no other origin may use
# the hosted moderation page's session cookie (auth.py lets it in for the own origin only).
ALLOWED_HEADERS = "Authorization, Content-Type, If-None-Match"
EXPOSED_HEADERS = "ETag, Retry-After"
PREFLIGHT_MAX_AGE = "600"


def own_origin() -> str:
    """The origin this request was sent to, lower case (`https://comments.example`)."""
    return f"{request.scheme}://{request.host}".lower()


def is_allowed_origin(origin: str) -> bool:
    """Same origin, or one listed in COMMENTD_ALLOWED_ORIGINS ("null" never is)."""
    origin = origin.rstrip("/").lower()
    settings = current().settings
    return origin in settings.allowed_origins or origin in (
        own_origin(),
        settings.public_url.lower(),
    )


def _is_write(method: str) -> bool:
    if method == "OPTIONS":
        method = request.headers.get("Access-Control-Request-Method", "").upper()
    return method in WRITE_METHODS


def add_cors_headers(response: Response) -> Response:
    """Public reads: `*` on every answer, with or without an Origin, so a copy that a CDN or
    browser cached for one origin (or for none) serves every other. Everything else under
    /api/ answers by origin (the allowed one, echoed), so it varies by Origin, even when the
    request had none."""
    if request.blueprint == "public" and not _is_write(request.method):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    elif not request.path.startswith("/api/"):
        return response
    else:
        response.vary.add("Origin")
        origin = request.headers.get("Origin")
        if not origin or not is_allowed_origin(origin):
            return response
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response


def init_app(app: Flask) -> None:
    """Add the CORS headers to every answer (add_cors_headers)."""
    app.after_request(add_cors_headers)
