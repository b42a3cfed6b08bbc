"""`commentd` at start and on the command line: settings that cannot work stop it with a message
naming the variable and the fix (never a traceback); commands say which database they use and
create none outside serve/migrate; bad paths get a message; what it writes is private."""

from __future__ import annotations

import os
import shlex
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import requests

from commentd.db import make_engine
from commentd.ops.backup import backup_sqlite
from commentd.ops.migrate import upgrade
from tests.conftest import POSTGRES_SERVER
from tests.helpers import ADMIN_TOKEN, LIFTED_LIMITS, comment_fields, start_server
from tests.private_servers import SHARED_REDIS, redis_available

CLI = (sys.executable, "-m", "commentd.ops.cli")
GOOD = "https://blog.example"


def commentd(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `commentd ARGS` with exactly `env` (plus PATH) in `cwd`."""
    return subprocess.run(
        [*CLI, *args],
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")} | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def assert_refused(result: subprocess.CompletedProcess[str], *named: str) -> None:
    """Exit non-zero, a message on standard error naming each of `named`, no traceback."""
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    assert "Error:" in result.stderr
    for name in named:
        assert name in result.stderr, (name, result.stderr)
    assert message
    assert ".. " not in message, message  # a quoted reason's own full stop, then ours


def serve(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`commentd serve` expected to refuse to start (on port 0, should it start after all)."""
    return commentd("serve", "--host", "127.0.0.1", "--port", "0", env=env, cwd=cwd)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """This process's umask (children inherit it) for the block."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- settings that cannot work stop `commentd serve` at start -----------------------------


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"COMMENTD_ADMIN_TOKEN": "a"}, ["COMMENTD_ADMIN_TOKEN", "secrets.token_urlsafe(32)"]),
        ({"COMMENTD_SECRET_KEY": "x"}, ["COMMENTD_SECRET_KEY", "secrets.token_urlsafe(32)"]),
        (
            {"COMMENTD_WEBHOOK_URLS": "https://ci.example/hook", "COMMENTD_WEBHOOK_SECRET": "abc"},
            ["COMMENTD_WEBHOOK_SECRET"],
        ),
        ({"COMMENTD_ALLOWED_ORIGINS": "127.0.0.1:8000"}, ["COMMENTD_ALLOWED_ORIGINS", "scheme"]),
        ({"COMMENTD_ALLOWED_ORIGINS": "*"}, ["COMMENTD_ALLOWED_ORIGINS"]),
        ({"COMMENTD_ALLOWED_ORIGINS": f"{GOOD}/blog/"}, ["COMMENTD_ALLOWED_ORIGINS"]),
        ({"COMMENTD_ALLOWED_ORIGINS": f"{GOOD}, {GOOD}x;"}, ["COMMENTD_ALLOWED_ORIGINS"]),
        ({"COMMENTD_DATABASE_URL": "postgresql+psycopg2://u@db/x"}, ["COMMENTD_DATABASE_URL"]),
        ({"COMMENTD_DATABASE_URL": "mongodb://db/commentd"}, ["COMMENTD_DATABASE_URL"]),
        ({"COMMENTD_RATELIMIT_STORAGE_URI": "foo://x"}, ["COMMENTD_RATELIMIT_STORAGE_URI"]),
        (
            {"COMMENTD_RATELIMIT_STORAGE_URI": "memcached://127.0.0.1:11211"},
            ["COMMENTD_RATELIMIT_STORAGE_URI", "Redis"],
        ),
        (  # a scheme limits knows, whose client package commentd does not install
            {"COMMENTD_RATELIMIT_STORAGE_URI": "valkey://127.0.0.1:6379/0"},
            ["COMMENTD_RATELIMIT_STORAGE_URI", "'valkey' prerequisite not available", "memory://"],
        ),
        (
            {"COMMENTD_NOTIFY_EMAIL": "author@blog.example"},
            ["COMMENTD_NOTIFY_EMAIL", "COMMENTD_SMTP_URL"],
        ),
        ({"COMMENTD_PUBLIC_URL": "comments.example.org"}, ["COMMENTD_PUBLIC_URL"]),
    ],
    ids=lambda value: str(value)[:40] if isinstance(value, dict) else None,
)
def test_serve_refuses_a_setting_that_cannot_work_and_creates_nothing(
    env: dict[str, str], named: list[str], tmp_path: Path
) -> None:
    result = serve(env, tmp_path)

    assert_refused(result, *named)
    assert not (tmp_path / "commentd.db").exists()


@pytest.mark.parametrize("command", ["serve", "migrate", "token", "purge-spam"])
def test_a_sqlite_file_in_a_folder_that_does_not_exist_is_named_with_the_fix(
    command: str, tmp_path: Path
) -> None:
    missing = tmp_path / "missing" / "dir" / "commentd.db"
    env = {"COMMENTD_DATABASE_URL": f"sqlite:///{missing}"}

    result = (
        serve(env, tmp_path) if command == "serve" else commentd(command, env=env, cwd=tmp_path)
    )

    assert_refused(result, "COMMENTD_DATABASE_URL", str(missing.parent), "does not exist")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:{closed}/test",  # nothing listens
        "postgres://postgres@127.0.0.1:{closed}/test",  # libpq's spelling, no traceback either
        "postgresql://postgres@127.0.0.1:5432/no_such_database_for_commentd",
    ],
)
def test_serve_says_which_database_it_cannot_reach(
    url: str, tmp_path: Path, refused_port: int
) -> None:
    result = serve({"COMMENTD_DATABASE_URL": url.format(closed=refused_port)}, tmp_path)

    assert_refused(result, "COMMENTD_DATABASE_URL", "cannot open the database")


def test_serve_refuses_a_rate_limit_storage_that_does_not_answer(
    tmp_path: Path, refused_port: int
) -> None:
    nowhere = f"redis://:hunter2-password@127.0.0.1:{refused_port}/0"

    result = serve({"COMMENTD_RATELIMIT_STORAGE_URI": nowhere}, tmp_path)

    assert_refused(result, "COMMENTD_RATELIMIT_STORAGE_URI", "nothing answers at")
    assert "hunter2" not in result.stderr  # the password stays out of the message
    assert not (tmp_path / "commentd.db").exists()


@pytest.mark.parametrize(
    ("credentials", "database", "says"),
    [
        (":wrong-password-0123@", "0", "refuses the user and password"),
        ("someone:wrong-password-0123@", "0", "refuses the user and password"),
        ("", "99", "DB index is out of range"),
    ],
    ids=["password", "user-and-password", "database-number"],
)
def test_serve_says_what_a_redis_that_answers_refuses(
    tmp_path: Path, credentials: str, database: str, says: str
) -> None:
    """A Redis that answers but refuses (credentials, a database it does not have) is not
    "nothing answers": the message says what it refused and how to write the URL."""
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {SHARED_REDIS}")
    host = SHARED_REDIS.split("://", 1)[1].rsplit("/", 1)[0]
    refused = f"redis://{credentials}{host}/{database}"

    result = serve({"COMMENTD_RATELIMIT_STORAGE_URI": refused}, tmp_path)

    assert_refused(result, "COMMENTD_RATELIMIT_STORAGE_URI", says)
    assert "nothing answers" not in result.stderr
    assert "wrong-password-0123" not in result.stderr
    assert not (tmp_path / "commentd.db").exists()


@pytest.mark.postgres
def test_serve_takes_a_postgres_url_in_libpq_spelling(
    postgres_schema_url: Callable[[], str], tmp_path: Path
) -> None:
    url = postgres_schema_url().replace("postgresql+psycopg://", "postgres://", 1)
    server = start_server({"COMMENTD_DATABASE_URL": url} | LIFTED_LIMITS, tmp_path)
    try:
        posted = requests.post(
            f"{server.url}/api/posts/pose/comments", json=comment_fields(), timeout=10
        )
    finally:
        server.stop()

    assert posted.status_code == 201


def test_known_mode_without_mail_starts_with_a_warning_that_says_what_is_missing(
    tmp_path: Path,
) -> None:
    env = {"COMMENTD_MODERATION": "known", "COMMENTD_DATABASE_URL": f"sqlite:///{tmp_path}/c.db"}
    server = start_server(env, tmp_path)
    server.stop()

    assert "COMMENTD_MODERATION=known without COMMENTD_SMTP_URL" in server.log()


# --- commands say which database they use, and create none outside serve/migrate ----------


@pytest.mark.parametrize(
    "args", [("token",), ("token", "--label", "phone"), ("purge-spam",), ("backup", "copy.db")]
)
def test_a_command_run_where_there_is_no_database_creates_none_and_says_where_it_looked(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    result = commentd(*args, env={}, cwd=tmp_path)

    assert_refused(result, str(tmp_path / "commentd.db"))
    assert "commentd serve" in result.stderr or "no SQLite database" in result.stderr
    assert result.stdout == ""  # no token the service would refuse
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_token_refuses_a_database_that_commentd_never_migrated(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE notes (x)").connection.close()

    result = commentd("token", env={"COMMENTD_DATABASE_URL": "sqlite:///other.db"}, cwd=tmp_path)

    assert_refused(result, str(tmp_path / "other.db"), "commentd migrate")
    tables = sqlite3.connect(tmp_path / "other.db").execute("SELECT name FROM sqlite_master")
    assert [row[0] for row in tables] == ["notes"]  # nothing was created in it


@pytest.mark.postgres
def test_token_refuses_a_postgresql_schema_without_commentd_and_creates_no_table(
    postgres_schema_url: Callable[[], str], tmp_path: Path
) -> None:
    url = postgres_schema_url()
    schema = url.rsplit("%3D", 1)[1]

    result = commentd("token", env={"COMMENTD_DATABASE_URL": url}, cwd=tmp_path)

    assert_refused(result, "commentd migrate")
    with psycopg.connect(POSTGRES_SERVER) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchone()
    assert tables == (0,)


def test_each_command_names_its_database_on_stderr_and_token_prints_the_token_alone(
    tmp_path: Path,
) -> None:
    env = {"COMMENTD_DATABASE_URL": "sqlite:///commentd.db"}
    shown = f"sqlite:///{tmp_path / 'commentd.db'}"

    migrated = commentd("migrate", env=env, cwd=tmp_path)
    token = commentd("token", env=env, cwd=tmp_path)
    purged = commentd("purge-spam", env=env, cwd=tmp_path)
    copied = commentd("backup", "copy.db", env=env, cwd=tmp_path)

    for result in (migrated, token, purged, copied):
        assert result.returncode == 0, result.stderr
        assert shown in result.stderr  # absolute: the folder it looked in is plain to see
    assert token.stdout.strip() == token.stdout.rstrip("\n") and len(token.stdout) > 40
    assert token.stdout.count("\n") == 1


# --- bad paths and arguments get a message, never a traceback -----------------------------


@pytest.fixture
def live_database(tmp_path: Path) -> Path:
    """A migrated SQLite database with one comment, as `commentd serve` leaves it."""
    database = tmp_path / "commentd.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    engine.dispose()
    return database


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("/missing/dir/x.db", "the folder /missing/dir does not exist"),
        ("commentd.db", "is the live database"),
        ("./commentd.db-wal", "is the live database"),
        ("{tmp}/commentd.db", "is the live database"),
        (".", "is a directory"),
        ("", "is a folder"),
    ],
)
def test_backup_to_a_bad_target_says_why_and_leaves_the_database_alone(
    live_database: Path, target: str, says: str
) -> None:
    before = live_database.read_bytes()
    folder = live_database.parent

    result = commentd("backup", target.format(tmp=folder), env={}, cwd=folder)

    assert_refused(result)
    assert says in result.stderr
    assert live_database.read_bytes() == before
    assert not list(folder.glob(".*.partial"))


def test_backup_of_a_file_that_is_not_a_database_says_so(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not a database\n" * 100)

    result = commentd(
        "backup", "copy.db", env={"COMMENTD_DATABASE_URL": "sqlite:///notes.db"}, cwd=tmp_path
    )

    assert_refused(result, "not a database")
    assert not (tmp_path / "copy.db").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("backup", "copy.db"),
        ("export", "json", "out.json"),
        ("token", "list"),
        ("serve", "--host", "127.0.0.1", "--port", "0"),
    ],
)
def test_a_command_named_to_a_file_that_is_not_a_database_leaves_it_as_it_was(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """COMMENTD_DATABASE_URL naming someone's readable file by mistake: a red team saw a
    command make it private (chmod 600) before refusing it. It is refused and left alone."""
    notes = tmp_path / "notes.db"
    notes.write_text("not a database\n" * 100)
    notes.chmod(0o644)
    before = notes.read_bytes()

    result = commentd(*args, env={"COMMENTD_DATABASE_URL": "sqlite:///notes.db"}, cwd=tmp_path)

    assert_refused(result, "not a database")
    assert (mode(notes), notes.read_bytes()) == (0o644, before)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.db"]


def test_a_damaged_database_at_start_is_told_to_be_restored(tmp_path: Path) -> None:
    """A commentd database whose pages were overwritten (its header kept): the command says it
    is damaged and to restore it, and leaves the file as it was (SQLite could not open it)."""
    database = tmp_path / "commentd.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    engine.dispose()
    size = database.stat().st_size
    with database.open("r+b") as file:
        file.seek(4096)
        file.write(b"\xa5" * (size - 4096))
    database.chmod(0o644)

    result = commentd(
        "token", "list", env={"COMMENTD_DATABASE_URL": "sqlite:///commentd.db"}, cwd=tmp_path
    )

    assert_refused(result, "malformed", "restore it from a backup")
    assert mode(database) == 0o644


@pytest.mark.parametrize(
    "args",
    [
        ("serve", "--port", "99999"),
        ("serve", "--port", "eighty"),
        ("purge-spam", "--days", "0"),
        ("backup",),
        ("no-such-command",),
    ],
)
def test_bad_arguments_get_a_usage_message(args: tuple[str, ...], tmp_path: Path) -> None:
    result = commentd(*args, env={}, cwd=tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "Usage:" in result.stderr
    assert not (tmp_path / "commentd.db").exists()


# --- what commentd writes is private, whatever the umask -----------------------------------


def test_database_its_wal_and_backups_are_private_under_a_permissive_umask(
    tmp_path: Path,
) -> None:
    env = {"COMMENTD_DATABASE_URL": f"sqlite:///{tmp_path / 'commentd.db'}"} | LIFTED_LIMITS
    with umask(0):
        server = start_server(env | {"COMMENTD_ADMIN_TOKEN": ADMIN_TOKEN}, tmp_path)
        try:
            posted = requests.post(
                f"{server.url}/api/posts/pose/comments", json=comment_fields(), timeout=10
            )
            copied = commentd("backup", "copy.db", env=env, cwd=tmp_path)
            # Exports hold every commenter's address, as the database does.
            exported = [
                commentd("export", "json", "export.json", env=env, cwd=tmp_path),
                commentd(
                    "export",
                    "wordpress",
                    "export.wordpress",
                    "--site-url=https://blog.example",
                    env=env,
                    cwd=tmp_path,
                ),
            ]
            files = {
                name: mode(tmp_path / name)
                for name in (
                    "commentd.db",
                    "commentd.db-wal",
                    "commentd.db-shm",
                    "copy.db",
                    "export.json",
                    "export.wordpress",
                )
            }
        finally:
            server.stop()

    assert posted.status_code == 201 and copied.returncode == 0, copied.stderr
    assert [done.returncode for done in exported] == [0, 0], [d.stderr for d in exported]
    assert files == dict.fromkeys(files, 0o600)


def test_the_library_creates_private_files_without_the_commands_umask(tmp_path: Path) -> None:
    """create_app() under another server (no `commentd` umask): explicit modes still hold."""
    database = tmp_path / "commentd.db"
    with umask(0):
        engine = make_engine(f"sqlite:///{database}")
        upgrade(engine)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE scratch (x)")
            wal, shm = mode(tmp_path / "commentd.db-wal"), mode(tmp_path / "commentd.db-shm")
        engine.dispose()
        size = backup_sqlite(database, tmp_path / "copy.db")

    assert (mode(database), wal, shm, mode(tmp_path / "copy.db")) == (0o600,) * 4
    assert size > 0


def test_an_existing_readable_database_is_made_private_when_opened(tmp_path: Path) -> None:
    database = tmp_path / "commentd.db"
    sqlite3.connect(database).close()
    database.chmod(0o644)

    engine = make_engine(f"sqlite:///{database}")
    assert mode(database) == 0o644  # not before SQLite opened it as a database
    with engine.connect():
        pass
    engine.dispose()

    assert mode(database) == 0o600


def test_a_second_engine_on_a_database_this_process_has_open_keeps_its_locks(
    tmp_path: Path,
) -> None:
    """Making an engine opened and closed the database file to read its header: closing any
    descriptor of a file drops every POSIX lock the process holds on it, SQLite's among them.
    Another process closing its connection then took itself for the last, and deleted the
    -wal the first engine was writing to: a moderation token made through the app was missing
    for `commentd token list`. Files are made private at SQLite's first connection instead."""
    database = tmp_path / "commentd.db"
    first = make_engine(f"sqlite:///{database}")
    with first.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE notes (text)")
    make_engine(f"sqlite:///{database}").dispose()  # what create_app does beside a CLI's
    other = "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('SELECT 1').fetchall()"
    subprocess.run([sys.executable, "-c", other, str(database)], check=True)

    with first.begin() as connection:
        connection.exec_driver_sql("INSERT INTO notes VALUES ('kept')")
    read = (
        "import sqlite3, sys; "
        "print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM notes').fetchone()[0])"
    )
    seen = subprocess.run(
        [sys.executable, "-c", read, str(database)], check=True, capture_output=True, text=True
    )
    first.dispose()

    assert seen.stdout.strip() == "1"


# --- the documented pg_dump route -----------------------------------------------------------


@pytest.mark.postgres
def test_the_pg_dump_command_backup_prints_restores_every_comment(
    postgres_schema_url: Callable[[], str], tmp_path: Path
) -> None:
    url = postgres_schema_url()
    schema = url.rsplit("%3D", 1)[1]
    env = {"COMMENTD_DATABASE_URL": url, "COMMENTD_ADMIN_TOKEN": ADMIN_TOKEN} | LIFTED_LIMITS
    server = start_server(env, tmp_path)
    try:
        ids = [
            requests.post(
                f"{server.url}/api/posts/pose/comments",
                json=comment_fields(body=f"comment {n}"),
                timeout=10,
            ).json()["id"]
            for n in range(3)
        ]
    finally:
        server.stop()

    told = commentd("backup", "unused.db", env=env, cwd=tmp_path)
    command = next(
        line.strip() for line in told.stderr.splitlines() if line.strip().startswith("pg_dump ")
    )
    subprocess.run([*shlex.split(command), f"--schema={schema}"], cwd=tmp_path, check=True)
    with psycopg.connect(POSTGRES_SERVER, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")
    subprocess.run(
        ["pg_restore", f"--dbname={POSTGRES_SERVER}", str(tmp_path / "commentd.dump")],
        check=True,
    )

    assert told.returncode == 1 and "+psycopg" not in command
    with psycopg.connect(POSTGRES_SERVER) as connection:
        restored = [row[0] for row in connection.execute(f"SELECT id FROM {schema}.comments")]
    assert sorted(restored) == ids
