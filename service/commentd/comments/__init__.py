"""What can happen to a comment: submit, list, count, moderate, erase. Never commits."""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from commentd import spam
from commentd.comments.rendering import render_body
from commentd.comments.validation import CommentSubmission
from commentd.config import ModerationMode
from commentd.errors import NotFound, PostClosed, ValidationFailed
from commentd.keys import keyed_hash, new_token, token_hash
from commentd.models import Comment, Commenter, CommentStatus, Post, utcnow
from commentd.spam import learned, traps
from commentd.spam.features import extract


@dataclass(frozen=True, kw_only=True)
class SiteRules:
    """The site's policy for new comments, taken from Settings."""

    moderation: ModerationMode
    spam: spam.SpamRules
    # The process's copy of the learning filter, brought up to date by whoever made these
    # rules (site_rules.bring_up_to_date); None scores nothing (the rules still apply).
    spam_filter: learned.SpamFilter | None = None


@dataclass(frozen=True, kw_only=True)
class Sender:
    """Where a submission came from, as far as the rules may know it."""

    client_network: str  # an IPv4 address or IPv6 /64, only ever stored as a keyed hash
    secret: str


@dataclass(frozen=True)
class Submitted:
    comment: Comment
    commenter_token: str


# The statements of the post path, built once: building one costs more than running it.
# Those on the tables (Core) run on the session's connection, past the ORM's execution layer:
# about 20 µs less each, and a whole ORM UPDATE (~180 µs) less for the post's bump.
_POSTS = cast(Table, Post.__table__)
_COMMENTERS = cast(Table, Commenter.__table__)
_COMMENTS = cast(Table, Comment.__table__)
_POST_BY_SLUG = select(Post).where(Post.slug == bindparam("slug"))
_POST_STATE = select(_POSTS.c.id, _POSTS.c.closed).where(_POSTS.c.slug == bindparam("slug"))
_COMMENTER_BY_TOKEN = select(_COMMENTERS.c.id, _COMMENTERS.c.email).where(
    _COMMENTERS.c.token_hash == bindparam("token_hash")
)
_NEW_COMMENTER = insert(_COMMENTERS).returning(_COMMENTERS.c.id)
_NEW_COMMENT = insert(_COMMENTS).returning(_COMMENTS.c.id)
# At most this many distinct (name, website) pairs are compared for trust: a commenter with
# more approved identities than that is still trusted under the ones found first.
_IDENTITIES_COMPARED = 50
_LATEST_SAME_TEXT = (
    select(_COMMENTS.c.id, _COMMENTS.c.status)
    .where(_COMMENTS.c.body_key == bindparam("key"), _COMMENTS.c.created_at >= bindparam("since"))
    .order_by(_COMMENTS.c.id.desc())
    .limit(1)
)
_BUMP_POST = (
    update(_POSTS)
    .where(_POSTS.c.id == bindparam("post_id"))
    .values(
        approved_count=_POSTS.c.approved_count + bindparam("delta"),
        version=bindparam("new_version"),
    )
)


def new_version() -> str:
    return secrets.token_hex(8)


def find_post(session: Session, slug: str) -> Post | None:
    return session.scalars(_POST_BY_SLUG, {"slug": slug}).one_or_none()


def get_or_create_post(session: Session, slug: str) -> Post:
    post = find_post(session, slug)
    if post is not None:
        return post
    try:
        with session.begin_nested():  # two first comments on one post may race
            post = Post(slug=slug, version=new_version(), approved_count=0, closed=False)
            session.add(post)
    except IntegrityError:
        post = find_post(session, slug)
        assert post is not None
    return post


def set_closed(session: Session, slug: str, closed: bool) -> Post:
    """Close a post to new comments, or open it again; its public page says which."""
    post = get_or_create_post(session, slug)
    if post.closed != closed:
        post.closed = closed
        session.flush()
        _bump_post(session, post.id, 0)
        session.refresh(post)
    return post


def _open_post(session: Session, slug: str) -> int:
    """The id of the post a comment is for (created on its first comment), unless closed."""
    row = session.connection().execute(_POST_STATE, {"slug": slug}).one_or_none()
    if row is None:
        post = get_or_create_post(session, slug)
        post_id, closed = post.id, post.closed
    else:
        post_id, closed = row
    if closed:
        raise PostClosed("Comments on this post are closed.")
    return post_id


def _bump_post(session: Session, post_id: int, approved_delta: int) -> None:
    """Record that what the public sees of a post changed (atomic under concurrency)."""
    session.connection().execute(
        _BUMP_POST, {"post_id": post_id, "delta": approved_delta, "new_version": new_version()}
    )


def _proven_commenter(session: Session, submission: CommentSubmission) -> int | None:
    """The id of the commenter whose token came with this submission, if issued for its email."""
    if not submission.commenter_token:
        return None
    row = (
        session.connection()
        .execute(_COMMENTER_BY_TOKEN, {"token_hash": token_hash(submission.commenter_token)})
        .one_or_none()
    )
    if row is None or row.email != submission.email_key:
        return None
    return int(row.id)


def is_proven(session: Session, submission: CommentSubmission) -> bool:
    """Whether the submission carries the commenter_token issued for its email."""
    return _proven_commenter(session, submission) is not None


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
        .limit(_IDENTITIES_COMPARED)
    )
    return any(identity_key(row.name, row.website) == wanted for row in rows)


def _is_trusted(session: Session, commenter_id: int, submission: CommentSubmission) -> bool:
    """`known` mode: the proven commenter has an approved comment under this very name and
    website. A proven browser posting as someone else (another name or website) waits."""
    return has_approved_identity(
        session, Comment.commenter_id == commenter_id, submission.name, submission.website
    )


def _check_parent(session: Session, post_id: int, parent_id: int | None) -> None:
    """A reply's parent must be a public comment of the same post; 422 saying what it is else.

    What is said is true and tells a stranger nothing the public pages do not: an id that is
    unknown or on another post is "no comment on this post" alike; one of this post that is
    not public is waiting or removed, never why (rejected or spam stays the author's).
    """
    if parent_id is None:
        return
    parent = session.get(Comment, parent_id)
    if parent is None or parent.post_id != post_id:
        message = f"There is no comment {parent_id} on this post to reply to."
        field = "is not the id of a comment on this post"
    elif parent.status is CommentStatus.PENDING:
        message = (
            "The comment you are replying to is awaiting moderation: "
            "you can reply once it is published."
        )
        field = "is a comment awaiting moderation"
    elif parent.status is not CommentStatus.APPROVED:
        message = "The comment you are replying to has been removed."
        field = "is a comment that has been removed"
    else:
        return
    raise ValidationFailed(message, fields={"parent_id": field})


def avatar_key(secret: str, commenter_id: int) -> str:
    """What a comment's identicon is drawn from: its commenter identity (the one a
    commenter_token proves), keyed-hashed. The same for every comment of that identity."""
    return keyed_hash(secret, "avatar", f"commenter\0{commenter_id}")


def body_key(secret: str, body: str) -> str:
    """The same text, whatever its case and spacing, gives the same key (duplicate rule)."""
    return keyed_hash(secret, "body", " ".join(body.lower().split()))


def _find_duplicate(
    session: Session, key: str, window: int, now: datetime
) -> spam.Duplicate | None:
    if not window:
        return None
    since = now - timedelta(seconds=window)
    row = (
        session.connection().execute(_LATEST_SAME_TEXT, {"key": key, "since": since}).one_or_none()
    )
    if row is None:
        return None
    return spam.Duplicate(row.id, row.status is CommentStatus.SPAM)


def _filter_score(rules: SiteRules, submission: CommentSubmission) -> float | None:
    if rules.spam_filter is None:
        return None
    return rules.spam_filter.score(
        extract(submission.body, submission.name, submission.website, submission.email)
    )


def _choose_status(
    verdict: spam.SpamVerdict, mode: ModerationMode, trusted_commenter: bool
) -> CommentStatus:
    if verdict.action is spam.SpamAction.SPAM:
        return CommentStatus.SPAM
    if verdict.action is spam.SpamAction.HOLD:
        return CommentStatus.PENDING
    if mode is ModerationMode.NONE or (mode is ModerationMode.KNOWN and trusted_commenter):
        return CommentStatus.APPROVED
    return CommentStatus.PENDING


def submit(
    session: Session,
    slug: str,
    submission: CommentSubmission,
    rules: SiteRules,
    sender: Sender,
    *,
    admit: Callable[[bool], None] | None = None,
) -> Submitted:
    """Store a reader's comment with the status the site's rules give it; flushes, never commits.

    `admit(proven)` runs once nothing here can refuse the comment any more (a closed post, a
    bad parent), with whether its commenter_token proves its email; it may raise to refuse it
    (the rate limits: a refused comment must use up none of them).
    """
    post_id = _open_post(session, slug)
    _check_parent(session, post_id, submission.parent_id)

    commenter_id = _proven_commenter(session, submission)
    if admit is not None:
        admit(commenter_id is not None)
    if commenter_id is not None and submission.commenter_token:
        token = submission.commenter_token
        trusted = rules.moderation is ModerationMode.KNOWN and _is_trusted(
            session, commenter_id, submission
        )
    else:
        # A new identity: typing a known address proves nothing, so it gains no trust and
        # changes nothing stored for the address's owner. One INSERT, no unit of work: only
        # its id is needed, and a new identity has no approved comment to look up.
        token = new_token()
        commenter_id = (
            session.connection()
            .execute(
                _NEW_COMMENTER, {"email": submission.email_key, "token_hash": token_hash(token)}
            )
            .scalar_one()
        )
        trusted = False

    body_html = render_body(submission.body)
    now = utcnow()
    key = body_key(sender.secret, submission.body)
    signals = spam.Signals(
        duplicate=_find_duplicate(session, key, rules.spam.duplicate_window_seconds, now),
        filter_score=_filter_score(rules, submission),
    )
    verdict = spam.assess(
        submission,
        body_html,
        traps.check(sender.secret, submission.form_token),
        rules.spam,
        signals,
    )
    values = dict(
        post_id=post_id,
        parent_id=submission.parent_id,
        commenter_id=commenter_id,
        status=_choose_status(verdict, rules.moderation, trusted),
        name=submission.name,
        email=submission.email,
        website=submission.website,
        body=submission.body,
        body_html=body_html,
        # The identity's, not the typed email's: an avatar must not tell a stranger typing an
        # address which comments that address wrote. A commenter_token keeps it.
        avatar_key=avatar_key(sender.secret, commenter_id),
        client_key=keyed_hash(sender.secret, "client", sender.client_network),
        notify=submission.notify,
        spam_score=verdict.score,
        reasons=list(verdict.reasons),
        body_key=key,
        created_at=now,
    )
    comment = _insert_comment(session, values)
    if comment.status is CommentStatus.APPROVED:
        _bump_post(session, post_id, +1)
    return Submitted(comment, token)


def _insert_comment(session: Session, values: dict[str, Any]) -> Comment:
    """One INSERT, and the row as a detached Comment (stored, with its identity): the unit of
    work of a flush would cost more than the rest of storing it, and nothing after this reads
    or changes it through the session (joining it costs a further ~10 µs at the commit)."""
    comment = Comment(**values, lesson=None, moderated_at=None)
    comment.id = session.connection().execute(_NEW_COMMENT, values).scalar_one()
    make_transient_to_detached(comment)
    return comment


def approved_comments(session: Session, post_id: int) -> Sequence[Comment]:
    """A post's public comments, oldest first."""
    return session.scalars(
        select(Comment)
        .where(Comment.post_id == post_id, Comment.status == CommentStatus.APPROVED)
        .order_by(Comment.id)
    ).all()


def parent_links(session: Session, post_id: int) -> dict[int, int | None]:
    """id -> parent_id for every comment of a post, whatever its status."""
    rows = session.execute(
        select(Comment.id, Comment.parent_id).where(Comment.post_id == post_id)
    ).all()
    return {row.id: row.parent_id for row in rows}


def own_comment_states(
    session: Session, slug: str, commenter_token: str, ids: Collection[int]
) -> dict[int, CommentStatus] | None:
    """What became of some of a commenter's own comments on a post, for their browser.

    Of `ids`, those on `slug` that the holder of `commenter_token` wrote and that are still
    waiting or published, as id -> status (PENDING or APPROVED). The rest (rejected, spam,
    deleted, another post's or someone else's) are left out alike: to the writer they are
    gone, and a stranger learns nothing. None when no commenter holds the token.
    """
    row = (
        session.connection()
        .execute(_COMMENTER_BY_TOKEN, {"token_hash": token_hash(commenter_token)})
        .one_or_none()
    )
    if row is None:
        return None
    found = session.execute(
        select(Comment.id, Comment.status)
        .join(Post, Post.id == Comment.post_id)
        .where(
            Post.slug == slug,
            Comment.commenter_id == row.id,
            Comment.id.in_(ids),
            Comment.status.in_([CommentStatus.PENDING, CommentStatus.APPROVED]),
        )
    ).all()
    return {comment_id: status for comment_id, status in found}


def queue(
    session: Session, status: CommentStatus, *, limit: int, before_id: int | None = None
) -> tuple[list[tuple[Comment, str]], int | None]:
    """One page of the moderation queue, newest first, as (comment, slug) pairs.

    Keyset pagination on the id: comments arriving meanwhile never shift a later page.
    Returns the page and the id to continue below, if there is more.
    """
    query = (
        select(Comment, Post.slug)
        .join(Post, Post.id == Comment.post_id)
        .where(Comment.status == status)
        .order_by(Comment.id.desc())
        .limit(limit + 1)
    )
    if before_id is not None:
        query = query.where(Comment.id < before_id)
    rows = [(row[0], row[1]) for row in session.execute(query).all()]
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1][0].id
    return rows, None


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Comment.status, func.count()).group_by(Comment.status)).all()
    counts = {status.value: 0 for status in CommentStatus}
    counts.update({row[0].value: row[1] for row in rows})
    return counts


def get_comment(session: Session, comment_id: int) -> tuple[Comment, str]:
    row = session.execute(
        select(Comment, Post.slug)
        .join(Post, Post.id == Comment.post_id)
        .where(Comment.id == comment_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"There is no comment {comment_id}.")
    return row[0], row[1]


def moderate(
    session: Session, comment_id: int, status: CommentStatus, *, now: datetime | None = None
) -> tuple[Comment, str]:
    """Give a comment its new status; the post's public version moves if visibility changed."""
    comment, slug = get_comment(session, comment_id)
    was_public = comment.status is CommentStatus.APPROVED
    comment.status = status
    comment.moderated_at = now or utcnow()
    is_public = status is CommentStatus.APPROVED
    session.flush()
    # The author's decision is the filter's lesson; a changed decision replaces the earlier one.
    learned.teach(session, comment, learned.lesson_for(status))
    if was_public != is_public:
        _bump_post(session, comment.post_id, +1 if is_public else -1)
    return comment, slug


def erase(session: Session, comment_id: int, *, forget_lesson: bool = True) -> None:
    """Delete a comment and its personal data for good; its replies move up to its parent.

    Its lesson leaves the filter with it, unless `forget_lesson` is False (purging old spam:
    what the filter learned from spam is worth keeping, and holds no whole comment).
    """
    comment, _ = get_comment(session, comment_id)
    if forget_lesson:
        learned.teach(session, comment, None)
    session.execute(
        update(Comment).where(Comment.parent_id == comment.id).values(parent_id=comment.parent_id)
    )
    was_public = comment.status is CommentStatus.APPROVED
    email_key = comment.email.lower()
    post_id = comment.post_id
    session.delete(comment)
    session.flush()
    # The address is personal data too: forget the identities no remaining comment uses.
    session.execute(
        delete(Commenter).where(
            Commenter.email == email_key,
            ~exists().where(Comment.commenter_id == Commenter.id),
        )
    )
    _bump_post(session, post_id, -1 if was_public else 0)


def purge_spam(session: Session, older_than: datetime) -> int:
    """Erase spam-folder comments that arrived before `older_than`; returns how many.

    The only automatic deletion: a comment left in the spam folder past the retention age.
    """
    ids = session.scalars(
        select(Comment.id).where(
            Comment.status == CommentStatus.SPAM, Comment.created_at < older_than
        )
    ).all()
    for comment_id in ids:
        erase(session, comment_id, forget_lesson=False)
    return len(ids)
