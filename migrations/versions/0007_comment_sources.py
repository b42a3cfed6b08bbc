"""where imported comments came from (commentd import: idempotent imports), and exports
being uploaded in parts through the moderation API

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
    op.create_table(
        "import_uploads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", commentd.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_uploads")),
    )
    op.create_table(
        "import_upload_parts",
        sa.Column("upload_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["import_uploads.id"],
            name=op.f("fk_import_upload_parts_upload_id_import_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_id", "number", name=op.f("pk_import_upload_parts")),
    )


def downgrade() -> None:
    op.drop_table("import_upload_parts")
    op.drop_table("import_uploads")
    op.drop_index(op.f("ix_comment_sources_comment_id"), table_name="comment_sources")
    op.drop_table("comment_sources")
