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
    with op.batch_alter_table("comments") as batch:
        batch.add_column(
            sa.Column("notify_approved", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("edited_at", commentd.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("edited_at")
        batch.drop_column("notify_approved")
