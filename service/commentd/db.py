"""Database plumbing: the declarative Base, engines tuned per backend, and the session factories.

No Flask here: web/sessions.py gives each request its Session; the CLI and the outbox worker
open their own.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import stat
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from commentd.errors import DatabaseFileReplaced

# Every constraint gets a predictable name, so Alembic can alter and drop it later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

log = logging.getLogger("commentd")

# Set in the info of a Session opened for a request whose method is safe (GET, HEAD,
# OPTIONS...), as that method: such a Session refuses to commit (refuse_commit_if_safe).
SAFE_REQUEST = "commentd_safe_request"
SQLITE_PAGE_CACHE_KB = 512


class Base(DeclarativeBase):
    """The declarative base of every model; its constraints are named (NAMING_CONVENTION)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_on_connect(dbapi_connection: Any, _record: object) -> None:
    # Take transactions out of pysqlite's hands so the "begin" hook below decides how they start.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers and one writer work at once across processes; the busy timeout makes a
    # second writer wait instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleting a comment must remove its personal data for good, not leave it in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    # Each pooled connection keeps its own page cache, 2 MB by default: with every thread's
    # connection full (long-tail reads), that was ~7 MB of a worker's memory. The OS keeps
    # the file's pages cached anyway; 512 KB holds the hot index pages of every read.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_PAGE_CACHE_KB}")
    cursor.close()


def _sqlite_temp_in_memory(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.execute("PRAGMA temp_store=MEMORY")


# In a pooled SQLite connection's info: (path, st_dev, st_ino) of the file its engine serves.
OPENED_FILE = "commentd_opened_file"


def _file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`; None when there is none. OSError when the
    question cannot be asked (a folder made unreadable)."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def _refuse_replaced(path: str, now: tuple[int, int] | None) -> OperationalError:
    if now is None:
        told = (
            f"the database file {path} was removed while commentd ran; writes are refused "
            "(none is stored in the removed file). Stop commentd, and put a backup in place "
            "with `commentd restore`"
        )
    else:
        told = (
            f"the database file {path} was replaced by another file while commentd ran; "
            "writes are refused (none is stored in the old file). Stop commentd, move the "
            "file now there aside, and put it back with `commentd restore`: a restart alone "
            "would let SQLite apply the old file's -wal, still beside it, to the new one"
        )
    return OperationalError("BEGIN", None, DatabaseFileReplaced(told))


class OpenedFile:
    """The file an SQLite engine serves: the one at `path` when the engine was made (else at
    its first connection). Its listeners note that file in every new connection's record
    (check_same_file then compares), and refuse a new connection once another file is at the
    path, or none: SQLite would open the new file with the old one's -wal and -shm files,
    which the older connections still hold under the same names (or create an empty database
    where the old one was removed)."""

    def __init__(self, path: Path) -> None:
        self.path = os.path.abspath(path)  # the name SQLite opens, symbolic links and all
        try:
            self.identity = _file_identity(self.path)
        except OSError:
            self.identity = None

    def listen(self, engine: Engine) -> None:
        """Install the listeners on `engine` (before and after each new connection)."""
        event.listen(engine, "do_connect", self._before_connect)
        event.listen(engine, "connect", self._connected)

    def _before_connect(self, *_args: object) -> None:
        if self.identity is None:
            return
        try:
            now = _file_identity(self.path)
        except OSError:
            return  # cannot tell: SQLite says what it meets
        if now != self.identity:
            raise _refuse_replaced(self.path, now)

    def _connected(self, _dbapi_connection: Any, record: Any) -> None:
        if self.identity is None:
            try:
                self.identity = _file_identity(self.path)
            except OSError:
                return
        if self.identity is not None:
            record.info[OPENED_FILE] = (self.path, *self.identity)


def check_same_file(connection: Connection) -> None:
    """Raise OperationalError (around DatabaseFileReplaced: a 503) when the SQLite file this
    connection's engine serves (OpenedFile) is no longer the file at its path: renamed over or
    removed while the service ran. Writes would be stored where nothing reads them after a
    restart. One stat(), a few µs; nothing for a connection that is not to an SQLite file."""
    opened = connection.info.get(OPENED_FILE)
    if opened is None:
        return
    path, device, inode = opened
    try:
        now = _file_identity(path)
    except OSError:
        return  # cannot tell: SQLite says what it meets
    if now != (device, inode):
        raise _refuse_replaced(path, now)


SQLITE_BUSY_SECONDS = 30
HOLDS_WRITE_TURN = "commentd_holds_write_turn"
# Beside an SQLite database: the empty file whose lock is the write turn between processes.
WRITE_TURN_SUFFIX = "-write-turn"
HOLDS_FILE_TURN = "commentd_holds_file_turn"
FILE_TURN_POLL_SECONDS = 0.0005


class FileTurn:
    """A lock between the processes of one host: `flock` on a file of its own (created empty,
    owner-only), asked for every FILE_TURN_POLL_SECONDS until `timeout`. A waiter gets in
    within about a millisecond of the holder letting go (SQLite's own busy handler sleeps up to
    100 ms at a time), and a process that dies lets go with it. Callers serialise their own
    threads first: the lock is the process's, not a thread's.

    The file is open only while the lock is asked for or held (opened at acquire, closed at
    release: one open and close per write, a few µs), so no descriptor outlives a turn: an
    engine disposed of, or a process forked, leaves none behind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    def acquire(self, timeout: float = SQLITE_BUSY_SECONDS) -> bool:
        """Wait for the lock, at most `timeout` seconds: whether it is held (OSError if the
        file cannot be opened). Not held: the file is closed again."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(FILE_TURN_POLL_SECONDS)
            except BaseException:
                os.close(fd)
                raise

    def release(self) -> None:
        """Let the next process in (closing the file lets go of its lock)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


def _check_before_commit(connection: Connection) -> None:
    """The engine's "commit" listener: a write transaction's COMMIT is refused (check_same_file)
    when the file was replaced since its BEGIN, which checked too; a write that took long (a
    bulk moderation) was otherwise acknowledged and stored in the old file."""
    if connection.info.get(HOLDS_WRITE_TURN) is not None:
        check_same_file(connection)


class WriteTurns:
    """SQLite's writers wait for each other here before BEGIN IMMEDIATE: a thread lock within
    the process, then a FileTurn beside the database between the processes of `commentd serve`.

    SQLite lets one writer in at a time and makes the others poll with growing sleeps (its busy
    handler: up to 100 ms each), so under concurrent posting most writers slept while the
    database was free. A writer holds its turn from BEGIN until its connection goes back to the
    pool (after the COMMIT or ROLLBACK). Writers of other programs still meet SQLite's own busy
    timeout.
    """

    def __init__(self, turn_file: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._file = FileTurn(turn_file) if turn_file is not None else None

    def begin(self, connection: Any) -> None:
        """The engine's "begin" listener: BEGIN in the connection's mode (sqlite_begin), after
        waiting for this process's write turn (at most SQLITE_BUSY_SECONDS) if IMMEDIATE."""
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode == "IMMEDIATE" and not connection.info.get(HOLDS_WRITE_TURN):
            # On timeout, go on: SQLite's busy timeout then decides, as without this lock.
            held = self._lock.acquire(timeout=SQLITE_BUSY_SECONDS)
            # The file's turn too; if it does not come (another program writing for long),
            # go on with the thread's alone: SQLite's busy timeout then decides.
            held_file = False
            if held and self._file is not None:
                try:
                    held_file = self._file.acquire()
                except BaseException:
                    self._lock.release()
                    raise
            connection.info[HOLDS_WRITE_TURN] = held
            connection.info[HOLDS_FILE_TURN] = held_file
            check_same_file(connection)  # the turns go back at checkin, as after any error
        # A deferred transaction that reads and then writes fails at once (SQLITE_BUSY_SNAPSHOT)
        # if another process wrote in between; writers therefore take the write lock up front.
        connection.exec_driver_sql(f"BEGIN {mode}")

    def end(self, _dbapi_connection: Any, record: Any) -> None:
        """The pool's "checkin" listener: give back the write turn the connection held."""
        if record.info.pop(HOLDS_FILE_TURN, False) and self._file is not None:
            self._file.release()
        if record.info.pop(HOLDS_WRITE_TURN, False):
            self._lock.release()


# Pooled connections older than this are replaced at checkout: below the idle timeouts of
# common load balancers and NATs (Azure's 4 minutes, AWS NLB's 350 s), which would otherwise
# cut a connection left idle in the pool and fail the request that next takes it.
POOL_RECYCLE_SECONDS = 180


# The database holds the site secret and readers' email addresses: only its owner may read it.
PRIVATE_FILE_MODE = 0o600
# SQLite gives its -wal, -shm and -journal files the mode of the database file itself.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_sqlite_file(path: Path) -> None:
    """Create the SQLite file `path` readable by its owner only (whatever the umask), if it
    does not exist; an existing one is made private at its first connection (MadePrivate).

    Does nothing when the folder does not exist: opening the database then fails, and the
    start-up checks (startup.py) say which folder is missing.
    """
    with contextlib.suppress(OSError):  # it exists (or cannot be made: said at connecting)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))


class MadePrivate:
    """The engine's "connect" listener, once, after SQLite opened `path` as a database: the
    file and its companions made readable by their owner only if they are not (with a
    warning). Only then: a file that is not an SQLite database (COMMENTD_DATABASE_URL naming
    someone's file by mistake) is refused, and left as it was. Never by opening the file
    itself: closing any descriptor of a file drops every POSIX lock this process holds on it,
    SQLite's among them (https://www.sqlite.org/howtocorrupt.html, section 2.2)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def listen(self, engine: Engine) -> None:
        """Install the listener on `engine`, after the one that sets the connection up."""
        event.listen(engine, "connect", self._connected, once=True)

    def _connected(self, _dbapi_connection: Any, _record: object) -> None:
        for file in (
            self.path,
            *(self.path.with_name(self.path.name + s) for s in SQLITE_COMPANIONS),
        ):
            try:
                mode = stat.S_IMODE(file.stat().st_mode)
                if mode & 0o077:
                    file.chmod(mode & 0o700)
                    log.warning("made %s readable by its owner only (it was %o)", file, mode)
            except FileNotFoundError:
                continue
            except OSError as error:
                log.warning(
                    "%s is readable by other users and could not be changed: %s", file, error
                )


def hold_open(path: Path) -> sqlite3.Connection:
    """A connection to the SQLite database at `path`, left open by its caller for as long as the
    process serves, after one read (which maps the database's -shm file).

    SQLite deletes a WAL database's -wal and -shm files when its last connection closes, and
    the next connection must create the -shm again, 32 KiB, which a full disk refuses ("disk
    I/O error"): every read would fail then, where with the files kept only writes do (503
    storage_full). The read ends at once: an open read would hold back every checkpoint.
    Raises sqlite3.Error (the caller logs it and serves on).
    """
    connection = sqlite3.connect(path, check_same_thread=False)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except BaseException:
        connection.close()
        raise
    return connection


def make_engine(database_url: str, *, temp_in_memory: bool = False) -> Engine:
    """An engine for `database_url`: SQLite tuned for several processes, PostgreSQL failing fast.

    `temp_in_memory` (SQLite alone): temporary data (statement journals, transient indices,
    sorts) in memory instead of files in SQLITE_TMPDIR or TMPDIR. For the app, whose
    statements each touch a bounded number of rows: a full TMPDIR then cannot fail a post (a
    red team had every post answered 503 that way), and a post opens no temporary file. The
    command line keeps files: a whole-site sort there may outgrow memory.

    No pre-ping on PostgreSQL (a `SELECT 1` round trip at every checkout, so on every request):
    disconnects are handled the "optimistic" way of SQLAlchemy's docs instead. The first query
    on a dead connection fails (a 503) and invalidates the whole pool, so after a database
    restart about one request per process fails, not one per pooled connection;
    web/page_cache.py does the same on its driver path. Bound values stay out of error
    messages (`hide_parameters`): they hold emails and what readers wrote.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        turn_file = file = None
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            file = Path(url.database)
            private_sqlite_file(file)
            turn_file = Path(url.database + WRITE_TURN_SUFFIX)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_SECONDS}, hide_parameters=True
        )
        turns = WriteTurns(turn_file)
        event.listen(engine, "connect", _sqlite_on_connect)
        if file is not None:
            MadePrivate(file).listen(engine)
            OpenedFile(file).listen(engine)
        if temp_in_memory:
            event.listen(engine, "connect", _sqlite_temp_in_memory)
        event.listen(engine, "begin", turns.begin)
        event.listen(engine, "commit", _check_before_commit)
        event.listen(engine.pool, "checkin", turns.end)
        return engine
    connect_args: dict[str, object] = {}
    if url.get_backend_name() == "postgresql":
        # A database that is down must turn into a quick 503, not a hung request.
        connect_args["connect_timeout"] = 3
    return create_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_recycle=POOL_RECYCLE_SECONDS,
        connect_args=connect_args,
        hide_parameters=True,
    )


# The public reads' pool (make_reader): as many connections as a process has threads (a
# worker serves with 4, ops/server.py), more only for a burst.
READER_POOL_SIZE = 4
READER_MAX_OVERFLOW = 12


def make_reader(engine: Engine) -> Engine:
    """The engine the public reads' single SELECTs run on past the ORM (web/page_cache.py).

    On PostgreSQL, an engine of its own whose connections stay in autocommit: a SELECT needs
    no transaction, and in `engine`'s pool each read had to turn autocommit on and off again
    and be reset on return (the worker's CPU per version lookup: ~60 µs then, ~38 with this
    pool, bench/read_cpu.py; docs/architecture.md). Its connections are then held one per
    thread (ThreadConnections: ~25 µs). Each statement still reads the latest commit, so a
    write on another instance shows at once. Disposed with `engine` (a database restart
    drops both pools). Elsewhere `engine` itself: SQLite's connections begin no transaction
    for a SELECT.
    """
    if engine.dialect.name != "postgresql":
        return engine
    reader = create_engine(
        engine.url,
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,  # autocommit: nothing is ever left to roll back
        pool_size=READER_POOL_SIZE,
        max_overflow=READER_MAX_OVERFLOW,
        pool_recycle=POOL_RECYCLE_SECONDS,
        connect_args={"connect_timeout": 3},
        hide_parameters=True,
    )
    opened_in = [os.getpid()]

    def dispose(_engine: Engine) -> None:
        # After a fork (ops/server.py disposes of `engine` with close=False in each worker,
        # which the event does not say) the connections are the parent's: forget, not close.
        here = os.getpid()
        reader.dispose(close=here == opened_in[0])
        opened_in[0] = here

    event.listen(engine, "engine_disposed", dispose)
    # A connection of `engine` found dead (a database restart) means the reader's are too:
    # drop them as well, so that a restart still fails one request per process, not two.
    event.listen(engine, "invalidate", lambda *_: dispose(engine))
    return reader


# Bumped in a forked child (os.register_at_fork): a connection held from before the fork is
# the parent's, so a thread of the child opens its own instead (and never closes the parent's).
_fork_epoch = [0]


def _forked() -> None:
    _fork_epoch[0] += 1


os.register_at_fork(after_in_child=_forked)


# A forked child's copies of its parent's read connections, kept from the garbage collector:
# they are never used, and never closed (see _close_if_ours).
_inherited: list[Any] = []


def _close_if_ours(connection: Any, pid: int) -> None:
    """Close a driver connection opened by process `pid`, if this is that process: closing
    one inherited through a fork would end the parent's session (libpq says goodbye on the
    socket both share), so a child keeps its copy aside instead."""
    if os.getpid() != pid:
        _inherited.append(connection)
        return
    try:
        connection.close()
    except Exception:  # a connection already broken closes as it can
        log.debug("closing a held read connection failed", exc_info=True)


class HeldConnection:
    """One thread's read connection (ThreadConnections): the driver connection, its cursor,
    and what says whether it may still be used (its generation, the fork epoch it was opened
    in, when it is too old)."""

    __slots__ = ("__weakref__", "closer", "connection", "cursor", "epoch", "expires", "generation")

    def __init__(self, connection: Any, generation: int, expires: float) -> None:
        self.connection = connection
        self.cursor = connection.cursor()
        self.generation = generation
        self.epoch = _fork_epoch[0]
        self.expires = expires
        # Run once: by dispose(), by the thread replacing it, or when its thread has ended
        # (the thread's local storage goes, and this object with it).
        self.closer = weakref.finalize(self, _close_if_ours, connection, os.getpid())


class ThreadConnections:
    """The public reads' driver connections on PostgreSQL: one per thread, kept by the thread
    between its reads, instead of a checkout from `reader`'s pool and a return for each one.

    A pool checkout and return cost ~10 µs of a ~40 µs version lookup (bench/read_cpu.py,
    docs/architecture.md). Connections come from `reader` (db.make_reader: autocommit, the
    connect timeout, the dialect's set-up) and are then detached from its pool. What a pool
    did is done here:

    - recycling: a connection older than `recycle_seconds` is replaced before its next read
      (as pool_recycle does: idle timeouts of load balancers and NATs);
    - fork: a connection opened before a fork is the parent's: the child's threads open their
      own and leave the parent's alone (never closed, which would end the parent's session);
    - a database restart: dispose(), with `engine`'s disposal (web/page_cache.py disposes of
      it on a disconnect) and whenever a connection of `engine` is invalidated, retires every
      thread's connection at once, so each thread connects afresh at its next read: a restart fails
      one request per process, not one per thread;
    - a thread that ends: its connection is closed with its local storage (weakref.finalize).

    The lookup reads in autocommit as before: every statement sees the latest commit.
    """

    def __init__(
        self, engine: Engine, reader: Engine, recycle_seconds: float = POOL_RECYCLE_SECONDS
    ) -> None:
        self.reader = reader
        self.recycle_seconds = recycle_seconds
        self._local = threading.local()
        self._generation = 0
        self._locks: weakref.WeakKeyDictionary[HeldConnection, threading.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._registry_lock = threading.Lock()
        event.listen(engine, "engine_disposed", lambda _engine: self.dispose())
        # A connection of `engine` found dead (a database restart) means these are too.
        event.listen(engine, "invalidate", lambda *_: self.dispose())

    def take(self) -> tuple[HeldConnection, threading.Lock]:
        """This thread's connection and its lock, taken for the read (the caller releases
        it after the read, so that dispose() never closes a connection in use); connects when
        the thread has none that is still good. Raises the driver's error when the database
        cannot be reached."""
        local = self._local.__dict__
        held: HeldConnection | None = local.get("held")
        if held is not None:
            lock = local["lock"]
            lock.acquire()
            if (
                held.generation == self._generation
                and held.epoch == _fork_epoch[0]
                and time.monotonic() < held.expires
            ):
                return held, lock
            lock.release()
            del local["held"], local["lock"]
            held.closer()
        held = self._connect()
        lock = threading.Lock()
        with self._registry_lock:
            self._locks[held] = lock
        local["held"], local["lock"] = held, lock
        lock.acquire()
        return held, lock

    def _connect(self) -> HeldConnection:
        generation = self._generation  # before connecting: a dispose meanwhile retires it
        fairy = self.reader.raw_connection()
        try:
            fairy.detach()  # the connection is this thread's now, not the pool's
        except BaseException:
            fairy.invalidate()
            raise
        connection = fairy.dbapi_connection
        return HeldConnection(connection, generation, time.monotonic() + self.recycle_seconds)

    def forget(self) -> None:
        """Close this thread's connection (one found dead); the next read connects afresh."""
        local = self._local.__dict__
        held = local.pop("held", None)
        local.pop("lock", None)
        if held is not None:
            held.closer()

    def dispose(self) -> None:
        """Retire every thread's connection: those not in use are closed now (those of this
        process only; a forked child leaves its parent's alone), the others by their thread
        before its next read."""
        self._generation += 1
        with self._registry_lock:
            held_locks = list(self._locks.items())
        for held, lock in held_locks:
            if lock.acquire(blocking=False):
                try:
                    held.generation = -1  # retired, whatever the thread last saw
                    held.closer()
                finally:
                    lock.release()


def writer(engine: Engine) -> Engine:
    """The same engine, but SQLite transactions start with the write lock (no-op elsewhere)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine


def make_sessionmakers(engine: Engine) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    """(reading, writing) session factories over one connection pool.

    Both refuse to commit a Session marked as opened for a safe request (SAFE_REQUEST in its
    info): SafeMethodWrite. Objects stay usable after a commit (expire_on_commit=False).
    """
    factories = (
        sessionmaker(bind=engine, expire_on_commit=False),
        sessionmaker(bind=writer(engine), expire_on_commit=False),
    )
    for factory in factories:
        event.listen(factory, "before_commit", refuse_commit_if_safe)
    return factories


class SafeMethodWrite(RuntimeError):
    """A request with a safe method (GET, HEAD, OPTIONS) tried to commit, or asked for a
    writing Session: a bug, never done."""


def refuse_commit_if_safe(session: Session) -> None:
    """before_commit listener: raise SafeMethodWrite if `session` is marked SAFE_REQUEST."""
    method = session.info.get(SAFE_REQUEST)
    if method is not None:
        raise SafeMethodWrite(
            f"a {method} request tried to commit a change; only POST, PUT, PATCH or DELETE may"
        )
