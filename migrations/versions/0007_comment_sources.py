"""where imported comments came from (commentd import: idempotent imports)

Revision ID: 0007_comment_sources
Revises: 0006_canonical_slugs
Create Date: 2026-11-30 00:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commentd.models

revision: str = "0007_comment_sources"
down_revision: str | Sequence[str] | None = "0006_canonical_slugs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "comment_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("parent_source_id", sa.String(length=255), nullable=True),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("markup", sa.String(length=16), nullable=False),
        sa.Column("imported_at", commentd.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_comment_sources_comment_id_comments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment_sources")),
        sa.UniqueConstraint("source", "source_id", name="uq_comment_sources_key"),
    )
    op.create_index(
        op.f("ix_comment_sources_comment_id"), "comment_sources", ["comment_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_comment_sources_comment_id"), table_name="comment_sources")
    op.drop_table("comment_sources")
