"""Who hears of a comment's changes: a Protocol the domain calls, so comments imports nothing
of the notifications that implement it (notify.notifier.Notifier does)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from commentd.comments.validation import PrivacyRequest
from commentd.models import Comment, CommentStatus


class CommentEvents(Protocol):
    """Told of each change in the change's own transaction, before the caller commits: what it
    does (enqueue emails and webhooks in the outbox) commits or rolls back with the change.
    Implementations may add rows to `session`; they must not commit it."""

    def submitted(self, session: Session, comment: Comment, slug: str) -> None:
        """A reader's comment was stored (with the status the rules gave it) on post `slug`."""

    def moderated(self, session: Session, comment: Comment, slug: str, *, was_public: bool) -> None:
        """A comment was given a new status; `was_public` says whether it was approved before."""

    def erasing(self, session: Session, comment: Comment, slug: str) -> None:
        """A comment is about to be erased for good (it is still stored and readable)."""

    def edited(
        self, session: Session, comment: Comment, slug: str, *, was_status: CommentStatus
    ) -> None:
        """A comment's writer changed its text; `was_status` is its status before the edit."""

    def privacy_requested(self, session: Session, request: PrivacyRequest) -> None:
        """Someone asked for the data of an address (export or erasure): the link goes to it."""

    def review_requested(self, session: Session, comment: Comment, slug: str) -> None:
        """A comment the spam defences caught waits again (pending): its writer asked the
        author to review it (comments.request_review)."""

    def forgetting_address(self, session: Session, email_key: str, comment_ids: list[int]) -> None:
        """Everything about an address is being erased (its comments, `comment_ids`, are gone
        already): drop what waits to be sent to it or about them, and what names it."""


class NoEvents:
    """Tells nobody: for callers with no notifications to enqueue (tests, imports)."""

    def submitted(self, session: Session, comment: Comment, slug: str) -> None:
        """Nothing."""

    def moderated(self, session: Session, comment: Comment, slug: str, *, was_public: bool) -> None:
        """Nothing."""

    def erasing(self, session: Session, comment: Comment, slug: str) -> None:
        """Nothing."""

    def edited(
        self, session: Session, comment: Comment, slug: str, *, was_status: CommentStatus
    ) -> None:
        """Nothing."""

    def privacy_requested(self, session: Session, request: PrivacyRequest) -> None:
        """Nothing."""

    def review_requested(self, session: Session, comment: Comment, slug: str) -> None:
        """Nothing."""

    def forgetting_address(self, session: Session, email_key: str, comment_ids: list[int]) -> None:
        """Nothing."""


NO_EVENTS = NoEvents()
