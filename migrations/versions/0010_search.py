"""the moderation console's search: full text over each comment's text, name, email and
website (FTS5 on SQLite, a tsvector column with a GIN index on PostgreSQL), and emails
compared without regard to case through an index

Revision ID: 0010_search
Revises: 0009_console
Create Date: 2026-11-30 06:30:00.000000

The index keeps itself in step with every write, whoever makes it (a reader's post or edit,
the author's edit, an import's bulk insert, an erasure, a move): SQLite through triggers on
`comments`, PostgreSQL through a generated column. None of these objects is in the models;
commentd.models.SEARCH_OBJECTS names them for Alembic's comparison (migrations/env.py).

Never rebuild `comments` with a batch operation on SQLite from here on: a rebuilt table loses
its triggers (and its AUTOINCREMENT, 0005).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_search"
down_revision: str | Sequence[str] | None = "0009_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An external-content FTS5 table: it holds only the index, reading the text from `comments`.
# unicode61 folds case and diacritics; prefix indexes of 2 and 3 characters keep prefix
# searches ("ali*") fast. Keep in step with commentd.comments.search.
SQLITE_UP = (
    """CREATE VIRTUAL TABLE comments_fts USING fts5(
        body, name, email, website,
        content='comments', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2', prefix='2 3'
    )""",
    """CREATE TRIGGER comments_fts_insert AFTER INSERT ON comments BEGIN
        INSERT INTO comments_fts(rowid, body, name, email, website)
        VALUES (new.id, new.body, new.name, new.email, new.website);
    END""",
    """CREATE TRIGGER comments_fts_delete AFTER DELETE ON comments BEGIN
        INSERT INTO comments_fts(comments_fts, rowid, body, name, email, website)
        VALUES ('delete', old.id, old.body, old.name, old.email, old.website);
    END""",
    """CREATE TRIGGER comments_fts_update AFTER UPDATE OF body, name, email, website
    ON comments BEGIN
        INSERT INTO comments_fts(comments_fts, rowid, body, name, email, website)
        VALUES ('delete', old.id, old.body, old.name, old.email, old.website);
        INSERT INTO comments_fts(rowid, body, name, email, website)
        VALUES (new.id, new.body, new.name, new.email, new.website);
    END""",
    "INSERT INTO comments_fts(comments_fts) VALUES ('rebuild')",
    "CREATE INDEX ix_comments_email_lower ON comments (lower(email))",
)
SQLITE_DOWN = (
    "DROP INDEX ix_comments_email_lower",
    "DROP TRIGGER comments_fts_update",
    "DROP TRIGGER comments_fts_delete",
    "DROP TRIGGER comments_fts_insert",
    "DROP TABLE comments_fts",
)
# ASCII punctuation becomes a space before PostgreSQL's parser sees the text, so that an
# address or a URL is indexed as its words ("alice", "example", "com"), as FTS5 does; the
# 'simple' configuration folds case and stems nothing (comments come in every language).
# Keep this expression in step with commentd.comments.search.POSTGRES_DOCUMENT.
POSTGRES_UP = (
    r"""ALTER TABLE comments ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig, regexp_replace(
            coalesce(body, '') || ' ' || name || ' ' || email || ' ' || coalesce(website, ''),
            '[!-/:-@\[-`{-~]+', ' ', 'g'))
    ) STORED""",
    "CREATE INDEX ix_comments_search_vector ON comments USING gin (search_vector)",
    "CREATE INDEX ix_comments_email_lower ON comments (lower(email))",
)
POSTGRES_DOWN = (
    "DROP INDEX ix_comments_email_lower",
    "DROP INDEX ix_comments_search_vector",
    "ALTER TABLE comments DROP COLUMN search_vector",
)


def upgrade() -> None:
    statements = SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRES_UP
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    statements = SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWN
    for statement in statements:
        op.execute(statement)
