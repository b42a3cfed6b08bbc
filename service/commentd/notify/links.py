"""Links in emails: signed (itsdangerous), expiring, and single-use where they act.

A link names the comment it acts on by its id *and* by a stamp of that very row (its creation
time, in microseconds): should the row be erased and its id ever be given to another comment,
the old link no longer matches and refuses to act (`names`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commentd.models import Comment, SpentLink, utcnow


class Action(StrEnum):
    """What an author's notice link does to its comment."""

    APPROVE = "approve"
    REJECT = "reject"
    SPAM = "spam"


class LinkInvalid(Exception):
    """Forged, mangled, or signed with another site's key."""


class LinkExpired(Exception):
    pass


_MODERATE = "commentd.email-moderate"
_CONFIRM = "commentd.email-confirm"
_UNSUBSCRIBE = "commentd.email-unsubscribe"
_CONFIRM_NOTICES = "commentd.email-confirm-notices"
# itsdangerous signs with whole seconds: a comment stored in the second its link was signed
# still counts as older than the link (only for links signed before stamps existed).
_SIGNED_AT_GRAIN = timedelta(seconds=1)


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


class NamedLink(Protocol):
    """What every email link says about its comment."""

    @property
    def comment_id(self) -> int: ...
    @property
    def stamp(self) -> int | None: ...
    @property
    def signed_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class ModerationLink:
    comment_id: int
    action: Action
    nonce: str  # shared by the links of one notice: deciding once spends them all
    stamp: int | None = None  # comment_stamp of the comment; None in links made before stamps
    # When the link was made (read back from the token; not part of what it says).
    signed_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ConfirmationLink:
    comment_id: int
    commenter_id: int
    nonce: str
    stamp: int | None = None
    signed_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class UnsubscribeLink:
    comment_id: int
    stamp: int | None = None  # None in links made before stamps (they never expire)
    signed_at: datetime | None = field(default=None, compare=False)  # untimed: always None


def names(link: NamedLink, comment: Comment) -> bool:
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


def new_nonce() -> str:
    return secrets.token_hex(16)


def _load_timed(secret: str, salt: str, token: str, max_age: int) -> tuple[Any, datetime]:
    try:
        data, signed_at = URLSafeTimedSerializer(secret, salt=salt).loads(
            token, max_age=max_age, return_timestamp=True
        )
    except SignatureExpired:
        raise LinkExpired from None
    except BadSignature:
        raise LinkInvalid from None
    return data, signed_at


def _stamp(extra: list[Any]) -> int | None:
    """The optional last element of a payload: the comment's stamp (absent in older links)."""
    if not extra:
        return None
    if len(extra) != 1:
        raise ValueError("not a stamp")
    if extra[0] is None:
        return None
    if isinstance(extra[0], bool) or not isinstance(extra[0], int):
        raise ValueError("not a stamp")
    return int(extra[0])


def moderation_token(secret: str, link: ModerationLink) -> str:
    """The signed token of an Approve/Reject/Spam link (`link.stamp` should be set)."""
    return URLSafeTimedSerializer(secret, salt=_MODERATE).dumps(
        [link.comment_id, link.action.value, link.nonce, link.stamp]
    )


def read_moderation_token(secret: str, token: str, max_age: int) -> ModerationLink:
    """The link a token stands for; raises LinkInvalid or LinkExpired (older than max_age s)."""
    data, signed_at = _load_timed(secret, _MODERATE, token, max_age)
    try:
        comment_id, action, nonce, *extra = data
        return ModerationLink(int(comment_id), Action(action), str(nonce), _stamp(extra), signed_at)
    except (TypeError, ValueError):
        raise LinkInvalid from None


def _dump_confirmation_link(secret: str, salt: str, link: ConfirmationLink) -> str:
    """A confirmation or notices link's signed token; the salt keeps one kind from the other."""
    return URLSafeTimedSerializer(secret, salt=salt).dumps(
        [link.comment_id, link.commenter_id, link.nonce, link.stamp]
    )


def _read_confirmation_link(secret: str, salt: str, token: str, max_age: int) -> ConfirmationLink:
    data, signed_at = _load_timed(secret, salt, token, max_age)
    try:
        comment_id, commenter_id, nonce, *extra = data
        return ConfirmationLink(
            int(comment_id), int(commenter_id), str(nonce), _stamp(extra), signed_at
        )
    except (TypeError, ValueError):
        raise LinkInvalid from None


def confirmation_token(secret: str, link: ConfirmationLink) -> str:
    """The signed token of an address-confirmation link (`link.stamp` should be set)."""
    return _dump_confirmation_link(secret, _CONFIRM, link)


def read_confirmation_token(secret: str, token: str, max_age: int) -> ConfirmationLink:
    """The link a token stands for; raises LinkInvalid or LinkExpired (older than max_age s)."""
    return _read_confirmation_link(secret, _CONFIRM, token, max_age)


def notices_token(secret: str, link: ConfirmationLink) -> str:
    """The link of a reply-notice confirmation (double opt-in): names the comment that asked
    (with its stamp), and the commenter (token) that posted it, which confirming proves the
    address of."""
    return _dump_confirmation_link(secret, _CONFIRM_NOTICES, link)


def read_notices_token(secret: str, token: str, max_age: int) -> ConfirmationLink:
    """The link a token stands for; raises LinkInvalid or LinkExpired (older than max_age s)."""
    return _read_confirmation_link(secret, _CONFIRM_NOTICES, token, max_age)


def unsubscribe_token(secret: str, link: UnsubscribeLink) -> str:
    """Never expires: an unsubscribe link must work in the oldest mail the reader kept."""
    return URLSafeSerializer(secret, salt=_UNSUBSCRIBE).dumps([link.comment_id, link.stamp])


def read_unsubscribe_token(secret: str, token: str) -> UnsubscribeLink:
    """The link a token stands for (a bare comment id in links made before stamps); raises
    LinkInvalid."""
    try:
        data = URLSafeSerializer(secret, salt=_UNSUBSCRIBE).loads(token)
    except BadSignature:
        raise LinkInvalid from None
    if isinstance(data, int) and not isinstance(data, bool):
        return UnsubscribeLink(data)
    try:
        comment_id, *extra = data
        if isinstance(comment_id, bool) or not isinstance(comment_id, int):
            raise ValueError("not an id")
        return UnsubscribeLink(comment_id, _stamp(extra))
    except (TypeError, ValueError):
        raise LinkInvalid from None


def is_spent(session: Session, nonce: str) -> bool:
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
