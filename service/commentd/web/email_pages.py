"""The pages behind links in emails: moderate from the author's notice, restore a comment from
the spam digest ("Not spam"), confirm an address,
unsubscribe from reply notices, download or erase a reader's data.

Mail scanners open links (GET) and probe them (HEAD, OPTIONS), so each link has two views: the
GET view (which Flask also answers HEAD with) only ever shows a page with a button, and a
separate POST view, the button's, is the only one that acts. Links that act are signed,
expire, work once, and name the very comment they were made for (comments.email_links).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, render_template, request
from sqlalchemy.exc import DBAPIError

from commentd import comments
from commentd.comments.email_links import (
    CommentGone,
    LinkExpired,
    LinkInvalid,
    LinkRefused,
    LinkStale,
    NothingToDo,
    UsedMeanwhile,
)
from commentd.comments.validation import PrivacyKind
from commentd.models import Comment, CommentStatus
from commentd.notify import links
from commentd.web.errors import error_response, unexpected
from commentd.web.services import current
from commentd.web.sessions import get_session

bp = Blueprint("actions", __name__, url_prefix="/email")

DONE = {
    links.Action.APPROVE: ("Approved", "The comment is now public."),
    links.Action.REJECT: ("Rejected", "The comment will not be published."),
    links.Action.SPAM: ("Marked as spam", "The comment was moved to the spam folder."),
}
BUTTONS = {
    links.Action.APPROVE: "Approve",
    links.Action.REJECT: "Reject",
    links.Action.SPAM: "Mark as spam",
}
STATUS_FOR = {
    links.Action.APPROVE: CommentStatus.APPROVED,
    links.Action.REJECT: CommentStatus.REJECTED,
    links.Action.SPAM: CommentStatus.SPAM,
}
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the link is a secret: never pass it on
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}


def _secret() -> str:
    return current().secret_key


def page(status: int, title: str, message: str, *, code: str = "", **context: Any) -> Response:
    """An HTML page for a person who followed a link; for a client that asks for JSON, an
    error (status >= 400) is the JSON of every other error (API.md, Errors)."""
    wants = request.accept_mimetypes.best_match(["text/html", "application/json"])
    if status >= 400 and wants == "application/json":
        response = error_response(status, code, message)
    else:
        html = render_template("action.html", title=title, message=message, **context)
        response = Response(html, status=status, mimetype="text/html")
    response.headers.update(PAGE_HEADERS)
    return response


@bp.errorhandler(DBAPIError)
@bp.errorhandler(OSError)
@bp.errorhandler(MemoryError)
def _unavailable(error: Exception) -> Response:
    """What the service answers any request that meets this error (web.errors.unexpected:
    503 with Retry-After for a database that is down, a full disk, no files or memory; 500,
    logged, for anything else), as a page for the person who followed the link."""
    status, code, message, headers = unexpected(error)
    title = "Try again shortly" if status == 503 else "Something went wrong"
    response = page(status, title, message, code=code)
    response.headers.update(headers)
    return response


def refusal_page(refusal: LinkRefused, title: str, message: str | None = None) -> Response:
    """The page of a refused link: the refusal's status and code, its message or `message`."""
    return page(refusal.status, title, message or refusal.message, code=refusal.code)


def _bad_link(error: LinkInvalid | LinkExpired) -> Response:
    title = "Link expired" if isinstance(error, LinkExpired) else "Unknown link"
    return refusal_page(error, title)


def _link_max_age() -> int:
    return current().settings.action_link_days * 86400


def _used(comment: Comment) -> Response:
    return refusal_page(
        UsedMeanwhile(comment),
        "Link already used",
        f"This email's links were already used; nothing was changed. The comment is now "
        f"{comment.status.value}. To change it, use the moderation page.",
    )


def _handled(message: str | None = None) -> Response:
    return refusal_page(UsedMeanwhile(), "Already handled", message)


def _confirmation_done(comment: Comment) -> Response:
    return _handled(f"Nothing to confirm any more: the comment is {comment.status.value}.")


def _notices_done(comment: Comment) -> Response:
    return _handled("Nothing to confirm any more: this link was used, or notices were turned off.")


def _refused(refusal: LinkRefused, nothing_to_do: Callable[[Comment], Response]) -> Response:
    """The page of a refusal (comments.email_links); each link kind says in its own words
    what a used link, or a comment that no longer waits for it, means."""
    if isinstance(refusal, LinkExpired | LinkInvalid):
        return _bad_link(refusal)
    if isinstance(refusal, CommentGone | LinkStale):
        return refusal_page(refusal, "Comment gone")
    if isinstance(refusal, NothingToDo):
        return nothing_to_do(refusal.comment)
    if isinstance(refusal, UsedMeanwhile) and refusal.comment is not None:
        return _used(refusal.comment)
    return _handled()


# --- Approve / Reject / Spam from the author's notice ---------------------------------------


@bp.get("/moderate/<token>")
def show_moderation(token: str) -> Response:
    """The page of an Approve, Reject or Spam link (API.md, Emails): a button, no change."""
    try:
        link = links.read_moderation_token(_secret(), token, _link_max_age())
        comment, slug = comments.open_moderation(get_session(write=False), link)
    except LinkRefused as refusal:
        return _refused(refusal, _used)
    label = BUTTONS[link.action]
    return page(
        200,
        f"{label}?",
        f"The comment is {comment.status.value}. Press the button to act.",
        comment=comment,
        slug=slug,
        button=label,
    )


@bp.post("/moderate/<token>")
def moderate_from_email(token: str) -> Response:
    """The button of an Approve, Reject or Spam page: the only request that acts on it."""
    session = get_session(write=True)
    try:
        link = links.read_moderation_token(_secret(), token, _link_max_age())
        comment, slug = comments.moderate_by_link(
            session, link, STATUS_FOR[link.action], events=current().notifier
        )
    except LinkRefused as refusal:
        return _refused(refusal, _used)
    session.commit()
    title, done = DONE[link.action]
    return page(200, title, done, comment=comment, slug=slug)


# --- "Not spam" from the spam digest ----------------------------------------------------------


def _not_spam_done(comment: Comment) -> Response:
    return refusal_page(
        UsedMeanwhile(comment),
        "Already handled",
        f"This link was already used, or the comment left the spam folder; nothing was "
        f"changed. The comment is now {comment.status.value}.",
    )


@bp.get("/not-spam/<token>")
def show_not_spam(token: str) -> Response:
    """The page of a spam digest's Not spam link: the comment and a button, no change."""
    try:
        link = links.read_not_spam_token(_secret(), token, _link_max_age())
        comment, slug = comments.open_not_spam(get_session(write=False), link)
    except LinkRefused as refusal:
        return _refused(refusal, _not_spam_done)
    return page(
        200,
        "Not spam?",
        "The spam defences caught this comment. If a real reader wrote it, press the button: "
        "it is published, and the filter learns from it.",
        comment=comment,
        slug=slug,
        button="Not spam: publish it",
    )


@bp.post("/not-spam/<token>")
def not_spam_from_email(token: str) -> Response:
    """The button of a Not spam page, once: the comment is approved (the filter learns ham)."""
    session = get_session(write=True)
    try:
        link = links.read_not_spam_token(_secret(), token, _link_max_age())
        comment, slug = comments.not_spam_by_link(session, link, events=current().notifier)
    except LinkRefused as refusal:
        return _refused(refusal, _not_spam_done)
    session.commit()
    return page(200, "Published", "The comment is now public.", comment=comment, slug=slug)


# --- A reader confirms an address (COMMENTD_MODERATION=known) ------------------------------


@bp.get("/confirm/<token>")
def show_confirmation(token: str) -> Response:
    """The page of a confirmation link: the comment the email showed, and a button."""
    try:
        link = links.read_confirmation_token(_secret(), token, _link_max_age())
        comment, slug = comments.open_confirmation(get_session(write=False), link)
    except LinkRefused as refusal:
        return _refused(refusal, _confirmation_done)
    return page(
        200,
        "Is this your comment?",
        "If you wrote this comment, confirm it: it will be published, and the browser you "
        "wrote it in will be recognised from now on when you comment under this name.",
        comment=comment,
        slug=slug,
        button="Yes, I wrote it",
    )


@bp.post("/confirm/<token>")
def confirm_address(token: str) -> Response:
    """A reader proves an address (COMMENTD_MODERATION=known, new device): the comment the
    email and page showed is published, nothing else; its commenter_token is trusted from then
    on under that name and website (comments.confirm_by_link)."""
    session = get_session(write=True)
    try:
        link = links.read_confirmation_token(_secret(), token, _link_max_age())
        comment, slug = comments.confirm_by_link(session, link, events=current().notifier)
    except LinkRefused as refusal:
        return _refused(refusal, _confirmation_done)
    session.commit()
    return page(200, "Thank you", "Your comment is published.", comment=comment, slug=slug)


# --- Unsubscribe from reply notices ----------------------------------------------------------

UNSUBSCRIBED = "You will get no more reply notices for this comment."


@bp.get("/unsubscribe/<token>")
def show_unsubscribe(token: str) -> Response:
    """The page of an unsubscribe link: a button, no change."""
    try:
        link = links.read_unsubscribe_token(_secret(), token)
        comment = comments.open_unsubscribe(get_session(write=False), link)
    except LinkRefused as refusal:
        return _refused(refusal, _used)
    if comment is None:
        return page(200, "Unsubscribed", UNSUBSCRIBED)
    return page(
        200,
        "Unsubscribe?",
        "Stop emails about replies to your comments on this site.",
        button="Unsubscribe",
    )


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str) -> Response:
    """Stop reply notices to this address; also RFC 8058's one-click unsubscribe."""
    session = get_session(write=True)
    try:
        link = links.read_unsubscribe_token(_secret(), token)
        unsubscribed = comments.unsubscribe_by_link(session, link)
    except LinkRefused as refusal:
        return _refused(refusal, _used)
    if not unsubscribed:
        return page(200, "Unsubscribed", UNSUBSCRIBED)
    session.commit()
    return page(200, "Unsubscribed", "You will get no more reply notices from this site.")


# --- Reply notices: double opt-in ------------------------------------------------------------


@bp.get("/notices/<token>")
def show_notices_confirmation(token: str) -> Response:
    """The page of a reply-notice confirmation link: the comment, and a button."""
    try:
        link = links.read_notices_token(_secret(), token, _link_max_age())
        comment, slug = comments.open_notices(get_session(write=False), link)
    except LinkRefused as refusal:
        return _refused(refusal, _notices_done)
    return page(
        200,
        "Get reply notices?",
        "If you wrote this comment and want an email when someone replies to it, confirm. "
        "Each notice has an unsubscribe link.",
        comment=comment,
        slug=slug,
        button="Yes, send me reply notices",
    )


@bp.post("/notices/<token>")
def confirm_notices(token: str) -> Response:
    """Double opt-in of reply notices: the link was mailed to the address a comment asked
    notices for; only this POST (the page's button) confirms, proving the address for the
    commenter_token the comment was posted with."""
    session = get_session(write=True)
    try:
        link = links.read_notices_token(_secret(), token, _link_max_age())
        comment, slug = comments.opt_into_notices(session, link)
    except LinkRefused as refusal:
        return _refused(refusal, _notices_done)
    session.commit()
    return page(
        200,
        "Confirmed",
        "You will get an email when a reply to your comment is published.",
        comment=comment,
        slug=slug,
    )


# --- A reader's data: export or erase (POST /api/privacy/requests mailed the link) ----------

PRIVACY_PAGES = {
    PrivacyKind.EXPORT: (
        "Download your comments?",
        "Press the button to download, as a JSON file, every comment written on this site "
        "with your email address, with its post, dates and status. The link works once.",
        "Download my comments",
    ),
    PrivacyKind.ERASE: (
        "Erase your comments?",
        "Press the button to erase every comment written on this site with your email "
        "address, and everything the site keeps about the address. Replies by others stay. "
        "This cannot be undone.",
        "Erase my comments",
    ),
}


def _privacy_link(token: str) -> links.PrivacyLink:
    return links.read_privacy_token(_secret(), token)


def _privacy_used(_comment: Comment) -> Response:
    return _handled("This link was already used; ask for a new one if you need to.")


@bp.get("/privacy/<token>")
def show_privacy(token: str) -> Response:
    """The page of a data link: what pressing its button will do, and the button; no change."""
    try:
        link = _privacy_link(token)
        comments.open_privacy(get_session(write=False), link, link.kind)
    except LinkRefused as refusal:
        return _refused(refusal, _privacy_used)
    title, message, button = PRIVACY_PAGES[link.kind]
    return page(200, title, message, button=button)


@bp.post("/privacy/<token>")
def act_on_privacy(token: str) -> Response:
    """The button of a data link, once: the export as a JSON download, or the erasure (every
    comment of the address and everything about it, the rate-limit counters included)."""
    session = get_session(write=True)
    services = current()
    try:
        link = _privacy_link(token)
        if link.kind is PrivacyKind.EXPORT:
            data = comments.export_by_link(session, link)
        else:
            erased = comments.erase_by_link(session, link, events=services.notifier)
    except LinkRefused as refusal:
        return _refused(refusal, _privacy_used)
    session.commit()
    if link.kind is PrivacyKind.ERASE:
        services.rate_limits.forget_address(link.email.lower())
        return page(
            200,
            "Erased",
            f"{erased} comment{'s' if erased != 1 else ''} and everything kept about your "
            "address are gone.",
        )
    response = Response(
        json.dumps(data, ensure_ascii=False, indent=2) + "\n", mimetype="application/json"
    )
    response.headers.update(PAGE_HEADERS)
    response.headers["Content-Disposition"] = 'attachment; filename="my-comments.json"'
    return response
