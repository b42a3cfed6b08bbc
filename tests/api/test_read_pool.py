"""db.make_reader: the public reads' own pool on PostgreSQL, kept in autocommit, still reads
every commit at once, and goes with the ORM's pool (disposed, invalidated, forked)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
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
