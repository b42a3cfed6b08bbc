"""`commentd backup`: a consistent copy of a live SQLite database, taken while it serves.

SQLite's online backup API copies page by page and restarts if a writer changes the database
meanwhile, so the copy is always one committed state; copying the file (and its WAL) by hand
is not. PostgreSQL has its own tool for this, pg_dump (README, "Backups").
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .config import Settings

# Pages copied per step; between steps the writers of the live database get their turn.
PAGES_PER_STEP = 1024


class BackupNotSupported(Exception):
    """The database is not a SQLite file; the message says what to use instead."""


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy `source` into `target` (replaced only once the copy is complete); returns its bytes."""
    if not source.is_file():
        raise FileNotFoundError(f"there is no SQLite database at {source}")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    live = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    copy = sqlite3.connect(partial)
    try:
        live.backup(copy, pages=PAGES_PER_STEP)
    finally:
        copy.close()
        live.close()
    os.replace(partial, target)
    return target.stat().st_size


def backup(settings: Settings, target: Path) -> int:
    source = settings.sqlite_path
    if source is None:
        raise BackupNotSupported(
            "commentd backup copies SQLite databases; for PostgreSQL use pg_dump: "
            "pg_dump --format=custom --file=commentd.dump <database URL> "
            "(restore with pg_restore; see README, Backups)"
        )
    return backup_sqlite(source, target)
