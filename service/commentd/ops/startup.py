"""What `commentd` checks before it serves or acts: that the database and the rate-limit storage
it was given can work. Each failure is a StartupError whose message names the variable and the
fix; the CLI prints it, without a traceback, and exits non-zero."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from limits.errors import ConfigurationError
from limits.storage import storage_from_string
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from commentd.config import ModerationMode, Settings, shown_database
from commentd.db import make_engine
from commentd.errors import damaged, first_line

DATABASE = "COMMENTD_DATABASE_URL"
STORAGE = "COMMENTD_RATELIMIT_STORAGE_URI"


class StartupError(Exception):
    """A setting that is well-formed but cannot work here; the message names it and the fix."""


def open_database(settings: Settings, *, create: bool) -> Engine:
    """An engine on the configured database, checked by connecting to it.

    `create` (serve, migrate): a missing SQLite file is created (private, db.py). Otherwise
    (every other command) the database must already exist and be migrated to this version:
    a command run in the wrong folder must not make a new, empty database there.
    Raises StartupError.
    """
    shown = shown_database(settings.database_url)
    path = settings.sqlite_path
    if path is not None:
        _check_sqlite_path(path.resolve(), shown, create=create)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        if not create:
            _check_migrated(engine, shown)
    except DBAPIError as error:
        engine.dispose()
        if path is not None and (full := _full_disk(path.resolve().parent)) is not None:
            raise StartupError(f"cannot open the database {shown} ({DATABASE}): {full}") from None
        hint = (
            "If it is the service's database, it is damaged: restore it from a backup; "
            f"otherwise set {DATABASE} to the database the service uses"
            if damaged(error)
            else "Check that it is a commentd SQLite database, readable and writable by this user"
            if path is not None
            else "Check that the database server runs and that the URL's host, port, user, "
            "password and database name are right"
        )
        raise StartupError(
            f"cannot open the database {shown} ({DATABASE}): {first_line(error)}. {hint}"
        ) from None
    except StartupError:
        engine.dispose()
        raise
    return engine


# Less room than this beside an SQLite database is "full": SQLite needs 32 KiB for the -shm
# file at its first connection, and pages for the -wal file at the first write.
FULL_DISK_BYTES = 1024 * 1024


def _full_disk(folder: Path) -> str | None:
    """What to tell an operator when the disk holding `folder` is (nearly) full, of bytes or
    of inodes (no new file can be made: SQLite then says "unable to open database file");
    None when it has room, or cannot be asked."""
    try:
        disk = os.statvfs(folder)
    except OSError:
        return None
    free = disk.f_bavail * disk.f_frsize
    if free < FULL_DISK_BYTES:
        full = f"is full ({free:,} bytes free)"
    elif disk.f_files and not disk.f_favail:  # f_files 0: a filesystem without inodes
        full = "has no inodes left (no new file can be made there)"
    else:
        return None
    return (
        f"the disk holding {folder} {full}. Make room on it (SQLite needs some for its -wal "
        "and -shm files beside the database), then start again"
    )


def _check_sqlite_path(path: Path, shown: str, *, create: bool) -> None:
    if not path.parent.is_dir():
        raise StartupError(
            f"{DATABASE} points into the folder {path.parent}, which does not exist: create "
            f"it, or set {DATABASE} to sqlite:///<path of an existing folder>/commentd.db"
        )
    if path.is_dir():
        raise StartupError(f"{DATABASE} names {path}, which is a folder, not a database file")
    if not create and not path.exists():
        raise StartupError(
            f"there is no commentd database at {path} ({DATABASE} is {shown}). Run this "
            f"command in the folder where `commentd serve` runs, or set {DATABASE} to the "
            "database the service uses; `commentd migrate` makes a new one there"
        )


def _check_migrated(engine: Engine, shown: str) -> None:
    from commentd.ops import migrate  # Alembic only for the commands that need it

    if not migrate.is_up_to_date(engine):
        raise StartupError(
            f"the database {shown} is not a commentd database at this version. If it is the "
            "service's database, run `commentd migrate` (or restart `commentd serve`); "
            f"otherwise set {DATABASE} to the database the service uses"
        )


def shown_storage(uri: str) -> str:
    """A storage URI without its password, for messages."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


def check_rate_limit_storage(settings: Settings) -> None:
    """Shared rate-limit storage (Redis…) must answer at start, not at the first post.

    Raises StartupError. While the service runs, a storage that goes away is survived
    (in-process counters meanwhile, extensions.limiter_config).
    """
    if not settings.uses_shared_rate_limit_storage:
        return
    # flask-limiter: only for `serve`
    from commentd.web.limits import REDIS_SCHEMES, storage_options

    uri = settings.ratelimit_storage_uri
    shown = shown_storage(uri)
    scheme = uri.partition("://")[0]
    if scheme not in REDIS_SCHEMES:  # the shared storages commentd counts in (extensions.py)
        raise StartupError(
            f"{STORAGE} is {shown}, which commentd cannot count in: use a Redis URL "
            "(redis://host:6379/0, rediss://, redis+sentinel://, redis+cluster://), or "
            "memory:// for in-process counters"
        )
    try:
        storage = storage_from_string(uri, **storage_options(uri))  # the served client's
        answers = storage.check()
        # The master process forks the workers: no client socket of this check goes with them.
        close = getattr(getattr(storage, "storage", None), "close", None)
        if callable(close):
            close()
    except ConfigurationError as error:
        reason = str(error).rstrip(".")  # limits' own message ends with a full stop
        raise StartupError(
            f"{STORAGE} is {shown}, which cannot be used: {reason}. Use redis://host:6379/0, "
            "or memory:// for in-process counters"
        ) from None
    except Exception:  # a client library's own failure to connect is as good as "no"
        answers, storage = False, None
    if not answers:
        raise StartupError(_refusal(storage, shown))


def _refusal(storage: object, shown: str) -> str:
    """Why a rate-limit storage that failed its check cannot be used: a Redis that answers
    may still refuse (the URL's credentials, a database number it does not have), and its own
    reason says so (redis-py's errors name no password); else nothing answers there."""
    from redis import AuthenticationError, ResponseError

    client = getattr(storage, "storage", None)
    try:
        if client is not None and hasattr(client, "ping"):
            client.ping()
    except AuthenticationError:
        return (
            f"{shown} ({STORAGE}) refuses the user and password in the URL: write the "
            "password as redis://:password@host:6379/0 (redis://user:password@… with Redis "
            "ACLs), or none if the server has none"
        )
    except ResponseError as error:
        return (
            f"{shown} ({STORAGE}) answers but refuses: {error}. Fix the URL (a database "
            "number the server has: redis://host:6379/0)"
        )
    except Exception:  # not answering at all: the message below
        pass
    return (
        f"nothing answers at {shown} ({STORAGE}). Start the storage (Redis) or fix the "
        "host and port; or unset the variable to count in-process (one worker process)"
    )


def start_warnings(settings: Settings) -> list[str]:
    """Settings that work, but not as well as they could: logged at start."""
    warnings: list[str] = []
    if settings.moderation is ModerationMode.KNOWN and not settings.smtp_url:
        warnings.append(
            "COMMENTD_MODERATION=known without COMMENTD_SMTP_URL: a returning commenter on a "
            "new device gets no confirmation email, so their comment waits for moderation"
        )
    return warnings


def libpq_url(database_url: str) -> str:
    """The URL of a PostgreSQL database as libpq tools (pg_dump, psql) take it: no SQLAlchemy
    driver name, and no password (they ask for it, or read PGPASSWORD or ~/.pgpass)."""
    url = make_url(database_url)
    bare = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return bare.render_as_string(hide_password=False)
