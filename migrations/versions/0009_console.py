"""the author's console (issue 16): replies as the author (comments.is_owner), pinned comments
(comments.pinned_at), post titles (posts.title), and each comment's history of decisions
(comment_history, erased with its comment)

Revision ID: 0009_console
Revises: 0008_own_comments
Create Date: 2026-11-30 06:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commentd.models

revision: str = "0009_console"
down_revision: str | Sequence[str] | None = "0008_own_comments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN, never a batch rebuild (0008 says why).
    op.add_column(
        "comments",
        sa.Column("is_owner", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "comments",
        sa.Column("pinned_at", commentd.models.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column("posts", sa.Column("title", sa.String(length=300), nullable=True))
    op.create_table(
        "comment_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("at", commentd.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("detail", sa.String(length=600), nullable=True),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_comment_history_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment_history")),
    )
    op.create_index(
        "ix_comment_history_comment_id_id", "comment_history", ["comment_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_comment_history_comment_id_id", table_name="comment_history")
    op.drop_table("comment_history")
    op.drop_column("posts", "title")
    op.drop_column("comments", "pinned_at")
    op.drop_column("comments", "is_owner")
