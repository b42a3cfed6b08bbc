"""commenters who proved their address (reply notices go only to them)

Revision ID: 0004_confirmed_commenters
Revises: 0003_outbox
Create Date: 2026-11-30 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commentd.models

revision: str = "0004_confirmed_commenters"
down_revision: str | Sequence[str] | None = "0003_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nobody is confirmed yet: a subscription made before this revision waits for its owner to
    # confirm, like any new one (issue 12: notices only to proven addresses).
    with op.batch_alter_table("commenters") as batch:
        batch.add_column(
            sa.Column("confirmed_at", commentd.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("commenters") as batch:
        batch.drop_column("confirmed_at")
