"""Who wrote a comment, as far as the service can tell: commenter tokens, the (name, website)
identity trust is bound to (COMMENTD_MODERATION=known), proven addresses, and avatars."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Table, bindparam, exists, select, update
from sqlalchemy.orm import Session

from commentd.keys import keyed_hash, token_hash
from commentd.models import Comment, Commenter, CommentStatus, utcnow

# At most this many distinct (name, website) pairs are compared for trust: a commenter with
# more approved identities than that is still trusted under the ones found first.
IDENTITIES_COMPARED = 50


@dataclass(frozen=True)
class TokenHolder:
    """The commenter a commenter_token was handed to: its id and its address (lower case)."""

    id: int
    email: str


_COMMENTERS = cast(Table, Commenter.__table__)
# Built once and run on the session's connection: a returning reader's every post, edit and
# status check starts here. 21-22 µs of CPU against 116-121 µs for loading the Commenter
# entity (SQLite, in-process, 2,000 lookups, this machine).
_BY_TOKEN = select(_COMMENTERS.c.id, _COMMENTERS.c.email).where(
    _COMMENTERS.c.token_hash == bindparam("token_hash")
)


def commenter_by_token(session: Session, commenter_token: str) -> TokenHolder | None:
    """The commenter a commenter_token was handed to, if any (tokens are stored hashed)."""
    row = (
        session.connection()
        .execute(_BY_TOKEN, {"token_hash": token_hash(commenter_token)})
        .one_or_none()
    )
    return None if row is None else TokenHolder(int(row.id), str(row.email))


def proven_commenter(session: Session, email_key: str, commenter_token: str | None) -> int | None:
    """The id of the commenter whose token this is, if it was issued for this address
    (`email_key`: lower case); None for no token, an unknown one, or another address's."""
    if not commenter_token:
        return None
    commenter = commenter_by_token(session, commenter_token)
    if commenter is None or commenter.email != email_key:
        return None
    return commenter.id


def same_name_key(name: str) -> str:
    """How display names are compared for trust: two names are one when they differ only in
    case, spacing (runs of any white space, leading or trailing), Unicode compatibility forms
    (NFKC: full-width letters, ligatures) or invisible format characters (zero-width spaces,
    bidi controls). "Dana", " dana " and "DANA" are one name; "Dana S." is another."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return " ".join(visible.split())


def same_website_key(website: str | None) -> str:
    """How websites are compared for trust: scheme and host without regard to case, and a
    trailing "/" ignored ("https://Dana.example/" is "https://dana.example"); path, query and
    fragment otherwise as typed. No website is "" (a different identity from any website)."""
    if not website:
        return ""
    try:
        parts = urlsplit(website.strip())
    except ValueError:
        return website.strip()
    path = parts.path.rstrip("/")
    tail = (f"?{parts.query}" if parts.query else "") + (
        f"#{parts.fragment}" if parts.fragment else ""
    )
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}{tail}"


def identity_key(name: str, website: str | None) -> tuple[str, str]:
    """The (name, website) a commenter is known by: trust in `known` mode is bound to it."""
    return same_name_key(name), same_website_key(website)


def has_approved_identity(
    session: Session, whose: ColumnElement[bool], name: str, website: str | None
) -> bool:
    """Whether an approved comment matching `whose` (a condition on comments) was published
    under this display name and website (identity_key)."""
    wanted = identity_key(name, website)
    rows: Iterable[Any] = session.execute(
        select(Comment.name, Comment.website)
        .where(whose, Comment.status == CommentStatus.APPROVED)
        .distinct()
        .limit(IDENTITIES_COMPARED)
    )
    return any(identity_key(row.name, row.website) == wanted for row in rows)


def is_trusted(session: Session, commenter_id: int, name: str, website: str | None) -> bool:
    """`known` mode: the proven commenter has an approved comment under this very name and
    website. A proven browser posting as someone else (another name or website) waits."""
    return has_approved_identity(session, Comment.commenter_id == commenter_id, name, website)


def known_address_identity(session: Session, comment: Comment) -> bool:
    """Whether any commenter of this comment's address has an approved comment under its name
    and website: what a known address on a new browser must show to be asked to confirm."""
    of_address = Comment.commenter_id.in_(
        select(Commenter.id).where(Commenter.email == comment.email.lower())
    )
    return has_approved_identity(session, of_address, comment.name, comment.website)


def address_proven(session: Session, comment: Comment) -> bool:
    """Whether `comment` was posted with a commenter_token whose owner confirmed the address
    (followed a link mailed to it and pressed its button). A token alone proves nothing of the
    kind: one is handed out with every 201, whatever address was typed."""
    if comment.commenter_id is None:
        return False
    return bool(
        session.scalar(
            select(
                exists().where(
                    Commenter.id == comment.commenter_id,
                    Commenter.email == comment.email.lower(),
                    Commenter.confirmed_at.is_not(None),
                )
            )
        )
    )


def confirm_address(session: Session, commenter_id: int) -> None:
    """A link mailed to the commenter's address was followed and confirmed: its token now
    proves the address (from the first confirmation on). In the caller's transaction."""
    session.execute(
        update(Commenter)
        .where(Commenter.id == commenter_id, Commenter.confirmed_at.is_(None))
        .values(confirmed_at=utcnow())
    )


def avatar_key(secret: str, commenter_id: int) -> str:
    """What a comment's identicon is drawn from: its commenter identity (the one a
    commenter_token proves), keyed-hashed (32 hex characters). The same for every comment of
    that identity."""
    return keyed_hash(secret, "avatar", f"commenter\0{commenter_id}")
