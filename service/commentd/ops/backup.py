"""`commentd backup`: a consistent copy of a live SQLite database, taken while it serves.

SQLite's online backup API copies page by page and restarts if a writer changes the database
meanwhile, so the copy is always one committed state; copying the file (and its WAL) by hand
is not. PostgreSQL has its own tool for this, pg_dump (README, "Backups").
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from pathlib import Path

from commentd.config import Settings
from commentd.db import PRIVATE_FILE_MODE, SQLITE_COMPANIONS
from commentd.ops.startup import libpq_url

# Pages copied per step; between steps the writers of the live database get their turn.
PAGES_PER_STEP = 1024


class BackupNotSupported(Exception):
    """The database is not a SQLite file; the message says what to use instead."""


class BackupFailed(Exception):
    """The copy could not be made (no database, a bad target); the message says why and what
    to do. Nothing is left at the target."""


def _check_target(source: Path, target: Path) -> None:
    if not target.parent.is_dir():
        raise BackupFailed(
            f"the folder {target.parent} does not exist: create it first, or give a path in "
            "an existing folder"
        )
    if target.is_dir():
        raise BackupFailed(f"{target} is a folder: give the path of the file to write")
    live = {source, *(source.with_name(source.name + suffix) for suffix in SQLITE_COMPANIONS)}
    if target in live or (target.exists() and any(target.samefile(f) for f in live if f.exists())):
        raise BackupFailed(
            f"{target} is the live database (or one of its files): give another path"
        )


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy `source` into `target` (replaced only once the copy is complete); returns its bytes.

    The copy is readable by its owner only (0600), whatever the umask: it holds the site
    secret and readers' email addresses. Raises BackupFailed.
    """
    source, target = source.resolve(), target.resolve()
    if not source.is_file():
        raise BackupFailed(f"there is no SQLite database at {source}")
    _check_target(source, target)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.unlink(missing_ok=True)
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
        live = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            copy = sqlite3.connect(partial)
            try:
                live.backup(copy, pages=PAGES_PER_STEP)
            finally:
                copy.close()
        finally:
            live.close()
        os.replace(partial, target)
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise BackupFailed(f"could not copy {source} to {target}: {error}") from None
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise BackupFailed(
            f"could not write {target}: {error.strerror or error}. Pick a folder you may write to"
        ) from None
    return target.stat().st_size


def backup(settings: Settings, target: Path) -> int:
    """Back up the configured SQLite database to `target`; returns the copy's bytes.

    Raises BackupNotSupported for any other database (with the pg_dump command to use
    instead) and BackupFailed when the copy cannot be made.
    """
    source = settings.sqlite_path
    if source is None:
        if settings.database_url.startswith("postgresql"):
            command = (
                "pg_dump --format=custom --file=commentd.dump "
                f"{shlex.quote(libpq_url(settings.database_url))}"
            )
            raise BackupNotSupported(
                "commentd backup copies SQLite databases; for PostgreSQL use pg_dump (it asks "
                f"for the password, or reads PGPASSWORD or ~/.pgpass):\n  {command}\n"
                "Restore with pg_restore (docs/production.md, Backups)."
            )
        raise BackupNotSupported(
            "commentd backup copies SQLite databases; back this database up with its own tools"
        )
    return backup_sqlite(source, target)
