"""The pages behind links in emails: moderate from the author's notice, confirm an address,
unsubscribe from reply notices.

Mail scanners open links, so opening one (GET) only shows a page with a button; the button's
POST acts. Links that act are signed, expire, and work once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from flask import Blueprint, Response, current_app, render_template, request
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .. import comments, links
from ..db import get_session
from ..errors import NotFound, error_response
from ..extensions import current_settings
from ..models import Comment, CommentStatus
from ..notifications import confirm_address as prove_address
from ..notifications import current_notifier

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
    secret: str = current_app.extensions["secret_key"]
    return secret


def _link_max_age() -> int:
    return current_settings().action_link_days * 86400


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


class _NamesComment(Protocol):
    @property
    def comment_id(self) -> int: ...


LinkT = TypeVar("LinkT", bound=_NamesComment)


def _open_link(
    read: Callable[[str, str, int], LinkT], token: str
) -> tuple[LinkT, Session, Comment, str] | Response:
    """The signed link's contents, the request's session and the comment it names (with its
    post's slug); or, when the link is bad or the comment gone, the page that says so."""
    try:
        link = read(_secret(), token, _link_max_age())
    except (links.LinkInvalid, links.LinkExpired) as error:
        return _bad_link(error)
    session = get_session()
    try:
        comment, slug = comments.get_comment(session, link.comment_id)
    except NotFound:
        return _gone()
    return link, session, comment, slug


def _used(comment: Comment) -> Response:
    return page(
        409,
        "Link already used",
        f"This email's links were already used; nothing was changed. The comment is now "
        f"{comment.status.value}. To change it, use the moderation page.",
        code="link_used",
    )


@bp.route("/moderate/<token>", methods=["GET", "POST"])
def moderate_from_email(token: str) -> Response:
    """Approve, reject or mark as spam from the author's notice (API.md, Emails)."""
    opened = _open_link(links.read_moderation_token, token)
    if isinstance(opened, Response):
        return opened
    link, session, comment, slug = opened
    if links.is_spent(session, link.nonce):
        return _used(comment)
    title, done = DONE[link.action]
    label = BUTTONS[link.action]
    if request.method == "GET":
        return page(
            200,
            f"{label}?",
            f"The comment is {comment.status.value}. Press the button to act.",
            comment=comment,
            slug=slug,
            button=label,
        )
    if not links.spend(session, link.nonce):  # a second click raced this one
        session.rollback()
        return _used(comments.get_comment(session, link.comment_id)[0])
    current_notifier().moderate(session, comment.id, STATUS_FOR[link.action])
    session.commit()
    return page(200, title, done, comment=comment, slug=slug)


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm_address(token: str) -> Response:
    """A reader proves an address (COMMENTD_MODERATION=known, new device): their waiting
    comments from that browser are published, and its commenter_token is trusted from then on
    (trust is having an approved comment)."""
    opened = _open_link(links.read_confirmation_token, token)
    if isinstance(opened, Response):
        return opened
    link, session, comment, slug = opened
    if comment.commenter_id != link.commenter_id:
        return page(404, "Unknown link", "This link is not valid.", code="link_invalid")
    if links.is_spent(session, link.nonce) or comment.status is not CommentStatus.PENDING:
        return page(
            409,
            "Already handled",
            f"Nothing to confirm any more: the comment is {comment.status.value}.",
            code="link_used",
        )
    if request.method == "GET":
        return page(
            200,
            "Is this your comment?",
            "If you wrote this comment, confirm it: it will be published, and the browser "
            "you wrote it in will be recognised from now on.",
            comment=comment,
            slug=slug,
            button="Yes, I wrote it",
        )
    if not links.spend(session, link.nonce):
        session.rollback()
        return page(409, "Already handled", "This link was already used.", code="link_used")
    # Every comment that waited only because this browser was new (no spam signal held it).
    waiting = session.scalars(
        select(Comment.id).where(
            Comment.commenter_id == link.commenter_id, Comment.status == CommentStatus.PENDING
        )
    ).all()
    # The link went to the address: its token proves the address (reply notices) from now on.
    prove_address(session, link.commenter_id)
    notifier = current_notifier()
    for comment_id in waiting:
        held, _ = comments.get_comment(session, comment_id)
        if comment_id == comment.id or not held.reasons:
            notifier.moderate(session, comment_id, CommentStatus.APPROVED)
    session.commit()
    return page(200, "Thank you", "Your comment is published.", comment=comment, slug=slug)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Response:
    """Stop reply notices to this address; the POST is also RFC 8058's one-click unsubscribe."""
    try:
        comment_id = links.read_unsubscribe_token(_secret(), token)
    except (links.LinkInvalid, links.LinkExpired) as error:
        return _bad_link(error)
    session = get_session()
    comment = session.get(Comment, comment_id)
    if comment is None:
        return page(200, "Unsubscribed", "You will get no more reply notices for this comment.")
    email_key = comment.email.lower()
    if request.method == "GET":
        return page(
            200,
            "Unsubscribe?",
            "Stop emails about replies to your comments on this site.",
            button="Unsubscribe",
        )
    # Every comment of the address: "stop emailing me" means all of them.
    session.execute(
        update(Comment)
        .where(func.lower(Comment.email) == email_key, Comment.notify.is_(True))
        .values(notify=False)
    )
    session.commit()
    return page(200, "Unsubscribed", "You will get no more reply notices from this site.")


@bp.route("/notices/<token>", methods=["GET", "HEAD", "POST"])
def confirm_notices(token: str) -> Response:
    """Double opt-in of reply notices: the link was mailed to the address a comment asked
    notices for; its page shows the comment, and only its POST confirms (proving the address
    for the commenter_token the comment was posted with)."""
    opened = _open_link(links.read_notices_token, token)
    if isinstance(opened, Response):
        return opened
    link, session, comment, slug = opened
    if comment.commenter_id != link.commenter_id:
        return page(404, "Unknown link", "This link is not valid.", code="link_invalid")
    if links.is_spent(session, link.nonce) or not comment.notify:
        return page(
            409,
            "Already handled",
            "Nothing to confirm any more: this link was used, or notices were turned off.",
            code="link_used",
        )
    if request.method != "POST":  # GET, and HEAD from a mail scanner, only show the page
        return page(
            200,
            "Get reply notices?",
            "If you wrote this comment and want an email when someone replies to it, confirm. "
            "Each notice has an unsubscribe link.",
            comment=comment,
            slug=slug,
            button="Yes, send me reply notices",
        )
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
