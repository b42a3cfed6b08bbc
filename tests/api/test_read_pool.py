"""db.make_reader: the public reads' own pool on PostgreSQL, kept in autocommit, still reads
every commit at once, and goes with the ORM's pool (disposed, invalidated, forked)."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from commentd import db
from commentd.db import make_engine, make_reader
from commentd.models import Post
from commentd.ops.migrate import upgrade
from commentd.web.page_cache import PageCache


@pytest.fixture
def engine(postgres_schema_url: Callable[[], str]) -> Iterator[Engine]:
    engine = make_engine(postgres_schema_url())
    upgrade(engine)
    yield engine
    engine.dispose()


def test_on_sqlite_the_reads_share_the_engine(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        assert make_reader(engine) is engine
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_read_sees_a_commit_made_elsewhere_at_once_on_connections_in_autocommit(
    engine: Engine,
) -> None:
    cache = PageCache(engine, "https://comments.example")
    with Session(engine) as session:
        session.add(Post(slug="p", version="v1"))
        session.commit()
    assert cache.current_version("p")[1] == "v1"
    elsewhere = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        for version in ("v2", "v3"):  # another instance's write, then a read here at once
            with elsewhere.begin() as other:
                other.execute(
                    text("UPDATE posts SET version = :v WHERE slug = 'p'"), {"v": version}
                )
            assert cache.current_version("p")[1] == version
            assert cache.thread("p").version == version
    finally:
        elsewhere.dispose()
    held = cache.reader.raw_connection()
    try:
        assert held.dbapi_connection is not None and held.dbapi_connection.autocommit
    finally:
        held.close()


def pooled_driver_connection(reader: Engine) -> Any:
    """A connection taken from `reader`'s pool and given back; its driver connection."""
    connection = reader.raw_connection()
    driver = connection.dbapi_connection
    connection.close()
    assert reader.pool.checkedin() == 1  # type: ignore[attr-defined]
    return driver


@pytest.mark.postgres
def test_the_reads_pool_goes_with_the_engines(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = make_reader(engine)
    assert reader is not engine
    # Disposed of with it: its connections closed.
    driver = pooled_driver_connection(reader)
    engine.dispose()
    assert reader.pool.checkedin() == 0 and driver.closed  # type: ignore[attr-defined]
    # A connection of the engine found dead: the reader's are dropped too.
    driver = pooled_driver_connection(reader)
    with engine.connect() as connection:
        connection.invalidate()
    assert reader.pool.checkedin() == 0 and driver.closed  # type: ignore[attr-defined]
    # In a forked worker (another pid) the connections are the parent's: forgotten, not closed.
    driver = pooled_driver_connection(reader)
    monkeypatch.setattr(db.os, "getpid", lambda: -1)
    engine.dispose(close=False)
    assert reader.pool.checkedin() == 0 and not driver.closed  # type: ignore[attr-defined]
    driver.close()
    # ...and the process that forgot them closes its own from then on.
    driver = pooled_driver_connection(reader)
    engine.dispose()
    assert driver.closed


# --- db.ThreadConnections: each thread keeps its read connection --------------------------


def backend_pid(cache: PageCache) -> int:
    """The server process behind this thread's read connection (a read on it)."""
    cache.current_version("p")
    held, lock = cache._held.take()  # type: ignore[union-attr]
    try:
        return int(held.connection.info.backend_pid)
    finally:
        lock.release()


def held_driver(cache: PageCache) -> Any:
    held, lock = cache._held.take()  # type: ignore[union-attr]
    lock.release()
    return held.connection


@pytest.fixture
def cache(engine: Engine) -> PageCache:
    with Session(engine) as session:
        session.add(Post(slug="p", version="v1"))
        session.commit()
    return PageCache(engine, "https://comments.example")


@pytest.mark.postgres
def test_a_thread_keeps_its_connection_and_each_thread_has_its_own(cache: PageCache) -> None:
    first = backend_pid(cache)
    assert backend_pid(cache) == first  # no checkout: the same connection, read after read
    assert cache.reader.pool.checkedout() == 0  # type: ignore[attr-defined]
    others: list[int] = []
    thread = threading.Thread(target=lambda: others.append(backend_pid(cache)))
    thread.start()
    thread.join()
    assert others and others[0] != first


@pytest.mark.postgres
def test_a_connection_of_an_ended_thread_is_closed(cache: PageCache) -> None:
    drivers: list[Any] = []
    thread = threading.Thread(target=lambda: drivers.append(held_driver(cache)))
    thread.start()
    thread.join()
    del thread
    gc.collect()
    assert drivers[0].closed


@pytest.mark.postgres
def test_a_connection_is_replaced_when_it_is_old(
    cache: PageCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = held_driver(cache)
    now = time.monotonic()
    with monkeypatch.context() as later:
        later.setattr(db.time, "monotonic", lambda: now + db.POOL_RECYCLE_SECONDS - 1)
        assert held_driver(cache) is old  # not old enough yet
        later.setattr(db.time, "monotonic", lambda: now + db.POOL_RECYCLE_SECONDS + 1)
        new = held_driver(cache)
    assert new is not old and old.closed and not new.closed
    assert held_driver(cache) is new


@pytest.mark.postgres
def test_disposed_of_with_the_engine_and_retired_when_one_of_its_connections_dies(
    engine: Engine, cache: PageCache
) -> None:
    old = held_driver(cache)
    engine.dispose()
    assert old.closed  # not in use: closed at once
    new = held_driver(cache)
    assert new is not old
    with engine.connect() as connection:  # a connection of the ORM's found dead
        connection.invalidate()
    assert new.closed and not held_driver(cache).closed


@pytest.mark.postgres
def test_a_connection_in_use_is_not_closed_under_its_thread_but_retired_after(
    engine: Engine, cache: PageCache
) -> None:
    held = cache._held
    assert held is not None
    connection, lock = held.take()  # a read under way on this thread
    try:
        engine.dispose()
        assert not connection.connection.closed
    finally:
        lock.release()
    assert held_driver(cache) is not connection.connection
    assert connection.connection.closed


@pytest.mark.postgres
def test_after_a_database_restart_one_read_per_process_fails_not_one_per_thread(
    engine: Engine, cache: PageCache
) -> None:
    """Every thread's connection dies with the server's restart; the first read to meet its
    dead one fails (a 503) and retires all the others, so the other threads connect afresh."""
    barrier = threading.Barrier(4)
    pids: list[int] = []

    def warm() -> None:
        pids.append(backend_pid(cache))
        barrier.wait()  # all four connections held at once
        barrier.wait()  # ...until the "restart" below
        errors.append(read_error())

    def read_error() -> str | None:
        try:
            cache.current_version("p")
        except DBAPIError as error:
            return type(error).__name__
        return None

    errors: list[str | None] = []
    threads = [threading.Thread(target=warm) for _ in range(3)]
    for thread in threads:
        thread.start()
    pids.append(backend_pid(cache))
    barrier.wait()
    with engine.connect() as connection:  # as a restart does: every server process ends
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) pid"),
            {"pids": pids},
        )
    time.sleep(0.2)
    first = read_error()  # this thread meets its dead connection first
    barrier.wait()
    for thread in threads:
        thread.join()
    assert len(set(pids)) == 4
    assert first == "OperationalError"
    assert errors == [None, None, None]
    assert read_error() is None


@pytest.mark.postgres
def test_a_forked_child_reads_on_its_own_connection_and_leaves_the_parents_open(
    engine: Engine, cache: PageCache
) -> None:
    parent_pid = backend_pid(cache)
    child = os.fork()
    if child == 0:  # the child: its own connection, and disposing never closes the parent's
        code = 1
        try:
            engine.dispose(close=False)  # as ops/server.py's post_fork does
            code = 0 if backend_pid(cache) != parent_pid else 2
            engine.dispose()
            gc.collect()
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert backend_pid(cache) == parent_pid  # still alive: the child did not end its session


@pytest.mark.postgres
def test_a_read_interrupted_half_way_leaves_its_connection_unused(cache: PageCache) -> None:
    held, lock = cache._held.take()  # type: ignore[union-attr]
    lock.release()

    class Interrupted:
        def execute(self, *_args: object) -> None:
            raise KeyboardInterrupt  # as a signal arriving during the read

    held.cursor = Interrupted()
    with pytest.raises(KeyboardInterrupt):
        cache.current_version("p")
    assert held.connection.closed
    assert held_driver(cache) is not held.connection
    assert cache.current_version("p")[1] == "v1"
