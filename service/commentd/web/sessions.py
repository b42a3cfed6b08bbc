"""Each request's database Session: opened on first use, closed at app-context teardown.

A view says whether it writes (`get_session(write=True)`); the method of the request is only
a backstop. A Session opened in a request with a safe method (GET, HEAD, OPTIONS) cannot
commit, and asking such a request for a writing Session is refused: mail scanners and link
previewers open and probe links, and only an explicit POST (a button) may act.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from flask import Flask, g, has_request_context, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from commentd.db import SAFE_REQUEST, SafeMethodWrite
from commentd.web.services import current

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WRITES = "commentd_writes"  # in a request Session's info: whether it is a writing one


def _safe_method() -> str | None:
    """The request's method if it is a safe one (not in WRITE_METHODS), else None (also
    outside a request)."""
    method = request.method if has_request_context() else None
    return method if method is not None and method not in WRITE_METHODS else None


def get_session(write: bool) -> Session:
    """The request's Session, opened on first use; one per request.

    `write=True` asks for a Session that may commit (on SQLite it takes the write lock when
    its transaction begins); `write=False` for one that only reads, which a writing request
    may also be given once its writing Session is open.

    Raises:
        SafeMethodWrite: `write=True` in a request with a safe method (GET, HEAD, OPTIONS).
        RuntimeError: `write=True` after this request opened a reading Session (ask for the
            writing one first).
    """
    method = _safe_method()
    if write and method is not None:
        raise SafeMethodWrite(f"a {method} request asked for a writing database session")
    session = cast(Session | None, g.get("db_session"))
    if session is not None:
        if write and not session.info[WRITES]:
            raise RuntimeError("this request opened a reading session first; ask write=True first")
        return session
    services = current()
    session = (services.write_sessions if write else services.read_sessions)()
    session.info[WRITES] = write
    if method is not None:
        session.info[SAFE_REQUEST] = method
    g.db_session = session
    return session


@contextmanager
def grouped_write() -> Iterator[Session]:
    """A writing Session of its own, committed when the block ends with the other writers of
    this process that came meanwhile (group_commit.py: on SQLite, one COMMIT for all): for a
    request that writes once, then answers. The block's end returns once the work is stored,
    or raises (the work undone: OperationalError, a 503, when the group's COMMIT failed).

    Raises:
        SafeMethodWrite: in a request with a safe method (GET, HEAD, OPTIONS).
    """
    method = _safe_method()
    if method is not None:
        raise SafeMethodWrite(f"a {method} request asked for a writing database session")
    with current().group_commit.member(**{WRITES: True}) as session:
        yield session


def close(session: Session) -> None:
    """Close a request's Session. If the database went away under the request (a restart),
    the answer is already made: the dead connection is dropped from the pool instead of
    turning into a 500."""
    try:
        session.close()
    except DBAPIError:
        session.invalidate()


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        close(session)


def init_app(app: Flask) -> None:
    """Close each request's Session when its app context ends."""
    app.teardown_appcontext(_close_session)
