"""The `commentd` command: serve, migrate, token, import, export, backup, restore, purge
(purge-spam)."""

from __future__ import annotations

import io
import logging
import logging.config
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NoReturn

import click
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from commentd import i18n
from commentd.config import ConfigError, Settings, shown_database
from commentd.db import PRIVATE_FILE_MODE, make_engine, writer
from commentd.errors import STORAGE_FULL_CODE, damaged, first_line, short_of
from commentd.keys import instance_id, load_or_create_secret
from commentd.models import utcnow
from commentd.ops.startup import (
    StartupError,
    check_rate_limit_storage,
    open_database,
    start_warnings,
)
from commentd.portability import FORMATS

if TYPE_CHECKING:
    from tqdm import tqdm

log = logging.getLogger("commentd")

# Flask and the web package are imported by the commands that serve (serve, token, migrate's
# logging), not at the top: `commentd import` and its reading process (which imports this
# module again, multiprocessing's spawn) stay 30 MB smaller without them. The importer, the
# readers, the exporters, tqdm and the backup are imported by their own commands: the server's
# processes (forked from `commentd serve`) stay ~3 MB smaller without them.

# Files commentd makes (the database, its -wal/-shm, backups) hold the site secret and readers'
# addresses: whatever the umask it was started with, they are its user's alone. The database
# and backups also get mode 0600 explicitly (db.py, backup.py), for other servers than this.
PRIVATE_UMASK = 0o077


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _open_database(
    settings: Settings, *, create: bool, logged: bool = False, said: bool = False
) -> Engine:
    """The configured database, checked (startup.open_database), after saying which it is on
    standard error (standard output stays for what a command prints: the token alone), unless
    `said`: the process that started this one has said it already."""
    shown = shown_database(settings.database_url)
    if logged and not said:
        log.info("database: %s", shown)
    elif not said:
        click.echo(f"commentd: using the database {shown}", err=True)
    try:
        return open_database(settings, create=create)
    except StartupError as error:
        raise click.ClickException(str(error)) from None


class Commands(click.Group):
    """The `commentd` group. What the machine or the database gives any command as it runs,
    and no command can mend, is said in one line and exit status 1, never a traceback: a
    full disk, no open files or memory left (errors.short_of), a database that stopped
    answering."""

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; raises click.ClickException for the errors above."""
        try:
            return super().invoke(ctx)
        except (DBAPIError, OSError, MemoryError) as error:
            said = _said(error)
            if said is None:
                raise
            raise click.ClickException(said) from None


def _said(error: BaseException) -> str | None:
    """The line for `error`, if Commands says it; None for any other error."""
    told = first_line(error)
    shortage = short_of(error)
    if shortage == STORAGE_FULL_CODE:
        return (
            f"the disk is full ({told}). Make room on it, then run the command again: "
            "a database change it could not make was not made"
        )
    if shortage is not None:
        return (
            f"this machine is short of open files or memory ({told}); "
            "run the command again when it has more"
        )
    if damaged(error):
        return f"the database cannot be read ({told}): restore it from a backup"
    if isinstance(error, OperationalError):
        return f"the database stopped answering or refused the change: {told}"
    return None


def _counted(count: int, noun: str) -> str:
    """`count` and `noun`, in the plural but for one: "1 post", "3 posts"."""
    return f"{count} {noun}{'s' if count != 1 else ''}"


@click.group(cls=Commands)
def main() -> None:
    """commentd: comments for static blogs."""
    os.umask(PRIVATE_UMASK)


@main.command("migrate")
@click.option("--database-said", is_flag=True, hidden=True)  # by `serve`, which said it
def migrate_command(database_said: bool) -> None:
    """Bring the database schema up to date."""
    from commentd.ops import (
        migrate,  # Alembic only here: `serve` runs this in a child process (below)
    )
    from commentd.web.logs import logging_config

    logging.config.dictConfig(logging_config())
    engine = _open_database(_settings(), create=True, logged=True, said=database_said)
    try:
        migrate.upgrade(engine)
    except DBAPIError as error:
        said = _said(error) or str(error.orig)
        raise click.ClickException(f"the database could not be migrated: {said}") from None
    finally:
        engine.dispose()
    log.info("Database is up to date.")


def migrate_in_child() -> None:
    """`commentd migrate` in its own process: Alembic's 11 MB never enter the server's memory,
    which every worker process would inherit."""
    done = subprocess.run(
        [sys.executable, "-m", "commentd.ops.cli", "migrate", "--database-said"], check=False
    )
    if done.returncode == 1:  # a ClickException: the child has said why, in its one line
        raise click.exceptions.Exit(1)
    if done.returncode != 0:
        raise click.ClickException("the database could not be migrated (see the log above)")


@main.group("token", invoke_without_command=True)
@click.option("--label", default="", help="A note on who or what the token is for (unique).")
@click.pass_context
def token_command(context: click.Context, label: str) -> None:
    """Create a moderation token and print it (only its hash is kept); `token list` shows
    the tokens, `token revoke` ends one."""
    if context.invoked_subcommand is not None:
        if label:
            raise click.UsageError("--label is for making a token, not for list or revoke")
        return
    from commentd.errors import ApiError
    from commentd.web.auth import add_token

    engine = _open_database(_settings(), create=False)
    try:
        with Session(writer(engine)) as session:
            row, token = add_token(session, label)
            token_id, stored_label = row.id, row.label
            session.commit()
    except ApiError as error:
        raise click.ClickException(error.message) from None
    finally:
        engine.dispose()
    if not stored_label:
        click.echo(
            f"commentd: made token #{token_id}; --label names a token for `commentd token list`.",
            err=True,
        )
    click.echo(token)


@token_command.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object for programs.")
def token_list_command(as_json: bool) -> None:
    """Show the moderation tokens: id, label and when each was made, one per line (the tokens
    themselves were shown once, when made)."""
    import json

    from commentd.web.auth import list_tokens

    settings = _settings()
    engine = _open_database(settings, create=False)
    try:
        with Session(engine) as session:
            tokens = [
                {"id": t.id, "label": t.label, "created_at": _utc(t.created_at)}
                for t in list_tokens(session)
            ]
    finally:
        engine.dispose()
    if as_json:
        click.echo(
            json.dumps(
                {"tokens": tokens, "admin_token": bool(settings.admin_token)}, ensure_ascii=False
            )
        )
        return
    for token in tokens:
        click.echo(f"{token['id']}\t{token['label'] or '-'}\t{token['created_at']}")
    if not tokens:
        click.echo("commentd: no tokens yet; make one with `commentd token --label L`.", err=True)


@token_command.command("revoke")
@click.argument("name", metavar="LABEL|ID")
def token_revoke_command(name: str) -> None:
    """Revoke the token with this label (every token with it, if old ones share it) or id
    (`12` or `#12`): it stops working at once, on every running server."""
    from commentd.web.auth import revoke, tokens_named

    engine = _open_database(_settings(), create=False)
    try:
        with Session(writer(engine)) as session:
            try:
                found = tokens_named(session, name)
            except ValueError as error:
                raise click.ClickException(str(error)) from None
            if not found:
                raise click.ClickException(
                    f"no token has the label or id {name!r} (see `commentd token list`)"
                )
            named = ", ".join(f"#{t.id}" + (f" “{t.label}”" if t.label else "") for t in found)
            count = revoke(session, [t.id for t in found])
            session.commit()
    finally:
        engine.dispose()
    click.echo(f"Revoked {_counted(count, 'token')}: {named}.")


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _purge(spam_days: int | None, rejected_days: int | None, client_key_days: int | None) -> None:
    from commentd.comments import Retention, purge

    settings = _settings()
    retention = Retention(
        spam_days=settings.spam_retention_days if spam_days is None else spam_days,
        rejected_days=settings.rejected_retention_days if rejected_days is None else rejected_days,
        client_key_days=(
            settings.client_key_retention_days if client_key_days is None else client_key_days
        ),
    )
    engine = _open_database(settings, create=False)
    with Session(writer(engine)) as session:
        purged = purge(session, retention, utcnow())
        session.commit()
    engine.dispose()
    for days, count, done, kept in (
        (
            retention.spam_days,
            purged.spam,
            "Purged {n} spam comments older than {d} days.",
            "spam comments",
        ),
        (
            retention.rejected_days,
            purged.rejected,
            "Purged {n} rejected comments older than {d} days.",
            "rejected comments",
        ),
        (
            retention.client_key_days,
            purged.client_keys,
            "Forgot the client-address hash of {n} comments older than {d} days.",
            "client-address hashes",
        ),
    ):
        click.echo(
            done.format(n=count, d=days) if days else f"Kept all {kept} (retention 0).", err=True
        )


RETENTION_HELP = "Age in days; default {}."


@main.command("purge")
@click.option(
    "--spam-days",
    type=click.IntRange(min=0),
    default=None,
    help=RETENTION_HELP.format("COMMENTD_SPAM_RETENTION_DAYS"),
)
@click.option(
    "--rejected-days",
    type=click.IntRange(min=0),
    default=None,
    help=RETENTION_HELP.format("COMMENTD_REJECTED_RETENTION_DAYS"),
)
@click.option(
    "--client-key-days",
    type=click.IntRange(min=0),
    default=None,
    help=RETENTION_HELP.format("COMMENTD_CLIENT_KEY_RETENTION_DAYS"),
)
def purge_command(
    spam_days: int | None, rejected_days: int | None, client_key_days: int | None
) -> None:
    """Apply the retention the author set (run it daily from cron): delete spam and rejected
    comments, and forget client-address hashes, past their ages (0: kept)."""
    _purge(spam_days, rejected_days, client_key_days)


@main.command("purge-spam")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Age in days of the spam to delete; default COMMENTD_SPAM_RETENTION_DAYS.",
)
def purge_spam_command(days: int | None) -> None:
    """The older name of `commentd purge` (all the retention), with --days for --spam-days."""
    _purge(days, None, None)


def _listen_address(
    _context: click.Context, _parameter: click.Parameter, value: str | None
) -> str | None:
    """HOST:PORT (an IPv6 host in brackets), fd://N (an inherited listening socket), or None
    when not given."""
    if value is None or value == "":
        return None
    if value.startswith("fd://") and value[5:].isdigit():
        return value
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(
            f"{value!r} is not HOST:PORT or fd://N; use for example 127.0.0.1:9100 "
            "(COMMENTD_METRICS_BIND or --metrics-bind)."
        )
    return value


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--metrics-bind",
    envvar="COMMENTD_METRICS_BIND",
    callback=_listen_address,
    help="HOST:PORT of a listener that serves /metrics alone (COMMENTD_METRICS_BIND), or fd://N "
    "with --fd; without it /metrics is not served.",
)
@click.option(
    "--fd",
    "listen_fd",
    type=click.IntRange(0),
    help="Serve on this inherited, already listening TCP socket (from a supervisor, or a test "
    "that bound port 0) instead of binding --host and --port.",
)
def serve_command(host: str, port: int, metrics_bind: str | None, listen_fd: int | None) -> None:
    """Run the service on a production WSGI server, migrating the database first."""
    # gunicorn is only needed here
    from commentd.ops.server import listening_address, prepare_metrics_dir, serve, shared_limits
    from commentd.web.app import create_app
    from commentd.web.auth import has_any_token
    from commentd.web.logs import logging_config

    logging.config.dictConfig(logging_config())  # startup and migrations log as JSON too
    if listen_fd is not None:
        # gunicorn serves either inherited sockets or addresses it binds itself, not both.
        if metrics_bind is not None and not metrics_bind.startswith("fd://"):
            raise click.BadParameter(
                "with --fd, the metrics listener is inherited too: fd://N",
                param_hint="COMMENTD_METRICS_BIND or --metrics-bind",
            )
        host, port = listening_address(listen_fd)
    elif metrics_bind is not None and metrics_bind.startswith("fd://"):
        raise click.BadParameter(
            "fd://N needs --fd for the service's own listener",
            param_hint="COMMENTD_METRICS_BIND or --metrics-bind",
        )
    settings = _settings().serving_at(host, port)
    # Everything that cannot work is said now, before anything is served or migrated.
    try:
        check_rate_limit_storage(settings)
    except StartupError as error:
        raise click.ClickException(str(error)) from None
    _open_database(settings, create=True, logged=True).dispose()
    for warning in start_warnings(settings):
        log.warning(warning)
    migrate_in_child()
    metrics_dir = prepare_metrics_dir()
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        if not settings.admin_token and not has_any_token(session):
            log.warning(
                "No moderation token yet. Make one with `commentd token` (it is printed once) "
                "and paste it into the moderation page."
            )
    engine.dispose()
    # The metrics directory is the server's own, removed when it exits; the shared counters
    # file of memory:// lives there too, or beside an SQLite database (shared_limits).
    settings = shared_limits(settings, metrics_dir)
    try:
        app = create_app(settings)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    serve(app, settings, host, port, metrics_dir, metrics_bind, listen_fd)


class BarProgress:
    """records.Progress as a tqdm bar on standard error (bytes read, or comments)."""

    def __init__(self, description: str) -> None:
        self._description = description
        self._bar: tqdm[NoReturn] | None = None

    def start(self, total: int | None, unit: str) -> None:
        """A new bar of `total` `unit`s (bytes are shown scaled: kB, MB)."""
        from tqdm import tqdm

        self.close()
        self._bar = tqdm(
            total=total,
            unit=unit,
            unit_scale=unit == "B",
            unit_divisor=1024 if unit == "B" else 1000,
            desc=self._description,
            file=sys.stderr,
            leave=False,
            dynamic_ncols=True,
        )

    def advance(self, amount: int) -> None:
        """`amount` more units done."""
        if self._bar is not None:
            self._bar.update(amount)

    def close(self) -> None:
        """Take the bar off the terminal."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@main.command("import")
@click.argument("source_format", metavar="FORMAT", type=click.Choice(FORMATS))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Read and count everything; store nothing.")
@click.option(
    "--map",
    "map_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of old URL or path, new slug: for pages whose URLs changed.",
)
@click.option("--teach", is_flag=True, help="Teach the spam filter from the imported statuses.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_command(
    source_format: str, file: Path, dry_run: bool, map_file: Path | None, teach: bool, quiet: bool
) -> None:
    """Import FILE, another system's export (or commentd's own: json), in one transaction."""
    from commentd.portability.importing import run_import
    from commentd.portability.records import ImportFileError
    from commentd.portability.slugs import SlugMap

    settings = _settings()
    engine = _open_database(settings, create=False)
    progress = BarProgress(file.name) if not quiet and sys.stderr.isatty() else None
    try:
        slug_map = SlugMap.read(map_file) if map_file is not None else None
        summary = run_import(
            engine,
            source_format,
            file,
            secret=settings.secret_key or load_or_create_secret(engine),
            dry_run=dry_run,
            slug_map=slug_map,
            teach=teach,
            progress=progress,
        )
    except ImportFileError as error:
        raise click.ClickException(f"{str(error).rstrip('.')}. Nothing was imported.") from None
    except OSError as error:
        message = f"{error.filename or file}: {error.strerror}. Nothing was imported."
        raise click.ClickException(message) from None
    except DBAPIError as error:  # a full disk, say: the one transaction is rolled back
        message = f"the database refused the import ({error.orig}). Nothing was imported."
        if short_of(error) == STORAGE_FULL_CODE:
            message = (
                f"a disk is full ({error.orig}): the database's, or TMPDIR's, where SQLite "
                "keeps an import's temporary data. Make room, then import again. Nothing was "
                "imported."
            )
        raise click.ClickException(message) from None
    finally:
        if progress is not None:
            progress.close()
        engine.dispose()
    for line in summary.lines(file.name):
        click.echo(line)


@main.command("export")
@click.argument(
    "export_format", metavar="FORMAT", type=click.Choice(["json", "static", "wordpress"])
)
@click.argument("target", metavar="FILE|DIR", type=click.Path(allow_dash=True))
@click.option(
    "--site-url",
    help="wordpress: the blog's address, for each post's link (default: the first "
    "COMMENTD_ALLOWED_ORIGINS entry).",
)
@click.option(
    "--language",
    default="en",
    show_default=True,
    help="static: the language of the HTML fragments' words and dates (a BCP 47 tag).",
)
@click.option(
    "--fold-case/--keep-case",
    default=None,
    help="static: escape capitals in file names, for a case-insensitive file system "
    "(default: probe the folder's).",
)
@click.option("--quiet", is_flag=True, help="static: no progress bar.")
def export_command(
    export_format: str,
    target: str,
    site_url: str | None,
    language: str,
    fold_case: bool | None,
    quiet: bool,
) -> None:
    """Write every comment to FILE (- for standard output): commentd's own JSON, or WXR 1.2;
    or, for `static`, each post's approved comments as files in the folder DIR."""
    from commentd.portability.exporting import site_address, write_json, write_wxr

    settings = _settings()
    if export_format == "static":
        export_static_command(settings, target, language, fold_case, quiet)
        return
    if Path(target).is_dir():
        raise click.BadParameter(f"{target} is a folder", param_hint="FILE")
    if export_format == "wordpress":
        site_url = site_url or next(iter(settings.allowed_origins), None)
        if not site_url:
            raise click.UsageError("give --site-url (or set COMMENTD_ALLOWED_ORIGINS)")
        try:
            site_url = site_address(site_url)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--site-url") from None
    engine = _open_database(settings, create=False)
    try:
        instance = instance_id(engine)
        with _replaced_when_whole(target) as out, Session(engine) as session:
            if export_format == "json":
                text = io.TextIOWrapper(out, encoding="utf-8", newline="\n")
                count = write_json(session, text, instance)
                text.flush()
                text.detach()
            else:
                assert site_url is not None
                count = write_wxr(session, out, site_url)
    except OSError as error:
        message = f"could not write {target}: {error.strerror or error}; it is as it was"
        raise click.ClickException(message) from None
    finally:
        engine.dispose()
    click.echo(f"Exported {count} comments to {target}.", err=True)


@contextmanager
def _replaced_when_whole(target: str) -> Iterator[BinaryIO]:
    """`target` to write (standard output for "-"): a new file beside it, readable by its
    owner only (an export holds readers' email addresses), renamed over it once whole. On any
    error it is removed and `target` stays as it was (click's atomic files replace it with
    what was written so far)."""
    if target == "-":
        yield sys.stdout.buffer
        return
    path = Path(target)
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    out = os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE), "wb")
    try:
        with out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def export_static_command(
    settings: Settings, target: str, language: str, fold_case: bool | None, quiet: bool
) -> None:
    """`commentd export static DIR` (publishing/static_export.py): summary on standard output."""
    if not settings.public_url:
        raise click.UsageError(
            "set COMMENTD_PUBLIC_URL: the exported files carry the service's address "
            "(avatars, the form), as the API's answers do"
        )
    if target == "-":
        raise click.BadParameter("static needs a folder, not -", param_hint="DIR")
    # Here, not at the top: the templates and catalogues are for this command only.
    from commentd.publishing.static_export import ExportRefused, export_static

    engine = _open_database(settings, create=False)
    progress = BarProgress("export static") if not quiet and sys.stderr.isatty() else None
    try:
        summary = export_static(
            engine,
            target,
            public_url=settings.public_url,
            language=i18n.resolve(language),
            fold_case=fold_case,
            progress=progress,
        )
    except ExportRefused as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"{error.filename or target}: {error.strerror}") from None
    finally:
        if progress is not None:
            progress.close()
        engine.dispose()
    for problem in summary.problems:
        click.echo(f"commentd: refused {problem}", err=True)
    for line in summary.lines(target):
        click.echo(line)
    if summary.refused:
        sys.exit(1)


@main.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(target: Path) -> None:
    """Copy the live SQLite database to TARGET, consistently, while it serves."""
    from commentd.ops.backup import BackupFailed, BackupNotSupported, backup

    settings = _settings()
    click.echo(f"commentd: using the database {shown_database(settings.database_url)}", err=True)
    try:
        size = backup(settings, target)
    except (BackupNotSupported, BackupFailed) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Backed up {size} bytes to {target}.", err=True)


@main.command("restore")
@click.argument("backup", type=click.Path(dir_okay=False, path_type=Path))
def restore_command(backup: Path) -> None:
    """Put BACKUP (a file `commentd backup` made) in place of the SQLite database.

    Stop commentd first: the database must not be open anywhere. The database it replaces is
    kept beside it, renamed; the backup itself is not changed.
    """
    from commentd.ops.backup import BackupNotSupported, RestoreFailed, restore

    settings = _settings()
    click.echo(f"commentd: using the database {shown_database(settings.database_url)}", err=True)
    # Stopped (SIGTERM, as `timeout` or an init system stops it), it removes its copy first.
    signal.signal(signal.SIGTERM, lambda _signal, _frame: sys.exit(128 + signal.SIGTERM))
    try:
        restored = restore(settings, backup, datetime.now(UTC))
    except (BackupNotSupported, RestoreFailed) as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"Restored {_counted(restored.comments, 'comment')} on "
        f"{_counted(restored.posts, 'post')} from {backup}.",
        err=True,
    )
    if restored.kept is not None:
        click.echo(
            f"The database it replaced is kept as {restored.kept}: delete it once you no "
            "longer need it.",
            err=True,
        )
    for companion in restored.set_aside:
        click.echo(
            f"The -{companion.name.rsplit('-', 1)[1]} file left beside the database is kept as "
            f"{companion}: it holds that database's last writes; delete it once you no longer "
            "need it.",
            err=True,
        )
    if restored.earlier:
        click.echo(
            "The backup was made by an earlier version of commentd: `commentd serve` (or "
            "`commentd migrate`) brings it up to date.",
            err=True,
        )


if __name__ == "__main__":
    sys.exit(main())
