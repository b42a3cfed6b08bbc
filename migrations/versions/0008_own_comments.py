"""readers edit their own comments (the author sees when: edited_at) and may ask for one email
when a comment is approved (notify_approved, double opt-in like reply notices)

Revision ID: 0008_own_comments
Revises: 0007_comment_sources
Create Date: 2026-11-30 03:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commentd.models

revision: str = "0008_own_comments"
down_revision: str | Sequence[str] | None = "0007_comment_sources"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN, never a batch rebuild: SQLite rebuilt `comments` without
    # its AUTOINCREMENT (0005: ids never reused), and dropping the old table with foreign keys
    # on failed on any reply (parent_id) and would have emptied comment_sources.comment_id.
    op.add_column(
        "comments",
        sa.Column("notify_approved", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "comments",
        sa.Column("edited_at", commentd.models.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    # ALTER TABLE DROP COLUMN (SQLite 3.35 and later), for the same reason.
    op.drop_column("comments", "edited_at")
    op.drop_column("comments", "notify_approved")
