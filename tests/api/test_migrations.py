"""The schema exists only through Alembic: migrating an empty database yields the models."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from commentd.db import make_engine
from commentd.models import Base, include_in_comparison
from commentd.ops.migrate import alembic_config, is_up_to_date, upgrade


# SQLAlchemy cannot reflect an index on an expression from SQLite (0010_search's index on
# lower(email)) and says so; the comparison leaves that index out anyway (include_in_comparison).
@pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index ix_comments_email_lower"
)
def test_migrating_an_empty_database_matches_the_models(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as connection:
        # The search objects (FTS5 table and triggers, tsvector column) are not models: the
        # hook migrations/env.py uses leaves them out here too.
        context = MigrationContext.configure(
            connection, opts={"include_name": include_in_comparison}
        )
        differences = compare_metadata(context, Base.metadata)

    assert differences == []
    assert is_up_to_date(migrated_engine)


def test_migrations_go_down_and_up_again(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}

        upgrade(engine)
        upgrade(engine)  # a second run finds nothing to do

        assert is_up_to_date(engine)
        assert {"comments", "posts", "commenters"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
