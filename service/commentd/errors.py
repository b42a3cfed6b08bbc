"""The one error family: every refusal commentd answers with is an ApiError subclass, carrying
its HTTP status, its machine code and a human message (API.md, "Errors"). A leaf: imports
nothing of commentd's and no web framework; web/errors.py turns these into answers."""

from __future__ import annotations

import json
from typing import ClassVar


class ApiError(Exception):
    """An answer the client is owed: HTTP `status`, a `code` and a message, plus details
    (web/errors.py renders `{"error": code, "message": message, **details}`, API.md).
    """

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message, self.details = message, details


class BadRequest(ApiError):
    """400 bad_request: the request itself is malformed (a body, a slug, a parameter)."""

    status = 400
    code = "bad_request"


class ValidationFailed(ApiError):
    """422 naming every failing field: `ValidationFailed(message, fields={...})`."""

    status = 422
    code = "validation"


class TooMany(ApiError):
    """422 too_many: an action would take more items at once than the service allows."""

    status = 422
    code = "too_many"


class Unauthorized(ApiError):
    """401: a bearer or commenter token is missing or not known here."""

    status = 401
    code = "unauthorized"


class OriginNotAllowed(ApiError):
    """403: a browser posted from an origin not in COMMENTD_ALLOWED_ORIGINS."""

    status = 403
    code = "origin_not_allowed"


class NotFound(ApiError):
    """404 not_found: no such comment (or other named thing)."""

    status = 404
    code = "not_found"


class UnsupportedMediaType(ApiError):
    """415: a comment body that is neither JSON nor an HTML form."""

    status = 415
    code = "unsupported_media_type"


class PostClosed(ApiError):
    """403 comments_closed: the author closed the post to new comments."""

    status = 403
    code = "comments_closed"


class NotYours(ApiError):
    """403 not_yours: the commenter_token did not post this comment on this post. A wrong token,
    an unknown id and an id of another post all get this same answer (API.md)."""

    status = 403
    code = "not_yours"


class EditWindowClosed(ApiError):
    """403 edit_window_closed: the comment's writer asked after COMMENTD_EDIT_MINUTES."""

    status = 403
    code = "edit_window_closed"


class RateLimited(ApiError):
    """429 with `Retry-After: retry_after` (whole seconds, at least 1)."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


def error_json(code: str, message: str, **details: object) -> bytes:
    """The body of every error answer: {"error": code, "message": ..., details...}."""
    return json.dumps(
        {"error": code, "message": message, **details}, ensure_ascii=False, separators=(",", ":")
    ).encode()
