"""The `commentd` command: serve, migrate, token, purge-spam."""

from __future__ import annotations

import sys
from datetime import timedelta

import click
from sqlalchemy.orm import Session

from . import comments, create_app, migrate
from .api.auth import create_token, has_any_token
from .config import ConfigError, Settings
from .db import make_engine, writer
from .models import utcnow


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@click.group()
def main() -> None:
    """commentd: comments for static blogs."""


@main.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date."""
    engine = make_engine(_settings().database_url)
    migrate.upgrade(engine)
    engine.dispose()
    click.echo("Database is up to date.", err=True)


@main.command("token")
@click.option("--label", default="", help="A note on who or what the token is for.")
def token_command(label: str) -> None:
    """Create a moderation token and print it (only its hash is kept)."""
    engine = make_engine(_settings().database_url)
    migrate.upgrade(engine)
    with Session(writer(engine)) as session:
        token = create_token(session, label)
        session.commit()
    engine.dispose()
    click.echo(token)


@main.command("purge-spam")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Age in days; default COMMENTD_SPAM_RETENTION_DAYS.",
)
def purge_spam_command(days: int | None) -> None:
    """Delete spam-folder comments older than the retention age (run it daily, e.g. from cron)."""
    settings = _settings()
    days = days or settings.spam_retention_days
    if not days:
        click.echo("COMMENTD_SPAM_RETENTION_DAYS is 0: the spam folder is kept.", err=True)
        return
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    with Session(writer(engine)) as session:
        purged = comments.purge_spam(session, utcnow() - timedelta(days=days))
        session.commit()
    engine.dispose()
    click.echo(f"Purged {purged} spam comments older than {days} days.", err=True)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
def serve_command(host: str, port: int) -> None:
    """Run the service on a production WSGI server, migrating the database first."""
    from .server import serve  # gunicorn is only needed here

    settings = _settings().serving_at(host, port)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    with Session(engine) as session:
        if not settings.admin_token and not has_any_token(session):
            click.echo(
                "No moderation token yet. Make one with `commentd token` (it is printed once) "
                "and paste it into the moderation page.",
                err=True,
            )
    engine.dispose()
    serve(create_app(settings), settings, host, port)


if __name__ == "__main__":
    sys.exit(main())
