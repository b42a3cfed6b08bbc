"""ids that leave the database are never reused (SQLite AUTOINCREMENT)

SQLite gives a new row the highest id + 1, so the id of an erased newest comment went to the
next comment, and an old email link (Approve, say) then acted on that different comment. The
tables whose ids leave the database (comments, commenters, outbox events) are rebuilt with
AUTOINCREMENT; PostgreSQL's sequences never reuse an id, so nothing changes there.

Revision ID: 0005_never_reuse_ids
Revises: 0004_confirmed_commenters
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_never_reuse_ids"
down_revision: str | Sequence[str] | None = "0004_confirmed_commenters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("commenters", "comments", "outbox_events")


def _rebuild(*, autoincrement: bool) -> None:
    """Rebuild TABLES with or without AUTOINCREMENT, keeping every row and every reference.

    Foreign keys are on in every connection (commentd/db.py), and a PRAGMA cannot turn them off
    inside the migration's transaction; dropping the old tables would then set every
    comments.commenter_id to NULL (ON DELETE SET NULL) and break the replies' parent_id. So
    both references are put aside first and restored once the new tables stand.
    """
    op.execute(
        "CREATE TEMP TABLE commentd_saved_links AS "
        "SELECT id, parent_id, commenter_id FROM comments "
        "WHERE parent_id IS NOT NULL OR commenter_id IS NOT NULL"
    )
    op.execute("UPDATE comments SET parent_id = NULL WHERE parent_id IS NOT NULL")
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
    op.execute(
        "UPDATE comments SET "
        "parent_id = (SELECT s.parent_id FROM commentd_saved_links s WHERE s.id = comments.id), "
        "commenter_id = (SELECT s.commenter_id FROM commentd_saved_links s "
        "WHERE s.id = comments.id) "
        "WHERE id IN (SELECT id FROM commentd_saved_links)"
    )
    op.execute("DROP TABLE commentd_saved_links")


def _seed_comment_ids() -> None:
    """Ids already lost before this migration: the outbox may still name erased comments (a
    notice, a webhook), so new comments start above the highest id it names too."""
    op.execute(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'comments', 0 "
        "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'comments')"
    )
    op.execute(
        "UPDATE sqlite_sequence SET seq = max(seq, coalesce(("
        "SELECT max(max(coalesce(CAST(json_extract(payload, '$.comment_id') AS INTEGER), 0), "
        "coalesce(CAST(json_extract(payload, '$.reply_id') AS INTEGER), 0))) "
        "FROM outbox_events), 0)) WHERE name = 'comments'"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(autoincrement=True)
    _seed_comment_ids()


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(autoincrement=False)
