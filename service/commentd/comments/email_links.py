"""What the links in emails may do to a comment, and the rules that keep them to it:
moderating from the author's notice, restoring a comment from the spam digest, confirming an
address (COMMENTD_MODERATION=known), opting into reply notices (double opt-in), unsubscribing.

notify.links signs and reads the tokens; here a link is only what it says (the Protocols
below). Every link names its comment by id *and* by a stamp of that very row, so a link whose
comment was erased and whose id went to another comment acts on nothing (`names`). Links that
act work once: their nonce is spent in the acting transaction. Each `open_*` checks a link as
its page shows it (reads only); each acting function checks again, then acts; both raise the
refusals below. None commits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commentd.comments import history
from commentd.comments.events import CommentEvents
from commentd.comments.identity import confirm_address
from commentd.comments.moderation import moderate
from commentd.comments.queries import get_comment
from commentd.errors import ApiError, NotFound
from commentd.models import Comment, CommentStatus, SpentLink, utcnow

# itsdangerous signs with whole seconds: a comment stored in the second its link was signed
# still counts as older than the link (only for links signed before stamps existed).
_SIGNED_AT_GRAIN = timedelta(seconds=1)


class LinkRefused(ApiError):
    """A link that may not act (or be shown): the subclasses say why, each with the status,
    machine code and message that API.md gives the link pages (Emails)."""

    status = 409
    code = "link_used"
    default_message = "This link was already used."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class LinkInvalid(LinkRefused):
    """Forged, mangled, signed with another site's key, or not made for this commenter."""

    status = 404
    code = "link_invalid"
    default_message = "This link is not valid."


class LinkExpired(LinkRefused):
    """Signed by this site, but older than links of its kind may be (API.md, Emails)."""

    status = 410
    code = "link_expired"
    default_message = "This link is too old to use."


class CommentGone(LinkRefused):
    """The link's comment no longer exists (erased)."""

    status = 404
    code = "not_found"
    default_message = "This comment no longer exists."


class LinkStale(LinkRefused):
    """The link's comment was erased and its id now belongs to another comment: nothing is
    done to that one."""

    status = 410
    code = "link_stale"
    default_message = (
        "The comment this link was sent for no longer exists; the comment now stored under "
        "its number is a different one, so nothing was changed. Use the moderation page."
    )


class NothingToDo(LinkRefused):
    """The link was used already, or its comment no longer waits for what the link does
    (409 link_used)."""

    def __init__(self, comment: Comment) -> None:
        super().__init__()
        self.comment = comment  # as it is now, for the page that says so


class UsedMeanwhile(LinkRefused):
    """Another click on the same link acted first (two requests raced); this one did nothing
    (409 link_used). `comment` is the comment as that click left it, where the caller asked."""

    def __init__(self, comment: Comment | None = None) -> None:
        super().__init__()
        self.comment = comment


class MailedLink(Protocol):
    """What every email link says about its comment (notify.links makes and reads them)."""

    @property
    def comment_id(self) -> int:
        """The id of the comment the email was about."""
        ...

    @property
    def stamp(self) -> int | None:
        """comment_stamp() of that comment when the link was made; None in old links."""
        ...

    @property
    def signed_at(self) -> datetime | None:
        """When the link was signed (UTC), if the token says."""
        ...


class SingleUseLink(MailedLink, Protocol):
    """A link that acts, once: its nonce is spent when it does."""

    @property
    def nonce(self) -> str:
        """The link's one-time number, spent (stored) when it acts."""
        ...


class CommenterLink(SingleUseLink, Protocol):
    """A link mailed to a commenter's address about one of their comments."""

    @property
    def commenter_id(self) -> int:
        """The commenter whose address the link was mailed to."""
        ...


def comment_stamp(comment: Comment) -> int:
    """The row's own mark: its creation time in microseconds since the epoch (UTC).

    A comment that takes over an erased comment's id was necessarily created later, so it
    never has the stamp of the one a link was made for.
    """
    created = comment.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    delta = created - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def names(link: MailedLink, comment: Comment) -> bool:
    """Whether `comment` is the very comment the link was made for, not a later one that was
    given the same id.

    A link made before stamps existed is judged by when it was signed: its comment existed
    then, so a comment created after that is another one. An unsubscribe link that old has no
    time either and is taken at its word.
    """
    if link.stamp is not None:
        return link.stamp == comment_stamp(comment)
    if link.signed_at is None:
        return True
    return bool(comment.created_at < link.signed_at + _SIGNED_AT_GRAIN)


def is_spent(session: Session, nonce: str) -> bool:
    """Whether a single-use link with this nonce has acted already."""
    return session.get(SpentLink, nonce) is not None


def spend(session: Session, nonce: str) -> bool:
    """Mark a single-use link used, in the caller's transaction; False if it already was.

    The primary key decides between two clicks racing in two processes.
    """
    try:
        with session.begin_nested():
            session.add(SpentLink(nonce=nonce, spent_at=utcnow()))
    except IntegrityError:
        return False
    return True


def _named_comment(session: Session, link: MailedLink) -> tuple[Comment, str]:
    """The link's comment and its slug; raises CommentGone or LinkStale."""
    try:
        comment, slug = get_comment(session, link.comment_id)
    except NotFound:
        raise CommentGone from None
    if not names(link, comment):
        raise LinkStale
    return comment, slug


def _spend_or_refuse(session: Session, link: SingleUseLink, *, reread: bool = False) -> None:
    """Spend the link's nonce; if a racing click spent it first, raise UsedMeanwhile. That
    click's transaction decided: this one is rolled back (nothing of it may stay), and with
    `reread` the comment is read again as it left it (raises NotFound if it is gone since)."""
    if spend(session, link.nonce):
        return
    session.rollback()
    raise UsedMeanwhile(get_comment(session, link.comment_id)[0] if reread else None)


# --- Approve / Reject / Spam from the author's notice ---------------------------------------


def open_moderation(session: Session, link: SingleUseLink) -> tuple[Comment, str]:
    """The comment an author's Approve/Reject/Spam link is for, and its slug, while the link
    may act; raises CommentGone, LinkStale or NothingToDo (the notice's links were used)."""
    comment, slug = _named_comment(session, link)
    if is_spent(session, link.nonce):
        raise NothingToDo(comment)
    return comment, slug


def moderate_by_link(
    session: Session, link: SingleUseLink, status: CommentStatus, *, events: CommentEvents
) -> tuple[Comment, str]:
    """Give the link's comment `status` (comments.moderate) and spend the notice's links.

    Raises what open_moderation raises, or UsedMeanwhile (with the comment as the other click
    left it) when a second click raced this one.
    """
    comment, _ = open_moderation(session, link)
    _spend_or_refuse(session, link, reread=True)
    return moderate(session, comment.id, status, events=events, actor=history.EMAIL_LINK)


# --- "Not spam" from the spam digest ----------------------------------------------------------


def open_not_spam(session: Session, link: SingleUseLink) -> tuple[Comment, str]:
    """The comment a spam digest's "Not spam" link is for, and its slug, while it is still in
    the spam folder and the link unused; raises CommentGone, LinkStale or NothingToDo."""
    comment, slug = _named_comment(session, link)
    if is_spent(session, link.nonce) or comment.status is not CommentStatus.SPAM:
        raise NothingToDo(comment)
    return comment, slug


def not_spam_by_link(
    session: Session, link: SingleUseLink, *, events: CommentEvents
) -> tuple[Comment, str]:
    """The author restores a caught comment from the spam digest, as the console's not-spam
    does: approved (published), and the learned filter learns it was ham.

    Raises what open_not_spam raises, or UsedMeanwhile (with the comment as the other click
    left it) when a second click raced this one.
    """
    comment, _ = open_not_spam(session, link)
    _spend_or_refuse(session, link, reread=True)
    return moderate(
        session,
        comment.id,
        CommentStatus.APPROVED,
        events=events,
        actor=history.EMAIL_LINK,
        action="not_spam",
    )


# --- A reader confirms an address (COMMENTD_MODERATION=known) ------------------------------


def _open_for_commenter(session: Session, link: CommenterLink) -> tuple[Comment, str]:
    comment, slug = _named_comment(session, link)
    if comment.commenter_id != link.commenter_id:
        raise LinkInvalid
    return comment, slug


def open_confirmation(session: Session, link: CommenterLink) -> tuple[Comment, str]:
    """The comment an address-confirmation link shows, and its slug, while it waits; raises
    CommentGone, LinkStale, LinkInvalid (another commenter's) or NothingToDo (used, or the
    comment is no longer pending)."""
    comment, slug = _open_for_commenter(session, link)
    if is_spent(session, link.nonce) or comment.status is not CommentStatus.PENDING:
        raise NothingToDo(comment)
    return comment, slug


def confirm_by_link(
    session: Session, link: CommenterLink, *, events: CommentEvents
) -> tuple[Comment, str]:
    """A reader proves an address (COMMENTD_MODERATION=known, new device): the commenter's
    token proves the address from now on (so it is trusted under that name and website), and
    the comment the email showed is published, nothing else.

    Raises what open_confirmation raises, or UsedMeanwhile.
    """
    comment, _ = open_confirmation(session, link)
    _spend_or_refuse(session, link)
    confirm_address(session, link.commenter_id)
    # Only what the reader saw: another comment waiting from the same browser (posted before
    # or after this email) was never shown to them, so it stays with the author.
    # The reader's own doing (they proved the address), not the author's.
    return moderate(
        session, comment.id, CommentStatus.APPROVED, events=events, actor=history.READER
    )


# --- Reply notices: double opt-in ------------------------------------------------------------


def open_notices(session: Session, link: CommenterLink) -> tuple[Comment, str]:
    """The comment a reply-notices confirmation link is for, and its slug, while its notices
    wait for confirming; raises CommentGone, LinkStale, LinkInvalid or NothingToDo (used, or
    notices were turned off)."""
    comment, slug = _open_for_commenter(session, link)
    if is_spent(session, link.nonce) or not (comment.notify or comment.notify_approved):
        raise NothingToDo(comment)
    return comment, slug


def opt_into_notices(session: Session, link: CommenterLink) -> tuple[Comment, str]:
    """Double opt-in of reply notices: the link went to the address the comment asked notices
    for, so following it proves the address for the commenter_token it was posted with.

    Raises what open_notices raises, or UsedMeanwhile.
    """
    comment, slug = open_notices(session, link)
    _spend_or_refuse(session, link)
    confirm_address(session, link.commenter_id)
    return comment, slug


# --- Unsubscribe from reply notices ----------------------------------------------------------


def open_unsubscribe(session: Session, link: MailedLink) -> Comment | None:
    """The comment an unsubscribe link was mailed about, or None if it was erased since;
    raises LinkStale."""
    comment = session.get(Comment, link.comment_id)
    if comment is not None and not names(link, comment):
        raise LinkStale
    return comment


def unsubscribe_by_link(session: Session, link: MailedLink) -> bool:
    """Stop reply notices to the address of the link's comment, for every comment of that
    address ("stop emailing me" means all of them). False when the comment was erased (and
    nothing was done); raises LinkStale. Unsubscribing twice is harmless, so no nonce."""
    comment = open_unsubscribe(session, link)
    if comment is None:
        return False
    session.execute(
        update(Comment)
        .where(
            func.lower(Comment.email) == comment.email.lower(),
            Comment.notify.is_(True) | Comment.notify_approved.is_(True),
        )
        .values(notify=False, notify_approved=False)
    )
    return True
