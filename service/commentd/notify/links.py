"""Links in emails: signed (itsdangerous), expiring, and single-use where they act.

A link names the comment it acts on by its id *and* by a stamp of that very row (its creation
time, in microseconds, comments.email_links.comment_stamp): should the row be erased and its
id ever be given to another comment, the old link no longer matches and refuses to act. What a
link may do, and the rules that keep it to that, are comments.email_links'; this module makes
and reads the tokens only.

Token payloads (JSON lists, signed with the site secret, one salt per kind):
- moderation: [comment_id, action, nonce, stamp], timed (COMMENTD_ACTION_LINK_DAYS);
- confirmation and reply-notices confirmation: [comment_id, commenter_id, nonce, stamp], timed;
- unsubscribe: [comment_id, stamp], untimed (a bare comment_id in links made before stamps);
- privacy (a reader's data export or erasure): [email, kind, nonce], timed (PRIVACY_LINK_HOURS);
- not spam (the spam digest's, one per caught comment): [comment_id, nonce, stamp], timed
  (COMMENTD_ACTION_LINK_DAYS).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from commentd.comments.email_links import LinkExpired, LinkInvalid, comment_stamp
from commentd.comments.validation import PrivacyKind

__all__ = [  # the refusals and the stamp are comments.email_links'; emails and views use them here
    "Action",
    "ConfirmationLink",
    "LinkExpired",
    "LinkInvalid",
    "ModerationLink",
    "NotSpamLink",
    "PrivacyLink",
    "UnsubscribeLink",
    "comment_stamp",
    "confirmation_token",
    "moderation_token",
    "new_nonce",
    "not_spam_token",
    "notices_token",
    "privacy_token",
    "read_confirmation_token",
    "read_moderation_token",
    "read_not_spam_token",
    "read_notices_token",
    "read_privacy_token",
    "read_unsubscribe_token",
    "unsubscribe_token",
]


class Action(StrEnum):
    """What an author's notice link does to its comment."""

    APPROVE = "approve"
    REJECT = "reject"
    SPAM = "spam"


_MODERATE = "commentd.email-moderate"
_CONFIRM = "commentd.email-confirm"
_UNSUBSCRIBE = "commentd.email-unsubscribe"
_CONFIRM_NOTICES = "commentd.email-confirm-notices"
_PRIVACY = "commentd.email-privacy"
_NOT_SPAM = "commentd.email-not-spam"
# A data link works for a day: it hands out every comment of an address, or erases them.
PRIVACY_LINK_HOURS = 24


@dataclass(frozen=True)
class ModerationLink:
    """An author's Approve, Reject or Spam link, from the notice of a new comment."""

    comment_id: int
    action: Action
    nonce: str  # shared by the links of one notice: deciding once spends them all
    stamp: int | None = None  # comment_stamp of the comment; None in links made before stamps
    # When the link was made (read back from the token; not part of what it says).
    signed_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ConfirmationLink:
    """A link mailed to a commenter's address: confirming it (COMMENTD_MODERATION=known) or
    confirming reply notices (double opt-in); the salt of its token says which."""

    comment_id: int
    commenter_id: int
    nonce: str
    stamp: int | None = None
    signed_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class UnsubscribeLink:
    """The unsubscribe link of a reply notice (and its List-Unsubscribe header)."""

    comment_id: int
    stamp: int | None = None  # None in links made before stamps (they never expire)
    signed_at: datetime | None = field(default=None, compare=False)  # untimed: always None


@dataclass(frozen=True)
class NotSpamLink:
    """The spam digest's "Not spam" link of one caught comment: approves it, once."""

    comment_id: int
    nonce: str  # its own: each comment of a digest is decided apart
    stamp: int | None = None
    signed_at: datetime | None = field(default=None, compare=False)


def new_nonce() -> str:
    """A fresh single-use nonce: 32 hex characters (SpentLink's key once used)."""
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


@dataclass(frozen=True)
class PrivacyLink:
    """The link mailed for a data export or erasure request (comments.privacy.PrivacyLink)."""

    email: str  # the address it was mailed to, normalised
    kind: PrivacyKind
    nonce: str


def privacy_token(secret: str, link: PrivacyLink) -> str:
    """The signed token of a data export or erasure link (the address travels in it, signed,
    to the mailbox it names; web/logs.py elides `<token>` from every logged path)."""
    return URLSafeTimedSerializer(secret, salt=_PRIVACY).dumps(
        [link.email, link.kind.value, link.nonce]
    )


def read_privacy_token(secret: str, token: str) -> PrivacyLink:
    """The link a token stands for; raises LinkInvalid, or LinkExpired after
    PRIVACY_LINK_HOURS."""
    data, _ = _load_timed(secret, _PRIVACY, token, PRIVACY_LINK_HOURS * 3600)
    try:
        email, kind, nonce = data
        if not isinstance(email, str) or not isinstance(nonce, str):
            raise ValueError("not a privacy link")
        return PrivacyLink(email, PrivacyKind(kind), nonce)
    except (TypeError, ValueError):
        raise LinkInvalid from None


def not_spam_token(secret: str, link: NotSpamLink) -> str:
    """The signed token of a spam digest's "Not spam" link (`link.stamp` should be set)."""
    return URLSafeTimedSerializer(secret, salt=_NOT_SPAM).dumps(
        [link.comment_id, link.nonce, link.stamp]
    )


def read_not_spam_token(secret: str, token: str, max_age: int) -> NotSpamLink:
    """The link a token stands for; raises LinkInvalid or LinkExpired (older than max_age s)."""
    data, signed_at = _load_timed(secret, _NOT_SPAM, token, max_age)
    try:
        comment_id, nonce, *extra = data
        if isinstance(comment_id, bool) or not isinstance(comment_id, int):
            raise ValueError("not an id")
        return NotSpamLink(comment_id, str(nonce), _stamp(extra), signed_at)
    except (TypeError, ValueError):
        raise LinkInvalid from None
