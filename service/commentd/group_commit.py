"""Group commit: the writers of one process that come while a write transaction is open join
it, each in a SAVEPOINT of its own, and one COMMIT stores them all.

On SQLite one writer at a time holds the write turn (db.WriteTurns) from its BEGIN to its
COMMIT, so the turn bounds how many comments a second the whole service stores. A post held it
about 1.5 ms under load, of which its BEGIN, its version lookup's first read and its COMMIT
(the WAL's pages written again for every post) were a third, and the hand-over of the turn
between threads and processes came on top. A group pays those once for every member. Where
the database has no such turn (PostgreSQL: row locks, concurrent transactions) each writer
simply has a transaction of its own.

A member is answered only once the group's COMMIT is done: `member()` returns after it, and
raises what it raised, so nothing is acknowledged that was not stored. A member whose own work
fails is rolled back to its savepoint and leaves the others' work in place, unless the
failure is the database's own (any driver error): SQLite may then have rolled back the whole
transaction, so every member gets the error and nothing of the group is stored. A group
closes when no writer is waiting for it, or when it holds GROUP_MEMBERS members or has been
open GROUP_SECONDS, so that the other processes get the turn and the first member its answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, RootTransaction
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

# At most this many writers in one transaction, open at most this long (seconds): a group
# holds the write turn for all its members, and its first waits for the last.
GROUP_MEMBERS = 8
GROUP_SECONDS = 0.01
# In each member Session's info: a dict the members of one group share, for what no one else
# can change while the group holds the write lock (spam/rules.py keeps the rules it read).
GROUP_SHARED = "commentd_group_shared"
# How long a writer waits for the member before it (then: OperationalError, a 503).
JOIN_TIMEOUT_SECONDS = 30


@dataclass(eq=False)
class _Group:
    connection: Connection
    transaction: RootTransaction
    opened: float  # time.monotonic()
    members: int = 0
    shared: dict[str, object] = field(default_factory=dict)  # GROUP_SHARED
    committed: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None  # the COMMIT's, or what lost the group's work
    lost: BaseException | None = None  # why the transaction cannot be committed


def _in_transaction(connection: Connection) -> bool:
    """Whether the database itself still has the connection's transaction open (SQLAlchemy's
    own record of it does not see SQLite ending one after an error)."""
    return bool(getattr(connection.connection.driver_connection, "in_transaction", True))


class GroupCommit:
    """The writing Sessions of `sessions` (db.make_sessionmakers' second, bound to `engine`:
    db.writer's), grouped on SQLite.

    `member()` gives a Session to write with; leaving its block without an exception commits
    it (with its group, on SQLite). Elsewhere it is a plain Session and a plain commit.
    """

    def __init__(self, sessions: sessionmaker[Session], engine: Engine) -> None:
        self._sessions = sessions
        self._engine = engine
        self._grouped = engine.dialect.name == "sqlite"
        self._turn = threading.Lock()  # the member at work now (one at a time)
        self._count = threading.Lock()  # guards _waiting
        self._waiting = 0  # writers waiting for _turn
        self._group: _Group | None = None

    @contextmanager
    def member(self, **info: object) -> Iterator[Session]:
        """A Session whose work is committed when the block ends (`info` set in its info).

        Raises what the block raises (its work undone, the group's kept), or the COMMIT's
        error (nothing of the group stored), or OperationalError (503) when the member before
        did not finish within JOIN_TIMEOUT_SECONDS.
        """
        if not self._grouped:
            with self._sessions() as session:
                session.info.update(info)
                yield session
                session.commit()
            return
        group = self._join()
        stored = False
        try:
            with self._sessions(
                bind=group.connection, join_transaction_mode="create_savepoint"
            ) as session:
                session.info.update(info)
                session.info[GROUP_SHARED] = group.shared
                yield session
                session.commit()  # RELEASE SAVEPOINT: stored once the group commits
                stored = True
        except DBAPIError as error:
            # After some errors (SQLITE_FULL, IOERR, NOMEM, BUSY, INTERRUPT) SQLite rolls back
            # the whole transaction, the earlier members' work with it: no member may be
            # told it was stored. Whatever the error, the group ends unstored.
            group.lost = group.lost or error
            raise
        finally:
            self._leave(group)
        if stored:
            group.committed.wait()
            if group.error is not None:
                # Each member its own exception (one object raised in several threads would
                # share its traceback): the database's refusal, a 503 like any it gives.
                raise OperationalError("COMMIT", None, group.error) from group.error

    def _join(self) -> _Group:
        with self._count:
            self._waiting += 1
        try:
            got = self._turn.acquire(timeout=JOIN_TIMEOUT_SECONDS)
        finally:
            with self._count:
                self._waiting -= 1
        if not got:
            raise OperationalError("group commit", None, TimeoutError("no turn to write"))
        try:
            group = self._group
            if group is None:
                connection = self._engine.connect()
                try:
                    transaction = connection.begin()  # BEGIN IMMEDIATE: the write turn
                except BaseException:
                    connection.close()
                    raise
                group = self._group = _Group(connection, transaction, time.monotonic())
            group.members += 1
            return group
        except BaseException:
            self._turn.release()
            raise

    def _leave(self, group: _Group) -> None:
        """Hand the open group to a waiting writer, or commit it (and wake its members)."""
        try:
            with self._count:
                waiting = self._waiting
            if group.lost is None and not _in_transaction(group.connection):
                # Ended by SQLite without an error any member saw: a COMMIT now would
                # commit nothing, and say nothing.
                group.lost = RuntimeError("the write transaction ended before its COMMIT")
            if (
                waiting
                and group.lost is None
                and group.members < GROUP_MEMBERS
                and time.monotonic() - group.opened < GROUP_SECONDS
                and group.transaction.is_active
            ):
                return
            self._group = None
            try:
                if group.lost is not None:
                    raise group.lost
                group.transaction.commit()  # refused if the file was replaced (db.py)
            except BaseException as error:
                group.error = error
                # SQLite may keep the transaction open after a COMMIT it refused (a deferred
                # foreign key): the connection is dropped, which ends it, not pooled.
                group.connection.invalidate()
            finally:
                group.connection.close()  # back to the pool: the write turn goes with it
                group.committed.set()
        finally:
            self._turn.release()
