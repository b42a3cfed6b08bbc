"""moderation token ids are never reused (SQLite AUTOINCREMENT)

A token's id names it in `commentd token revoke #<id>`, in the console's DELETE
/api/moderation/tokens/<id> and in each comment's history ("token #<id>"). SQLite gave a new
token the id of a revoked newest one, so a stale console tab could revoke the new token. The
table is rebuilt with AUTOINCREMENT (no other table refers to it); PostgreSQL's sequences never
reuse an id, so nothing changes there.

Revision ID: 0011_token_ids
Revises: 0010_search
Create Date: 2026-11-30 07:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011_token_ids"
down_revision: str | Sequence[str] | None = "0010_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild(*, autoincrement: bool) -> None:
    with op.batch_alter_table(
        "moderation_tokens", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(autoincrement=True)
        # Ids revoked before this migration: the next token starts above the highest id the
        # history names ("token #<id>"), so none of them is named again.
        op.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'moderation_tokens', 0 "
            "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'moderation_tokens')"
        )
        op.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, "
            "coalesce((SELECT max(id) FROM moderation_tokens), 0), "
            "coalesce((SELECT max(CAST(substr(actor, 8) AS INTEGER)) FROM comment_history "
            "WHERE actor LIKE 'token #%'), 0)) WHERE name = 'moderation_tokens'"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(autoincrement=False)
