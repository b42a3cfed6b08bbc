"""The stored things: posts, comments, commenters, moderation tokens and site settings."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from commentd.db import Base


def utcnow() -> datetime:
    """Now, as an aware UTC datetime (every stored time is one)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """To the database in UTC; raises ValueError for a naive datetime."""
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """From the database as aware UTC, whatever the backend hands back."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class CommentStatus(StrEnum):
    """Where a comment stands; stored and shown by value ("pending", ...)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SPAM = "spam"


class Post(Base):
    """One post of the blog, created when its first comment arrives.

    `approved_count` and `version` change together with every change to what the public sees,
    so a read can answer from a cache (and a 304) after one indexed lookup.
    """

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(255), unique=True)
    approved_count: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[str] = mapped_column(String(32))
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The page's title as the widget found it (sent with a comment, kept while none is set),
    # or as the author set it; the moderation console shows it instead of the slug.
    title: Mapped[str | None] = mapped_column(String(300), default=None)


# SQLite gives a new row the highest id + 1, so erasing the newest row would hand its id to
# the next one; AUTOINCREMENT never reuses an id. Every table whose ids leave the database
# (in email links, Message-IDs, webhook delivery ids, the outbox's payloads) has it; PostgreSQL
# sequences never reuse ids anyway.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class Commenter(Base):
    """Someone who was handed a commenter_token: the proof that later comments are theirs.

    A token is handed to whoever posts, under any address typed: it proves "the same sender as
    before", not that the sender reads the address. `confirmed_at` is set when a link mailed to
    the address, naming this commenter, was followed and confirmed: from then on the token
    proves the address too (reply notices go only to such commenters' comments).
    """

    __tablename__ = "commenters"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)  # normalised, lower case
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the token
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Comment(Base):
    """A reader's comment. Only comments.public turns one into public JSON: email, client_key,
    body_key, reasons and scores never leave the moderation API.
    """

    __tablename__ = "comments"
    __table_args__ = (
        # The public list of a post, and the moderation queue by status: both by id.
        Index("ix_comments_post_status_id", "post_id", "status", "id"),
        Index("ix_comments_status_id", "status", "id"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id"), index=True)
    commenter_id: Mapped[int | None] = mapped_column(
        ForeignKey("commenters.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[CommentStatus] = mapped_column(  # stores "pending", not "PENDING"
        Enum(
            CommentStatus,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    name: Mapped[str] = mapped_column(String(80))
    email: Mapped[str] = mapped_column(String(254), index=True)  # moderation API only
    website: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)  # as typed
    body_html: Mapped[str] = mapped_column(Text)  # rendered and sanitised once, when stored
    avatar_key: Mapped[str] = mapped_column(String(32))  # keyed hash of the commenter
    client_key: Mapped[str | None] = mapped_column(String(32), index=True)  # keyed hash of address
    notify: Mapped[bool] = mapped_column(Boolean, default=False)
    # The reader asked for one email when the author approves it (double opt-in, as `notify`).
    notify_approved: Mapped[bool] = mapped_column(Boolean, default=False)
    spam_score: Mapped[float] = mapped_column(Float, default=0.0)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    # What the learning filter was taught from this comment ("spam", "ham" or nothing), so a
    # changed decision untrains the earlier lesson instead of counting twice.
    lesson: Mapped[str | None] = mapped_column(String(8))
    # Keyed hash of the normalised text: finds the same text posted again (duplicate rule).
    body_key: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When its writer last edited it (PATCH with their commenter_token); shown to the author.
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Written by the blog's author from the moderation API (a reply as the author): shown
    # with an "Author" badge.
    is_owner: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When the author pinned it to the top of its post (top-level comments only); None: not
    # pinned. Pinned comments show first, the newest pin first.
    pinned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class CommentHistory(Base):
    """One decision on a comment, in the order taken: who (`actor`: "reader", "rules",
    "import", "email link", "admin token", "token: <label>"), what (`action`), the status
    before and after, and the spam layers' reasons and score at the time. Erased with its
    comment (ON DELETE CASCADE). Written by comments.history.record only."""

    __tablename__ = "comment_history"
    __table_args__ = (Index("ix_comment_history_comment_id_id", "comment_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(120))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    score: Mapped[float | None] = mapped_column(Float)
    # What else the event names: the reply's id ("replied"), the slugs of a move.
    detail: Mapped[str | None] = mapped_column(String(600))


# What migration 0010_search made for the moderation console's search, outside the models:
# on SQLite the FTS5 table `comments_fts` (and the shadow tables FTS5 keeps, comments_fts_*)
# with its triggers, on PostgreSQL the generated column `comments.search_vector` and its GIN
# index; on both an index on lower(email). Alembic's comparison of models and database
# (migrations/env.py, tests/api/test_migrations.py) leaves them out: they are not models.
SEARCH_TABLE = "comments_fts"
SEARCH_COLUMNS = frozenset({"search_vector"})
SEARCH_INDEXES = frozenset({"ix_comments_search_vector", "ix_comments_email_lower"})


def include_in_comparison(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's `include_name` hook: False for the search objects above, True otherwise."""
    if type_ == "table":
        return not (name or "").startswith(SEARCH_TABLE)
    if type_ == "column":
        return name not in SEARCH_COLUMNS
    if type_ == "index":
        return name not in SEARCH_INDEXES
    return True


class CommentSource(Base):
    """Where an imported comment came from: its source system and its id there, so importing
    the same file again stores nothing new (portability/importing.py).

    `comment_id` is None once the comment was erased: the row stays, so a later import of the
    same file does not bring back what a reader had erased. `parent_source_id` is the source id
    of the comment it answered, resolved to `comments.parent_id` after each import. `markup`
    is how the source wrote `comments.body` ("html", "wordpress", "markdown", "plain").
    """

    __tablename__ = "comment_sources"
    __table_args__ = (UniqueConstraint("source", "source_id", name="uq_comment_sources_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64))  # "disqus", "wordpress", "commentd", ...
    source_id: Mapped[str] = mapped_column(String(255))
    parent_source_id: Mapped[str | None] = mapped_column(String(255))
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="SET NULL"), index=True
    )
    markup: Mapped[str] = mapped_column(String(16))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportUpload(Base):
    """An export the author is uploading through the moderation API, in parts (the server
    takes no request body above 256 KiB): what it is and how big it will be. Deleted once
    imported, or a day after it was begun (web/moving.py)."""

    __tablename__ = "import_uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, hex
    source: Mapped[str] = mapped_column(String(32))  # the format, as `commentd import` names it
    size: Mapped[int] = mapped_column(Integer)  # bytes, as announced
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportUploadPart(Base):
    """One part of an ImportUpload: bytes `number * PART_BYTES` onwards of the file."""

    __tablename__ = "import_upload_parts"

    upload_id: Mapped[str] = mapped_column(
        ForeignKey("import_uploads.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ModerationToken(Base):
    """A token made by `commentd token`; only its SHA-256 is kept."""

    __tablename__ = "moderation_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SiteSetting(Base):
    """Small site-wide values shared by every process (the generated secret key, for one)."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class OutboxState(StrEnum):
    """Where an outbox event stands."""

    PENDING = "pending"  # waiting for its first or next attempt
    SENT = "sent"
    SKIPPED = "skipped"  # nothing left to send (the comment was deleted, the reader unsubscribed)
    FAILED = "failed"  # gave up after the last attempt; the author may retry it


class OutboxEvent(Base):
    """Something to send (an email, a webhook), written in the transaction of the change.

    A worker claims a due row with a lease (`locked_until`, `lock_token`), delivers it outside
    any transaction, and marks it sent only while it still holds that lease.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_events_state_available_at", "state", "available_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    # At most one event per key (a reply notice per reply, a confirmation per address and window).
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    state: Mapped[OutboxState] = mapped_column(
        Enum(
            OutboxState,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=OutboxState.PENDING,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lock_token: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SpentLink(Base):
    """A single-use link from an email that has been used: its nonce, so it never acts twice."""

    __tablename__ = "spent_links"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    spent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SpamFilterState(Base):
    """The learning filter's one row: lessons taken, and a generation that moves with each.

    Every process keeps a copy of the counts and reloads only what changed since the
    generation it holds; `rebuilt_at` is the generation at which counts were removed, which a
    copy older than it cannot follow incrementally (it reloads in full).
    """

    __tablename__ = "spam_filter"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    generation: Mapped[int] = mapped_column(Integer, default=0)
    rebuilt_at: Mapped[int] = mapped_column(Integer, default=0)
    spam_lessons: Mapped[int] = mapped_column(Integer, default=0)
    ham_lessons: Mapped[int] = mapped_column(Integer, default=0)


class SpamFeature(Base):
    """How many spam and ham lessons had a feature (a word, a link domain, a shape)."""

    __tablename__ = "spam_features"

    feature: Mapped[str] = mapped_column(String(100), primary_key=True)
    spam: Mapped[int] = mapped_column(Integer, default=0)
    ham: Mapped[int] = mapped_column(Integer, default=0)
    generation: Mapped[int] = mapped_column(Integer, index=True)  # of its last change


class SiteRuleSet(Base):
    """The site rules the author set through the moderation API, over the environment's.

    One row; `version` changes with every save so each process re-reads it only then.
    """

    __tablename__ = "site_rules"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    overrides: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    version: Mapped[str] = mapped_column(String(32))
