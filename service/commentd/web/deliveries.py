"""The author's view of the outbox: how much waits to be sent, and what keeps failing."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from commentd.db import get_session
from commentd.notify import outbox
from commentd.web.auth import require_moderator

bp = Blueprint("deliveries", __name__, url_prefix="/api/moderation")
bp.before_request(require_moderator)


@bp.get("/outbox")
def show_outbox() -> Response:
    """Counts per state (pending, sent, skipped, failed) and the events that are failing."""
    return jsonify(outbox.summary(get_session()))


@bp.post("/outbox/retry")
def retry_outbox() -> Response:
    """Give up-on events a fresh set of attempts (say, after fixing COMMENTD_SMTP_URL)."""
    session = get_session()
    retried = outbox.retry_failed(session)
    session.commit()
    return jsonify(retried=retried)
