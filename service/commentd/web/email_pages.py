"""The pages behind links in emails: moderate from the author's notice, confirm an address,
unsubscribe from reply notices.

Mail scanners open links (GET) and probe them (HEAD, OPTIONS), so each link has two views: the
GET view (which Flask also answers HEAD with) only ever shows a page with a button, and a
separate POST view, the button's, is the only one that acts. Links that act are signed,
expire, work once, and name the very comment they were made for (links.names).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, render_template, request
from sqlalchemy import func, update
from sqlalchemy.orm import Session

from commentd import comments
from commentd.errors import NotFound
from commentd.models import Comment, CommentStatus
from commentd.notify import links
from commentd.notify.notifier import confirm_address as prove_address
from commentd.web.errors import error_response
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


def _link_max_age() -> int:
    return current().settings.action_link_days * 86400


def page(status: int, title: str, message: str, *, code: str = "", **context: Any) -> Response:
    """An HTML page for a person who followed a link; JSON (API.md) for a client that asks."""
    wants = request.accept_mimetypes.best_match(["text/html", "application/json"])
    if status >= 400 and wants == "application/json":
        response = error_response(status, code, message)
    else:
        html = render_template("action.html", title=title, message=message, **context)
        response = Response(html, status=status, mimetype="text/html")
    response.headers.update(PAGE_HEADERS)
    return response


def _bad_link(error: Exception) -> Response:
    if isinstance(error, links.LinkExpired):
        return page(
            410,
            "Link expired",
            "This link is too old to use.",
            code="link_expired",
        )
    return page(404, "Unknown link", "This link is not valid.", code="link_invalid")


def _gone() -> Response:
    return page(404, "Comment gone", "This comment no longer exists.", code="not_found")


def _replaced() -> Response:
    """The link's comment was erased and its number now belongs to another comment."""
    return page(
        410,
        "Comment gone",
        "The comment this link was sent for no longer exists; the comment now stored under "
        "its number is a different one, so nothing was changed. Use the moderation page.",
        code="link_stale",
    )


LinkT = TypeVar("LinkT", bound=links.NamedLink)


def _open_link(
    read: Callable[[str, str, int], LinkT], token: str
) -> tuple[LinkT, Session, Comment, str] | Response:
    """The signed link's contents, the request's session and the comment it names (with its
    post's slug); or, when the link is bad or its comment gone or replaced, the page that
    says so."""
    try:
        link = read(_secret(), token, _link_max_age())
    except (links.LinkInvalid, links.LinkExpired) as error:
        return _bad_link(error)
    session = get_session(write=request.method == "POST")  # the page's button acts
    try:
        comment, slug = comments.get_comment(session, link.comment_id)
    except NotFound:
        return _gone()
    if not links.names(link, comment):
        return _replaced()
    return link, session, comment, slug


def _used(comment: Comment) -> Response:
    return page(
        409,
        "Link already used",
        f"This email's links were already used; nothing was changed. The comment is now "
        f"{comment.status.value}. To change it, use the moderation page.",
        code="link_used",
    )


# --- Approve / Reject / Spam from the author's notice ---------------------------------------


def _open_moderation(token: str) -> tuple[links.ModerationLink, Session, Comment, str] | Response:
    opened = _open_link(links.read_moderation_token, token)
    if isinstance(opened, Response):
        return opened
    link, session, comment, _ = opened
    if links.is_spent(session, link.nonce):
        return _used(comment)
    return opened


@bp.get("/moderate/<token>")
def show_moderation(token: str) -> Response:
    """The page of an Approve, Reject or Spam link (API.md, Emails): a button, no change."""
    opened = _open_moderation(token)
    if isinstance(opened, Response):
        return opened
    link, _, comment, slug = opened
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
    opened = _open_moderation(token)
    if isinstance(opened, Response):
        return opened
    link, session, comment, slug = opened
    if not links.spend(session, link.nonce):  # a second click raced this one
        session.rollback()
        return _used(comments.get_comment(session, link.comment_id)[0])
    current().notifier.moderate(session, comment.id, STATUS_FOR[link.action])
    session.commit()
    title, done = DONE[link.action]
    return page(200, title, done, comment=comment, slug=slug)


# --- A reader confirms an address (COMMENTD_MODERATION=known) ------------------------------


def _open_confirmation(
    token: str,
) -> tuple[links.ConfirmationLink, Session, Comment, str] | Response:
    opened = _open_link(links.read_confirmation_token, token)
    if isinstance(opened, Response):
        return opened
    link, session, comment, _ = opened
    if comment.commenter_id != link.commenter_id:
        return page(404, "Unknown link", "This link is not valid.", code="link_invalid")
    if links.is_spent(session, link.nonce) or comment.status is not CommentStatus.PENDING:
        return page(
            409,
            "Already handled",
            f"Nothing to confirm any more: the comment is {comment.status.value}.",
            code="link_used",
        )
    return opened


@bp.get("/confirm/<token>")
def show_confirmation(token: str) -> Response:
    """The page of a confirmation link: the comment the email showed, and a button."""
    opened = _open_confirmation(token)
    if isinstance(opened, Response):
        return opened
    _, _, comment, slug = opened
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
    on under that name and website (comments.submit)."""
    opened = _open_confirmation(token)
    if isinstance(opened, Response):
        return opened
    link, session, comment, slug = opened
    if not links.spend(session, link.nonce):
        session.rollback()
        return page(409, "Already handled", "This link was already used.", code="link_used")
    # The link went to the address: its token proves the address (reply notices) from now on.
    prove_address(session, link.commenter_id)
    # Only what the reader saw: another comment waiting from the same browser (posted before
    # or after this email) was never shown to them, so it stays with the author.
    current().notifier.moderate(session, comment.id, CommentStatus.APPROVED)
    session.commit()
    return page(200, "Thank you", "Your comment is published.", comment=comment, slug=slug)


# --- Unsubscribe from reply notices ----------------------------------------------------------


def _open_unsubscribe(token: str) -> tuple[Session, Comment | None] | Response:
    try:
        link = links.read_unsubscribe_token(_secret(), token)
    except links.LinkInvalid as error:
        return _bad_link(error)
    session = get_session(write=request.method == "POST")  # the page's button acts
    comment = session.get(Comment, link.comment_id)
    if comment is not None and not links.names(link, comment):
        return _replaced()
    return session, comment


@bp.get("/unsubscribe/<token>")
def show_unsubscribe(token: str) -> Response:
    """The page of an unsubscribe link: a button, no change."""
    opened = _open_unsubscribe(token)
    if isinstance(opened, Response):
        return opened
    _, comment = opened
    if comment is None:
        return page(200, "Unsubscribed", "You will get no more reply notices for this comment.")
    return page(
        200,
        "Unsubscribe?",
        "Stop emails about replies to your comments on this site.",
        button="Unsubscribe",
    )


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str) -> Response:
    """Stop reply notices to this address; also RFC 8058's one-click unsubscribe."""
    opened = _open_unsubscribe(token)
    if isinstance(opened, Response):
        return opened
    session, comment = opened
    if comment is None:
        return page(200, "Unsubscribed", "You will get no more reply notices for this comment.")
    # Every comment of the address: "stop emailing me" means all of them.
    session.execute(
        update(Comment)
        .where(func.lower(Comment.email) == comment.email.lower(), Comment.notify.is_(True))
        .values(notify=False)
    )
    session.commit()
    return page(200, "Unsubscribed", "You will get no more reply notices from this site.")


# --- Reply notices: double opt-in ------------------------------------------------------------


def _open_notices(token: str) -> tuple[links.ConfirmationLink, Session, Comment, str] | Response:
    opened = _open_link(links.read_notices_token, token)
    if isinstance(opened, Response):
        return opened
    link, session, comment, _ = opened
    if comment.commenter_id != link.commenter_id:
        return page(404, "Unknown link", "This link is not valid.", code="link_invalid")
    if links.is_spent(session, link.nonce) or not comment.notify:
        return page(
            409,
            "Already handled",
            "Nothing to confirm any more: this link was used, or notices were turned off.",
            code="link_used",
        )
    return opened


@bp.get("/notices/<token>")
def show_notices_confirmation(token: str) -> Response:
    """The page of a reply-notice confirmation link: the comment, and a button."""
    opened = _open_notices(token)
    if isinstance(opened, Response):
        return opened
    _, _, comment, slug = opened
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
    opened = _open_notices(token)
    if isinstance(opened, Response):
        return opened
    link, session, comment, slug = opened
    if not links.spend(session, link.nonce):
        session.rollback()
        return page(409, "Already handled", "This link was already used.", code="link_used")
    prove_address(session, link.commenter_id)
    session.commit()
    return page(
        200,
        "Confirmed",
        "You will get an email when a reply to your comment is published.",
        comment=comment,
        slug=slug,
    )
