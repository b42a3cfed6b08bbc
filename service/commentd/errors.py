"""The one error family: every refusal commentd answers with is an ApiError subclass, carrying
its HTTP status, its machine code and a human message (API.md, "Errors"). A leaf: imports
nothing of commentd's and no web framework; web/errors.py turns these into answers."""

from __future__ import annotations

import json
from typing import ClassVar


class ApiError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message, self.details = message, details


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class ValidationFailed(ApiError):
    """422 naming every failing field: `ValidationFailed(message, fields={...})`."""

    status = 422
    code = "validation"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class OriginNotAllowed(ApiError):
    status = 403
    code = "origin_not_allowed"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class PostClosed(ApiError):
    status = 403
    code = "comments_closed"


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
