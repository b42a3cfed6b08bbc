"""`commentd restore BACKUP`: a backup put back in place of the SQLite database, the service
stopped (ops/backup.restore_sqlite). Putting a copy in place by hand was the documented way,
and was not safe: a `-wal` file left beside the database by a service that was killed holds the
old database's last writes, and SQLite applies them to whatever file then has its name."""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
import requests
from alembic import command

from commentd.db import make_engine
from commentd.ops.migrate import alembic_config, revisions, upgrade
from tests.helpers import (
    ADMIN_TOKEN,
    LIFTED_LIMITS,
    SLUG,
    LiveServer,
    comment_fields,
    run_commentd,
    start_server,
)
from tests.live.test_faults import server_pids


def bodies(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as connection:
        return [row[0] for row in connection.execute("SELECT body FROM comments ORDER BY id")]


def post(server: LiveServer, body: str) -> None:
    answer = requests.post(
        f"{server.url}/api/posts/{SLUG}/comments", json=comment_fields(body=body), timeout=10
    )
    assert answer.status_code == 201, answer.text


def environment(database: Path) -> dict[str, str]:
    return {
        "COMMENTD_DATABASE_URL": f"sqlite:///{database}",
        "COMMENTD_ADMIN_TOKEN": ADMIN_TOKEN,
    } | LIFTED_LIMITS


def back_up(database: Path, target: Path) -> None:
    """`commentd backup TARGET` on `database`."""
    run_commentd(f"sqlite:///{database}", "backup", str(target))


def restore(database: Path, backup: Path, check: bool = True) -> str:
    """`commentd restore BACKUP` on `database`: what it said (standard error)."""
    done = run_commentd(f"sqlite:///{database}", "restore", str(backup), check=check)
    assert (done.returncode == 0) == check, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


def kept_files(folder: Path) -> list[Path]:
    """The databases a restore kept (not their -wal files)."""
    return sorted(p for p in folder.glob("*.replaced-*") if not p.name.endswith("-wal"))


def test_a_restored_backup_serves_what_it_held_and_the_replaced_database_is_kept(
    tmp_path: Path,
) -> None:
    database = tmp_path / "commentd.db"
    server = start_server(environment(database), tmp_path)
    try:
        post(server, "First.")
        post(server, "Second.")
        back_up(database, tmp_path / "backup.db")
        post(server, "After the backup.")
    finally:
        server.stop()
    backup_bytes = (tmp_path / "backup.db").read_bytes()
    database.chmod(0o644)  # made readable by hand, say

    said = restore(database, tmp_path / "backup.db")

    assert "Restored 2 comments on 1 post from" in said
    assert bodies(database) == ["First.", "Second."]
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    [kept] = kept_files(tmp_path)
    assert f"kept as {kept}" in said
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # it holds readers' addresses too
    assert bodies(kept) == ["First.", "Second.", "After the backup."]
    assert (tmp_path / "backup.db").read_bytes() == backup_bytes  # only read
    assert not list(tmp_path.glob("backup.db-*")) and not list(tmp_path.glob(".*restoring*"))
    assert not list(tmp_path.glob("*.replaced-*-wal"))  # the WAL was folded into it
    restarted = start_server(environment(database), tmp_path)
    try:
        post(restarted, "Third.")
    finally:
        restarted.stop()
    assert bodies(database) == ["First.", "Second.", "Third."]


@contextmanager
def serving_past_a_backup(database: Path, backup: Path) -> Iterator[LiveServer]:
    """`commentd serve` on `database`, which took "First.", was backed up to `backup`, then took
    "Second."; stopped after the block."""
    server = start_server(environment(database), database.parent)
    try:
        post(server, "First.")
        back_up(database, backup)
        post(server, "Second.")
        yield server
    finally:
        server.stop()


def killed_past_a_backup(database: Path, backup: Path) -> None:
    """serving_past_a_backup, one comment more ("Third."), then SIGKILL for every process of
    the server: its last writes are left in the database's -wal."""
    with serving_past_a_backup(database, backup) as server:
        post(server, "Third.")
        for pid in server_pids(server):
            os.kill(pid, signal.SIGKILL)
        server.process.wait()


def test_restore_refuses_while_the_service_runs_and_changes_nothing(tmp_path: Path) -> None:
    database = tmp_path / "commentd.db"
    with serving_past_a_backup(database, tmp_path / "backup.db") as server:
        said = restore(database, tmp_path / "backup.db", check=False)
        post(server, "Still taken.")

    assert "in use" in said and "stop commentd" in said
    assert bodies(database) == ["First.", "Second.", "Still taken."]
    assert not kept_files(tmp_path) and not list(tmp_path.glob(".*restoring*"))


def left_as_it_was(_database: Path) -> None:
    """The killed service's database still in place."""


def moved_away(database: Path) -> None:
    """`mv commentd.db elsewhere.db`: its -wal stays behind under the old name."""
    database.rename(database.with_name("elsewhere.db"))


def overwritten(database: Path) -> None:
    """The database overwritten with junk (the reason to restore)."""
    database.write_bytes(b"junk, not a database " * 1000)


@pytest.mark.parametrize("then", [left_as_it_was, moved_away, overwritten])
def test_a_killed_service_s_last_writes_do_not_leak_into_the_restored_database(
    tmp_path: Path, then: Callable[[Path], None]
) -> None:
    """SIGKILL leaves the database's -wal full of its last writes. By hand (`mv backup.db
    commentd.db`), SQLite applied them to the backup at the next start; restore folds them into
    the database it keeps, or keeps the -wal beside it, and the backup comes back exactly."""
    database = tmp_path / "commentd.db"
    killed_past_a_backup(database, tmp_path / "backup.db")
    wal = tmp_path / "commentd.db-wal"
    assert wal.stat().st_size > 0  # the last writes, not yet in the database file
    then(database)
    if then is overwritten:  # not taken for the service's database on its own say
        refused = restore(database, tmp_path / "backup.db", check=False)
        assert "move it aside and restore again" in refused
        database.rename(tmp_path / "damaged.db")

    said = restore(database, tmp_path / "backup.db")

    assert bodies(database) == ["First."]
    if then is left_as_it_was:
        assert bodies(kept_files(tmp_path)[0]) == ["First.", "Second.", "Third."]
    if then in (moved_away, overwritten):  # no database to keep: its -wal is kept, and said
        [aside] = tmp_path.glob("*.replaced-*-wal")
        assert not kept_files(tmp_path) and f"kept as {aside}" in said


def not_a_database(folder: Path, _database: Path) -> Path:
    (folder / "notes.db").write_text("not a database\n" * 100)
    return folder / "notes.db"


def damaged(folder: Path, database: Path) -> Path:
    """A backup cut short (a copy that ran out of room, say)."""
    back_up(database, folder / "full.db")
    (folder / "cut.db").write_bytes((folder / "full.db").read_bytes()[:8192])
    return folder / "cut.db"


def someone_elses(folder: Path, _database: Path) -> Path:
    with closing(sqlite3.connect(folder / "other.db")) as other, other:
        other.execute("CREATE TABLE notes (text)")
    return folder / "other.db"


def from_a_newer_version(folder: Path, database: Path) -> Path:
    back_up(database, folder / "newer.db")
    with closing(sqlite3.connect(folder / "newer.db")) as newer, newer:
        newer.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    return folder / "newer.db"


def the_database_itself(_folder: Path, database: Path) -> Path:
    return database


def missing(folder: Path, _database: Path) -> Path:
    return folder / "no-such-backup.db"


def a_device(_folder: Path, _database: Path) -> Path:
    return Path("/dev/null")


def zeros(folder: Path, _database: Path) -> Path:
    """A large file of nothing (sparse): refused before a byte of it is copied."""
    with (folder / "zeros.db").open("wb") as file:
        file.truncate(1 << 26)
    return folder / "zeros.db"


def an_interrupted_restore_s_copy(_folder: Path, database: Path) -> Path:
    copy = database.with_name(".commentd.db.restoring")
    copy.write_bytes(database.read_bytes())
    return copy


@pytest.mark.parametrize(
    ("backup", "says"),
    [
        (not_a_database, "is not an SQLite database"),
        (damaged, "is damaged"),
        (someone_elses, "not commentd's"),
        (from_a_newer_version, "newer version of commentd"),
        (the_database_itself, "is the database itself"),
        (missing, "there is no file"),
        (a_device, "is not a regular file"),
        (zeros, "is not an SQLite database"),
        (an_interrupted_restore_s_copy, "an interrupted restore left"),
    ],
)
def test_restore_refuses_what_it_cannot_serve_and_changes_nothing(
    tmp_path: Path, backup: Callable[[Path, Path], Path], says: str
) -> None:
    database = tmp_path / "commentd.db"
    backups = tmp_path / "backups"
    backups.mkdir()
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    engine.dispose()
    given = backup(backups, database)
    before = database.read_bytes()
    given_before = given.read_bytes() if given.exists() else None
    folders_before = sorted(tmp_path.rglob("*"))

    said = restore(database, given, check=False)

    assert says in said, said
    assert database.read_bytes() == before
    assert (given.read_bytes() if given.exists() else None) == given_before
    assert sorted(tmp_path.rglob("*")) == folders_before  # nothing made, nothing left


def test_a_backup_from_an_earlier_version_is_restored_and_migrated(tmp_path: Path) -> None:
    database = tmp_path / "commentd.db"
    older = tmp_path / "older.db"
    engine = make_engine(f"sqlite:///{older}")
    _known, newest = revisions()
    [head] = newest
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, f"{head}-1")  # one revision before this version's
    engine.dispose()
    run_commentd(f"sqlite:///{database}", "migrate")

    said = restore(database, older)

    assert "earlier version of commentd" in said
    run_commentd(f"sqlite:///{database}", "migrate")
    server = start_server(environment(database), tmp_path)
    try:
        post(server, "On the restored database.")
    finally:
        server.stop()
    assert bodies(database) == ["On the restored database."]


def test_a_database_named_through_a_symbolic_link_is_restored_where_it_lives(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    run_commentd(f"sqlite:///{data / 'commentd.db'}", "migrate")
    back_up(data / "commentd.db", tmp_path / "backup.db")
    link = tmp_path / "commentd.db"
    link.symlink_to(data / "commentd.db")

    restore(link, tmp_path / "backup.db")

    assert link.is_symlink() and link.resolve() == data / "commentd.db"
    assert [path.name for path in kept_files(data)] and not kept_files(tmp_path)
    assert bodies(link) == []


def test_a_second_restore_at_once_is_refused_and_an_interrupted_one_s_copy_is_replaced(
    tmp_path: Path,
) -> None:
    database = tmp_path / "commentd.db"
    run_commentd(f"sqlite:///{database}", "migrate")
    back_up(database, tmp_path / "backup.db")
    partial = tmp_path / ".commentd.db.restoring"
    before = database.read_bytes()
    with partial.open("wb") as running:  # a restore at work holds its copy locked
        fcntl.flock(running.fileno(), fcntl.LOCK_EX)
        said = restore(database, tmp_path / "backup.db", check=False)
    assert "another `commentd restore`" in said
    assert database.read_bytes() == before and partial.exists()  # the other's copy untouched
    partial.write_bytes(b"half a copy")  # what an interrupted restore left
    (tmp_path / ".commentd.db.restoring-wal").write_bytes(b"and its wal")

    restore(database, tmp_path / "backup.db")

    assert not list(tmp_path.glob(".commentd.db.restoring*"))
    assert bodies(database) == []


def test_a_backup_s_own_hot_journal_is_rolled_back_as_sqlite_would(tmp_path: Path) -> None:
    """A backup in rollback-journal mode left with a hot journal (a process stopped mid-write):
    the copy was made without the journal, so a transaction never committed came back."""
    database = tmp_path / "commentd.db"
    run_commentd(f"sqlite:///{database}", "migrate")
    source = tmp_path / "source.db"
    back_up(database, source)
    with closing(sqlite3.connect(source)) as connection, connection:
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("CREATE TABLE notes (text)")
        connection.executemany("INSERT INTO notes VALUES (?)", [("quiet",)] * 3000)
    stopped_mid_write = (
        "import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "c.execute('PRAGMA cache_size=5'); c.execute('BEGIN'); "
        "c.execute(\"UPDATE notes SET text = 'NEVER COMMITTED'\"); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", stopped_mid_write, str(source)], check=True)
    assert (tmp_path / "source.db-journal").stat().st_size > 0  # hot

    restore(database, source)

    with closing(sqlite3.connect(database)) as restored:
        found = restored.execute("SELECT DISTINCT text FROM notes").fetchall()
    assert found == [("quiet",)]


def test_a_backup_named_through_a_link_brings_its_own_wal(tmp_path: Path) -> None:
    """A killed service's database (its last writes in its -wal) given through a symbolic
    link: the -wal beside the file the link names is read, as SQLite reads it."""
    database = tmp_path / "commentd.db"
    killed_past_a_backup(database, tmp_path / "backup.db")
    link = tmp_path / "link.db"
    link.symlink_to(database)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    restore(elsewhere / "commentd.db", link)

    assert bodies(elsewhere / "commentd.db") == ["First.", "Second.", "Third."]


def test_the_restored_database_has_the_owner_of_the_one_it_replaced(tmp_path: Path) -> None:
    """Run as root (a container's `docker compose exec`), restore left a file only root could
    open, and the service (its own user) could not start on it."""
    database = tmp_path / "commentd.db"
    run_commentd(f"sqlite:///{database}", "migrate")
    back_up(database, tmp_path / "backup.db")
    service_user = (10001, 10001) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(database, *service_user)

    restore(database, tmp_path / "backup.db")

    found = database.stat()
    assert (found.st_uid, found.st_gid) == service_user
    assert stat.S_IMODE(found.st_mode) == 0o600


def test_a_database_url_naming_someone_s_file_is_refused_and_the_file_left_alone(
    tmp_path: Path,
) -> None:
    """Every other command refused COMMENTD_DATABASE_URL naming a text file; restore moved it
    aside and put a database in its place."""
    notes = tmp_path / "notes.txt"
    notes.write_text("hello, secret\n")
    notes.chmod(0o644)
    run_commentd(f"sqlite:///{tmp_path / 'real.db'}", "migrate")
    back_up(tmp_path / "real.db", tmp_path / "backup.db")
    before = sorted(tmp_path.iterdir())

    said = restore(notes, tmp_path / "backup.db", check=False)

    assert "is not an SQLite database: check that COMMENTD_DATABASE_URL" in said
    assert notes.read_text() == "hello, secret\n" and stat.S_IMODE(notes.stat().st_mode) == 0o644
    assert sorted(tmp_path.iterdir()) == before


def test_a_database_path_that_is_a_folder_is_said(tmp_path: Path) -> None:
    (tmp_path / "commentd.db").mkdir()
    database = tmp_path / "real.db"
    run_commentd(f"sqlite:///{database}", "migrate")
    back_up(database, tmp_path / "backup.db")

    said = restore(tmp_path / "commentd.db", tmp_path / "backup.db", check=False)

    assert "is a folder" in said


def test_restore_of_postgresql_points_to_pg_restore(tmp_path: Path) -> None:
    done = run_commentd(
        "postgresql+psycopg://x@h/db", "restore", str(tmp_path / "b.dump"), check=False
    )
    assert done.returncode == 1
    assert "pg_restore --clean --if-exists --dbname=postgresql://x@h/db" in done.stderr
