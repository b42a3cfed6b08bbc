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


class CsrfFailed(ApiError):
    """403 csrf_failed: a request signed in by the hosted page's session cookie, with an unsafe
    method, lacked the session's `X-Commentd-CSRF` header (or carried another value)."""

    status = 403
    code = "csrf_failed"


class CrossOrigin(ApiError):
    """403 cross_origin: a moderation session may only be opened from the service's own
    origin (the hosted /moderate page), never from another site through CORS."""

    status = 403
    code = "cross_origin"


class Conflict(ApiError):
    """409: the request clashes with what is stored (`code` given per case: label_taken,
    too_many_tokens)."""

    status = 409
    code = "conflict"


class LabelTaken(Conflict):
    """409 label_taken: another moderation token already has this label."""

    code = "label_taken"


class TooManyTokens(Conflict):
    """409 too_many_tokens: the site holds as many moderation tokens as it may."""

    code = "too_many_tokens"


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


class ReviewUnavailable(ApiError):
    """409 review_unavailable: its writer asked to review a comment that is not one the spam
    defences caught and nobody decided on yet (the author already did, or it is not spam)."""

    status = 409
    code = "review_unavailable"


class ReviewAlreadyRequested(ApiError):
    """409 review_already_requested: a comment is sent for review once."""

    status = 409
    code = "review_already_requested"


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


class ParentNotPublic(ApiError):
    """The author replied to a comment that was rejected or filed as spam (approve it first)."""

    status = 409
    code = "parent_not_public"


class NotTopLevel(ApiError):
    """Only a top-level comment can be pinned to the top of its post."""

    status = 422
    code = "not_top_level"


class PostNotFound(ApiError):
    """No post has this slug (no comment ever made it exist)."""

    status = 404
    code = "post_not_found"
