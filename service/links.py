"""Links in emails: signed (itsdangerous), expiring, and single-use where they act."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import SpentLink, utcnow


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


@dataclass(frozen=True)
class ModerationLink:
    comment_id: int
    action: Action
    nonce: str  # shared by the links of one notice: deciding once spends them all


@dataclass(frozen=True)
class ConfirmationLink:
    comment_id: int
    commenter_id: int
    nonce: str


def new_nonce() -> str:
    return secrets.token_hex(16)


def _load(secret: str, salt: str, token: str, max_age: int | None) -> Any:
    try:
        if max_age is None:
            return URLSafeSerializer(secret, salt=salt).loads(token)
        return URLSafeTimedSerializer(secret, salt=salt).loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkExpired from None
    except BadSignature:
        raise LinkInvalid from None


def moderation_token(secret: str, link: ModerationLink) -> str:
    return URLSafeTimedSerializer(secret, salt=_MODERATE).dumps(
        [link.comment_id, link.action.value, link.nonce]
    )


def read_moderation_token(secret: str, token: str, max_age: int) -> ModerationLink:
    data = _load(secret, _MODERATE, token, max_age)
    try:
        comment_id, action, nonce = data
        return ModerationLink(int(comment_id), Action(action), str(nonce))
    except (TypeError, ValueError):
        raise LinkInvalid from None


def confirmation_token(secret: str, link: ConfirmationLink) -> str:
    return URLSafeTimedSerializer(secret, salt=_CONFIRM).dumps(
        [link.comment_id, link.commenter_id, link.nonce]
    )


def read_confirmation_token(secret: str, token: str, max_age: int) -> ConfirmationLink:
    data = _load(secret, _CONFIRM, token, max_age)
    try:
        comment_id, commenter_id, nonce = data
        return ConfirmationLink(int(comment_id), int(commenter_id), str(nonce))
    except (TypeError, ValueError):
        raise LinkInvalid from None


def notices_token(secret: str, link: ConfirmationLink) -> str:
    """The link of a reply-notice confirmation (double opt-in): names the comment that asked,
    and the commenter (token) that posted it, which confirming proves the address of."""
    return URLSafeTimedSerializer(secret, salt=_CONFIRM_NOTICES).dumps(
        [link.comment_id, link.commenter_id, link.nonce]
    )


def read_notices_token(secret: str, token: str, max_age: int) -> ConfirmationLink:
    data = _load(secret, _CONFIRM_NOTICES, token, max_age)
    try:
        comment_id, commenter_id, nonce = data
        return ConfirmationLink(int(comment_id), int(commenter_id), str(nonce))
    except (TypeError, ValueError):
        raise LinkInvalid from None


def unsubscribe_token(secret: str, comment_id: int) -> str:
    """Never expires: an unsubscribe link must work in the oldest mail the reader kept."""
    return URLSafeSerializer(secret, salt=_UNSUBSCRIBE).dumps(comment_id)


def read_unsubscribe_token(secret: str, token: str) -> int:
    data = _load(secret, _UNSUBSCRIBE, token, None)
    if not isinstance(data, int):
        raise LinkInvalid
    return data


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
