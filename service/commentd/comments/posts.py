"""Posts as comments see them: found or created by slug, closed or open, and the version that
moves whenever what the public sees of a post changes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commentd.comments.fast_path import bump_post, new_version, post_state
from commentd.errors import PostClosed
from commentd.models import Post


def find_post(session: Session, slug: str) -> Post | None:
    """The post with this (normalised) slug, if any comment ever made it exist."""
    return session.scalars(select(Post).where(Post.slug == slug)).one_or_none()


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


def open_post(session: Session, slug: str) -> int:
    """The id of the post a new comment is for (created on its first comment); raises
    PostClosed (403) when the author closed it."""
    row = post_state(session, slug)
    if row is None:
        post = get_or_create_post(session, slug)
        post_id, closed = post.id, post.closed
    else:
        post_id, closed = row
    if closed:
        raise PostClosed("Comments on this post are closed.")
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
