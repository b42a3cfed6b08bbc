"""The schema exists only through Alembic: migrating an empty database yields the models."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from commentd.db import make_engine
from commentd.models import Base
from commentd.ops.migrate import alembic_config, is_up_to_date, upgrade


def test_migrating_an_empty_database_matches_the_models(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)

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
