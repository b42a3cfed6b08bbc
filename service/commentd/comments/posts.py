"""Posts as comments see them: found or created by slug, closed or open, and the version that
moves whenever what the public sees of a post changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commentd.comments.fast_path import bump_post, keep_title, new_version, post_state
from commentd.errors import Conflict, PostClosed, PostNotFound, ValidationFailed
from commentd.models import Comment, CommentHistory, CommentStatus, Post, UTCDateTime, utcnow


def find_post(session: Session, slug: str, *, lock: bool = False) -> Post | None:
    """The post with this (normalised) slug, if any comment ever made it exist. With `lock`,
    its row is locked FOR UPDATE until the transaction ends (PostgreSQL; SQLite's writes take
    turns): comments being posted to it are stored first, new ones wait."""
    query = select(Post).where(Post.slug == slug)
    return session.scalars(query.with_for_update() if lock else query).one_or_none()


def get_or_create_post(session: Session, slug: str) -> Post:
    """The post with this (normalised) slug, created (open, no comments) if new; flushes.

    Two first comments on one post may race: the loser of the unique slug reads the winner's.
    """
    post = find_post(session, slug)
    if post is not None:
        return post
    try:
        with session.begin_nested():
            post = Post(slug=slug, version=new_version(), approved_count=0, closed=False)
            session.add(post)
    except IntegrityError:
        post = find_post(session, slug)
        assert post is not None
    return post


def open_post(session: Session, slug: str, *, title: str | None = None) -> int:
    """The id of the post a new comment is for (created on its first comment); raises
    PostClosed (403) when the author closed it. `title`, the page's as the widget sent it,
    becomes the post's while it has none."""
    row = post_state(session, slug)
    if row is None:
        post = get_or_create_post(session, slug)
        post_id, closed, titled = post.id, post.closed, post.title is not None
    else:
        post_id, closed, titled = row
    if closed:
        raise PostClosed("Comments on this post are closed.")
    if title is not None and not titled:
        keep_title(session, post_id, title)
    return post_id


def set_closed(session: Session, slug: str, closed: bool) -> Post:
    """Close a post to new comments, or open it again; its public page says which. Flushes."""
    post = get_or_create_post(session, slug)
    if post.closed != closed:
        post.closed = closed
        session.flush()
        bump_post(session, post.id, 0)
        session.refresh(post)
    return post


def set_title(session: Session, slug: str, title: str | None) -> Post:
    """Give a post the author's title (None: none; the widget's next one is then kept).
    Creates the post if new; flushes. Titles are not public: no version moves."""
    post = get_or_create_post(session, slug)
    post.title = title
    session.flush()
    return post


@dataclass(frozen=True)
class PostSummary:
    """A post as the console lists it: its comments per status and its latest comment's time."""

    slug: str
    title: str | None
    closed: bool
    counts: dict[str, int]
    last_comment_at: datetime | None
    activity: datetime  # the latest comment's time, else the post's creation: the order
    id: int


def list_posts(
    session: Session,
    *,
    query: str | None,
    limit: int,
    after: tuple[datetime, int] | None = None,
) -> tuple[list[PostSummary], tuple[datetime, int] | None]:
    """One page of posts, newest activity first (the latest comment, else the post's
    creation; ties by id), those whose slug or title holds `query` (any case) if given.
    Keyset paging: `after` is the (activity, id) of the last post of the previous page.
    Returns the page and the key to continue after, if there is more."""
    statuses = list(CommentStatus)
    stats = (
        select(
            Comment.post_id.label("post_id"),
            *[
                func.sum(case((Comment.status == status, 1), else_=0)).label(status.value)
                for status in statuses
            ],
            func.max(Comment.created_at).label("last_comment_at"),
        )
        .group_by(Comment.post_id)
        .subquery()
    )
    activity = func.coalesce(stats.c.last_comment_at, Post.created_at, type_=UTCDateTime())
    statement = (
        select(
            Post.id,
            Post.slug,
            Post.title,
            Post.closed,
            stats.c.last_comment_at,
            activity.label("activity"),
            *[stats.c[status.value] for status in statuses],
        )
        .outerjoin(stats, stats.c.post_id == Post.id)
        .order_by(activity.desc(), Post.id.desc())
        .limit(limit + 1)
    )
    if query:
        needle = query.lower()
        statement = statement.where(
            or_(
                func.lower(Post.slug).contains(needle, autoescape=True),
                func.lower(func.coalesce(Post.title, "")).contains(needle, autoescape=True),
            )
        )
    if after is not None:
        at, post_id = after
        stamp = literal(at, UTCDateTime())
        statement = statement.where(
            or_(activity < stamp, and_(activity == stamp, Post.id < post_id))
        )
    rows = session.execute(statement).all()
    page = [
        PostSummary(
            slug=row.slug,
            title=row.title,
            closed=bool(row.closed),
            counts={status.value: int(row._mapping[status.value] or 0) for status in statuses},
            last_comment_at=row.last_comment_at,
            activity=row.activity,
            id=row.id,
        )
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return page, ((page[-1].activity, page[-1].id) if more else None)


def _lock_comments(session: Session, slug: str) -> None:
    """Lock the comments of the post at `slug` (PostgreSQL's FOR NO KEY UPDATE, in the order
    of their ids; a reply's foreign key still reads its parent) before the posts' rows: the
    order in which a decision on one comment locks (the comment, then its post to bump it).
    Locking the post first, the move then waited for a comment being decided, whose decision
    waited for the post: a deadlock, one of them a 503."""
    session.execute(
        select(Comment.id)
        .where(Comment.post_id.in_(select(Post.id).where(Post.slug == slug)))
        .order_by(Comment.id)
        .with_for_update(key_share=True)
    )


def _locked_pair(session: Session, source: str, target: str) -> tuple[Post | None, Post | None]:
    """The posts at `source` and `target` (None where there is none), both rows locked FOR
    UPDATE by one statement in the order of their ids (PostgreSQL; SQLite's writes take
    turns). One order for every move: A→B and B→A at once wait for each other in turn, where
    locking the source and then the target deadlocked them (one failed with a 503)."""
    found = session.scalars(
        select(Post)
        .where(Post.slug.in_((source, target)))
        .order_by(Post.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    by_slug = {post.slug: post for post in found}
    return by_slug.get(source), by_slug.get(target)


# How often a move renaming a post tries again when `target` was taken meanwhile and then
# freed again (another move took it away): each try waits for the one that took it.
RENAME_TRIES = 3


def _rename(session: Session, post: Post, target: str) -> Post | None:
    """Give `post` the slug `target`, which had no post when the move looked; None when done.
    A post may have arrived there since (a first comment on `target`, or another move, not yet
    committed when the move looked: no row to lock then), and the rename then meets the unique
    slug (it was a 500): the post that took `target` is returned, locked, to merge into."""
    for _ in range(RENAME_TRIES):
        try:
            with session.begin_nested():
                post.slug = target
                session.flush()
            return None
        except IntegrityError:
            # The savepoint is undone (the post keeps its slug); the winner has committed.
            into = find_post(session, target, lock=True)
            if into is not None:
                return into
    raise Conflict(f"The slug {target!r} is changing hands; try the move again.")


@dataclass(frozen=True)
class Moved:
    """What a move did: comments moved, whether they joined a post that existed, and whether
    that post took the moved one's title (it had none), with the title it has now."""

    moved: int
    merged: bool
    title_taken: bool = False
    title: str | None = None


def move_post(session: Session, source: str, target: str, *, actor: str) -> Moved:
    """The post at slug `source` is now at `target` (both normalised; its URL changed): its
    comments follow, each recording "moved" in its history. When `target` has no post, the
    post is renamed (closed flag and title kept); when it has, the comments join it (merged):
    it keeps its closed flag, and its title if set (else takes the source's), and the source
    post is deleted. Counts and versions of both slugs move. Flushes, never commits.

    Raises PostNotFound (404) when `source` has no post, ValidationFailed (422) when the
    slugs are the same.
    """
    if source == target:
        raise ValidationFailed(
            "The post is already at that slug.", fields={"to": "must differ from the post's slug"}
        )
    # Both rows locked: a comment racing the move to either slug is stored before the move or
    # after it, never on a post the move deletes (comments.fast_path's post state).
    _lock_comments(session, source)
    post, into = _locked_pair(session, source, target)
    if post is None:
        raise PostNotFound(f"There is no post {source!r}.")
    ids = session.scalars(select(Comment.id).where(Comment.post_id == post.id)).all()
    title_taken = False
    if into is None:
        into = _rename(session, post, target)
    if into is None:
        bump_post(session, post.id, 0)
    else:
        session.execute(update(Comment).where(Comment.post_id == post.id).values(post_id=into.id))
        if into.title is None and post.title is not None:
            into.title = post.title
            title_taken = True
        session.flush()
        bump_post(session, into.id, post.approved_count)
        session.delete(post)
        session.flush()
    title = (post if into is None else into).title
    session.expire_all()
    if ids:
        now = utcnow()
        detail = f"from {source} to {target}"[:600]
        rows = session.execute(
            select(Comment.id, Comment.status, Comment.reasons, Comment.spam_score).where(
                Comment.id.in_(ids)
            )
        ).all()
        session.execute(
            insert(CommentHistory),
            [
                {
                    "comment_id": row.id,
                    "at": now,
                    "action": "moved",
                    "actor": actor[:120],
                    "from_status": row.status.value,
                    "to_status": row.status.value,
                    "reasons": list(row.reasons or []),
                    "score": row.spam_score,
                    "detail": detail,
                }
                for row in rows
            ],
        )
    return Moved(moved=len(ids), merged=into is not None, title_taken=title_taken, title=title)
