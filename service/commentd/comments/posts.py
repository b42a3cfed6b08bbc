"""Posts as comments see them: found or created by slug, closed or open, and the version that
moves whenever what the public sees of a post changes."""

from __future__ import annotations

import secrets

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commentd.errors import PostClosed
from commentd.models import Post


def new_version() -> str:
    """A fresh public version of a post: 16 hex characters, compared only for equality."""
    return secrets.token_hex(8)


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


def open_post(session: Session, slug: str) -> Post:
    """The post a new comment is for (created on its first comment); raises PostClosed (403)
    when the author closed it."""
    post = get_or_create_post(session, slug)
    if post.closed:
        raise PostClosed("Comments on this post are closed.")
    return post


def set_closed(session: Session, slug: str, closed: bool) -> Post:
    """Close a post to new comments, or open it again; its public page says which. Flushes."""
    post = get_or_create_post(session, slug)
    if post.closed != closed:
        post.closed = closed
        session.flush()
        bump_post(session, post.id, 0)
        session.refresh(post)
    return post


def bump_post(session: Session, post_id: int, approved_delta: int) -> None:
    """Record that what the public sees of a post changed: a new version, and its approved
    count moved by `approved_delta` (-1, 0 or +1). One UPDATE, atomic under concurrency."""
    session.execute(
        update(Post)
        .where(Post.id == post_id)
        .values(approved_count=Post.approved_count + approved_delta, version=new_version())
    )
