"""Alembic environment: migrates the database named by the caller or COMMENTD_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from commentd.config import Settings
from commentd.db import make_engine, writer
from commentd.models import Base, include_in_comparison

target_metadata = Base.metadata

# Any fixed number: the PostgreSQL advisory lock that lets one of several starting
# instances migrate while the others wait and then find nothing left to do.
MIGRATION_LOCK_ID = 7_140_221


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The search objects of 0010_search are not models (commentd.models.SEARCH_TABLE).
        include_name=include_in_comparison,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    # SQLite: the writer's BEGIN IMMEDIATE is the lock between concurrent migrators.
    engine = writer(make_engine(Settings.from_env().database_url))
    with engine.connect() as new_connection:
        run(new_connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("commentd migrates online only: run `commentd migrate`")
run_online()
