"""Bringing the schema up to date with the project's Alembic migrations (the only way it exists)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from commentd.db import writer


def migrations_dir() -> Path:
    """Inside an installed wheel the scripts sit in the package; in a checkout, beside it."""
    package = Path(__file__).resolve().parents[1]  # service/commentd
    packaged = package / "_migrations"
    return packaged if packaged.is_dir() else package.parents[1] / "migrations"


def alembic_config() -> Config:
    """Alembic's configuration for the project's migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return config


def upgrade(engine: Engine) -> None:
    """Migrate to the newest revision; concurrent callers migrate once (env.py holds a lock)."""
    config = alembic_config()
    with writer(engine).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def is_up_to_date(engine: Engine) -> bool:
    """Whether the database is at the newest revision (False for an empty database)."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads()) == heads


def revisions() -> tuple[frozenset[str], frozenset[str]]:
    """(every revision this version of commentd knows, its newest ones: the heads)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    known = frozenset(revision.revision for revision in scripts.walk_revisions())
    return known, frozenset(scripts.get_heads())
