"""`commentd backup`: a consistent copy of a live SQLite database, taken while it serves; and
`commentd restore`: such a copy put back in place of the database, with the service stopped.

SQLite's online backup API copies page by page and restarts if a writer changes the database
meanwhile, so the copy is always one committed state; copying the file (and its WAL) by hand
is not. Putting a copy in place by hand is not safe either: a `-wal` file left beside the
database (a service that was killed, or still runs) holds the old database's last writes, and
SQLite applies them to whatever file then has that name (https://www.sqlite.org/wal.html,
https://www.sqlite.org/howtocorrupt.html). PostgreSQL has its own tools for both, pg_dump and
pg_restore (docs/production.md, "Backups").
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import sqlite3
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from commentd.config import Settings
from commentd.db import PRIVATE_FILE_MODE, SQLITE_COMPANIONS
from commentd.errors import SQLITE_NOTADB, damaged, first_line
from commentd.ops.startup import libpq_url

# Pages copied per step; between steps the writers of the live database get their turn.
PAGES_PER_STEP = 1024


class BackupNotSupported(Exception):
    """The database is not a SQLite file; the message says what to use instead."""


class BackupFailed(Exception):
    """The copy could not be made (no database, a bad target); the message says why and what
    to do. Nothing is left at the target."""


class RestoreFailed(Exception):
    """The backup cannot be put in place (the database is in use, the backup is no commentd
    database this version can serve, a file cannot be written); the message says why and what
    to do. The database was left as it was."""


def _live_files(database: Path) -> set[Path]:
    return {database, *(database.with_name(database.name + suffix) for suffix in SQLITE_COMPANIONS)}


def _check_target(source: Path, target: Path) -> None:
    if not target.parent.is_dir():
        raise BackupFailed(
            f"the folder {target.parent} does not exist: create it first, or give a path in "
            "an existing folder"
        )
    if target.is_dir():
        raise BackupFailed(f"{target} is a folder: give the path of the file to write")
    live = _live_files(source)
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
        raise _pg_dump_advice(settings, "backup")
    return backup_sqlite(source, target)


def _pg_dump_advice(settings: Settings, what: str) -> BackupNotSupported:
    if settings.database_url.startswith("postgresql"):
        url = shlex.quote(libpq_url(settings.database_url))
        return BackupNotSupported(
            f"commentd {what} works on SQLite databases; for PostgreSQL use pg_dump and "
            "pg_restore (they ask for the password, or read PGPASSWORD or ~/.pgpass):\n"
            f"  pg_dump --format=custom --file=commentd.dump {url}\n"
            f"  pg_restore --clean --if-exists --dbname={url} commentd.dump\n"
            "(docs/production.md, Backups)."
        )
    return BackupNotSupported(
        f"commentd {what} works on SQLite databases; use this database's own tools"
    )


@dataclass(frozen=True)
class Restored:
    """What `restore_sqlite` put in place."""

    comments: int
    posts: int
    kept: Path | None  # the database it replaced, kept beside it; None when there was none
    set_aside: tuple[Path, ...]  # that database's -wal or -journal, kept beside it
    earlier: bool  # made by an earlier version: `commentd migrate` (or serve) updates it


# A restore's copy, beside the database until it is complete and checked.
RESTORING_SUFFIX = ".restoring"
# What SQLite keeps beside a database for it: copied along with a backup, moved along with a
# replaced database (its -shm only indexes the -wal, and is made again).
CARRIED_COMPANIONS = ("-wal", "-journal")
# The first 16 bytes of every SQLite database file (https://www.sqlite.org/fileformat.html,
# "The Database Header").
SQLITE_HEADER = b"SQLite format 3\x00"
SQLITE_BUSY = 5


def restore_sqlite(backup: Path, database: Path, now: datetime) -> Restored:
    """Put a copy of the SQLite file `backup` in place of the database at `database`.

    The copy is made and checked first, beside the database (with the backup's own -wal or
    -journal, as SQLite would read it): SQLite's quick_check, and a commentd schema of this
    version or an earlier one. Then, holding the database exclusively (refused while any
    other process has it open: a running `commentd serve` always does), its WAL is folded into
    it, it is kept under a new name (`<name>.replaced-<now, UTC>`, a hard link) and the copy
    renamed over it, with the owner the database had: the path never names a half-written
    file, and no `-wal` of the old database is left for SQLite to apply to the new one.
    Symbolic links are followed to the files they name.

    Raises RestoreFailed, with the database unchanged and nothing left behind.
    """
    from commentd.ops.migrate import revisions  # Alembic only for this command

    backup = Path(os.path.realpath(backup))  # its -wal and -journal are beside the file
    database = Path(os.path.realpath(database))  # where the data lives: a link stays a link
    partial = database.with_name(f".{database.name}{RESTORING_SUFFIX}")
    _check_places(backup, database, partial)
    place = os.stat(database if database.exists() else database.parent)
    claim = _claim(partial, (place.st_uid, place.st_gid))
    try:
        counts, version = _copy_and_check(backup, partial, claim)
        known, newest = revisions()
        if version not in known:
            raise RestoreFailed(
                f"{backup} was made by a newer version of commentd (its schema is "
                f"{version}): restore it with that version"
            )
        kept, set_aside = _swap(partial, database, now)
        _sync_folder(database.parent)
    except BaseException:
        for file in _live_files(partial):
            with contextlib.suppress(OSError):  # a read-only disk: nothing was made there
                file.unlink(missing_ok=True)
        raise
    finally:
        os.close(claim)
    return Restored(*counts, kept=kept, set_aside=set_aside, earlier=version not in newest)


def _check_places(backup: Path, database: Path, partial: Path) -> None:
    """Refuse (RestoreFailed), before anything is written, a backup that cannot be one and a
    database path that names no database to replace."""
    if not database.parent.is_dir():
        raise RestoreFailed(f"the folder {database.parent} of the database does not exist")
    if database.is_dir():
        raise RestoreFailed(f"the database {database} is a folder, not a file")
    if not backup.exists():
        raise RestoreFailed(f"there is no file at {backup}")
    if not backup.is_file():
        raise RestoreFailed(f"{backup} is not a regular file: give the path of a backup")
    if backup in _live_files(database) or (database.exists() and backup.samefile(database)):
        raise RestoreFailed(f"{backup} is the database itself: give the path of a backup")
    if backup in _live_files(partial):
        raise RestoreFailed(f"{backup} is the copy an interrupted restore left: not a backup")
    if _header(backup) != SQLITE_HEADER:
        raise RestoreFailed(f"{backup} is not an SQLite database")
    if database.exists() and _header(database) not in (SQLITE_HEADER, b""):
        # Someone's file named by COMMENTD_DATABASE_URL, or a database damaged past its first
        # bytes: restore does not take it for the service's database on its own say.
        raise RestoreFailed(
            f"the database {database} is not an SQLite database: check that "
            "COMMENTD_DATABASE_URL names the service's database; if it is, damaged, move it "
            "aside and restore again"
        )


def _header(path: Path) -> bytes:
    """The first bytes of `path`, as many as an SQLite header has (fewer for a shorter file).
    Only for a file this process has no SQLite connection to: closing a descriptor of a file
    drops every POSIX lock the process holds on it. Raises RestoreFailed."""
    try:
        with path.open("rb") as file:
            return file.read(len(SQLITE_HEADER))
    except OSError as error:
        raise RestoreFailed(f"cannot read {path}: {error.strerror or error}") from None


def _claim(partial: Path, owner: tuple[int, int]) -> int:
    """The restore's copy, opened empty and private (owned by `owner`, uid and gid, when this
    process may give it away: a restore run as root leaves a file the service can open), and
    locked (flock) for as long as the returned descriptor is open: a second restore of the
    same database is refused, and a copy an interrupted one left is started again. Raises
    RestoreFailed."""
    try:
        claim = os.open(partial, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    except OSError as error:
        raise RestoreFailed(
            f"cannot write beside the database, to {partial}: {error.strerror or error}"
        ) from None
    try:
        fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(claim)
        raise RestoreFailed("another `commentd restore` of this database is running") from None
    try:
        os.fchmod(claim, PRIVATE_FILE_MODE)
        if os.geteuid() == 0:
            os.fchown(claim, *owner)
        os.ftruncate(claim, 0)
        for file in _live_files(partial) - {partial}:
            file.unlink(missing_ok=True)
    except OSError as error:
        os.close(claim)
        raise RestoreFailed(
            f"cannot write beside the database, to {partial}: {error.strerror or error}"
        ) from None
    return claim


def _copy_and_check(backup: Path, partial: Path, claim: int) -> tuple[tuple[int, int], str]:
    """Copy `backup` (with its -wal or -journal, if one is beside it) to `partial` (open as
    `claim`) and check the copy: ((comments, posts), schema revision). The backup is only
    read, as bytes: SQLite would make -wal and -shm files beside it. Raises RestoreFailed."""
    try:
        with backup.open("rb") as read, open(claim, "wb", closefd=False) as written:
            shutil.copyfileobj(read, written)
            written.flush()
            os.fsync(claim)
        for suffix in CARRIED_COMPANIONS:
            companion = backup.with_name(backup.name + suffix)
            if companion.exists():
                made = os.open(
                    partial.with_name(partial.name + suffix),
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                    PRIVATE_FILE_MODE,
                )
                with companion.open("rb") as read, open(made, "wb") as written:
                    shutil.copyfileobj(read, written)
    except OSError as error:
        raise RestoreFailed(
            f"cannot copy {backup} beside the database, to {partial}: {error.strerror or error}"
        ) from None
    try:
        copy = sqlite3.connect(partial)
        try:
            problems = [row[0] for row in copy.execute("PRAGMA quick_check(3)")]
            if problems != ["ok"]:
                raise RestoreFailed(
                    f"{backup} is damaged ({problems[0]}), or was being written while it was "
                    "copied: pick another backup (`commentd backup` makes one of a database "
                    "in use)"
                )
            try:
                version = copy.execute("SELECT version_num FROM alembic_version").fetchone()
                comments = copy.execute("SELECT count(*) FROM comments").fetchone()[0]
                posts = copy.execute("SELECT count(*) FROM posts").fetchone()[0]
            except sqlite3.OperationalError:
                version = None
            if version is None:
                raise RestoreFailed(
                    f"{backup} is an SQLite database, but not commentd's: pick a backup "
                    "`commentd backup` made"
                )
            copy.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the -wal copied, folded in
        finally:
            copy.close()
    except sqlite3.Error as error:
        code = getattr(error, "sqlite_errorcode", 0) & 0xFF
        told = "not an SQLite database" if code == SQLITE_NOTADB else "damaged"
        raise RestoreFailed(f"{backup} is {told} ({first_line(error)})") from None
    return (int(comments), int(posts)), str(version[0])


def _swap(partial: Path, database: Path, now: datetime) -> tuple[Path | None, tuple[Path, ...]]:
    """Rename `partial` over `database`, held exclusively meanwhile with its WAL folded in; the
    replaced database is kept as a hard link beside it, its -wal and -journal (if any: a
    damaged one's, or one left where no database is) moved along, so none is left for SQLite
    to apply to the new file. Returns (the kept name, None when there was no database; the
    companions set aside). Raises RestoreFailed."""
    kept = database.with_name(f"{database.name}.replaced-{now:%Y%m%dT%H%M%SZ}")
    if any(kept.with_name(kept.name + suffix).exists() for suffix in ("", *CARRIED_COMPANIONS)):
        raise RestoreFailed(f"{kept} exists already: try again in a second")
    held = _hold(database) if database.exists() else None
    moved: list[tuple[Path, Path]] = []
    try:
        if database.exists():
            os.link(database, kept)
            moved.append((database, kept))
        for suffix in CARRIED_COMPANIONS:
            companion = database.with_name(database.name + suffix)
            if companion.exists() and companion.stat().st_size == 0:
                companion.unlink()  # folded in (or never used): nothing to keep
            elif companion.exists():
                os.replace(companion, kept.with_name(kept.name + suffix))
                moved.append((companion, kept.with_name(kept.name + suffix)))
        for _place, aside in moved:  # readers' addresses and the site secret: owner only
            os.chmod(aside, stat.S_IMODE(aside.stat().st_mode) & 0o700)
        database.with_name(database.name + "-shm").unlink(missing_ok=True)
        os.replace(partial, database)
    except OSError as error:
        for place, aside in reversed(moved):
            if place == database:
                aside.unlink(missing_ok=True)  # a link: the database is still in its place
            else:
                os.replace(aside, place)
        raise RestoreFailed(
            f"cannot put the backup in place of {database}: {error.strerror or error}"
        ) from None
    finally:
        if held is not None:
            held.close()
    has_kept = bool(moved) and moved[0][0] == database
    set_aside = tuple(aside for place, aside in moved if place != database)
    return (kept if has_kept else None), set_aside


def _hold(database: Path) -> sqlite3.Connection | None:
    """The database held exclusively, its WAL folded into it; None when it is damaged (SQLite
    can neither hold nor read it: a service still running on it answers 503 until it is
    restarted, db.py). Raises RestoreFailed while another connection has it open, or when it
    cannot be opened."""
    held: sqlite3.Connection | None = None
    try:
        held = sqlite3.connect(database, isolation_level=None, timeout=1)
        # Exclusive from the first read on, and never with shared memory (WAL without it):
        # refused while another connection, in any process, has the file open.
        held.execute("PRAGMA locking_mode=EXCLUSIVE")
        held.execute("BEGIN EXCLUSIVE")
        held.execute("SELECT count(*) FROM sqlite_master").fetchone()
        held.execute("COMMIT")
        held.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error as error:
        if held is not None:
            held.close()
        if damaged(error):
            return None
        if getattr(error, "sqlite_errorcode", 0) & 0xFF == SQLITE_BUSY:
            raise RestoreFailed(
                f"the database {database} is in use ({first_line(error)}): stop commentd, "
                "and any command using the database, then restore"
            ) from None
        raise RestoreFailed(f"cannot open the database {database} ({first_line(error)})") from None
    return held


def _sync_folder(folder: Path) -> None:
    """Make the folder's renames durable (its entry for the new file)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def restore(settings: Settings, backup: Path, now: datetime) -> Restored:
    """Put the SQLite file `backup` in place of the configured database (restore_sqlite).

    Raises BackupNotSupported for any other database (with the pg_restore command to use
    instead) and RestoreFailed when it cannot be done.
    """
    database = settings.sqlite_path
    if database is None:
        raise _pg_dump_advice(settings, "restore")
    return restore_sqlite(backup, database, now)
