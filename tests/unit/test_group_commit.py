"""GroupCommit: writers that come while a write transaction is open share its COMMIT, each in a
savepoint of its own (group_commit.py), on a real SQLite file; a plain commit each elsewhere."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, ForeignKey, Integer, MetaData, String, Table, event, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from commentd import db, group_commit
from commentd.config import ModerationMode, Settings
from commentd.errors import replaced
from commentd.group_commit import GroupCommit
from commentd.spam.learned import SpamFilter
from commentd.spam.rules import RulesCache, bring_up_to_date, save

METADATA = MetaData()
NOTES = Table(
    "notes",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("text", String(50), nullable=False),
    # Checked at COMMIT, not at the statement nor at a savepoint's RELEASE: a way to make
    # the group's COMMIT itself fail.
    Column(
        "after",
        Integer,
        ForeignKey("notes.id", deferrable=True, initially="DEFERRED"),
        nullable=True,
    ),
)


@pytest.fixture(autouse=True)
def patient_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """A group stays open for its waiting writers however slowly this machine lets the
    test's threads start (GROUP_SECONDS is 10 ms in service)."""
    monkeypatch.setattr(group_commit, "GROUP_SECONDS", 30.0)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    METADATA.create_all(engine)
    yield engine
    METADATA.drop_all(engine)
    engine.dispose()


@pytest.fixture
def commits(engine: Engine) -> list[int]:
    """One entry per COMMIT the engine sends (savepoints' RELEASEs are not COMMITs)."""
    seen: list[int] = []
    event.listen(engine, "commit", lambda _connection: seen.append(1))
    return seen


def grouping(engine: Engine) -> GroupCommit:
    return GroupCommit(db.make_sessionmakers(engine)[1], db.writer(engine))


def stored(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.scalars(select(NOTES.c.text)))


def add(session: Session, text: str, after: int | None = None) -> None:
    session.execute(NOTES.insert().values(text=text, after=after))


def adding(text: str) -> Callable[[Session], None]:
    return lambda session: add(session, text)


def run_together(
    writers: GroupCommit, work: dict[str, Callable[[Session], None]], first: str
) -> dict[str, BaseException | list[str]]:
    """Each writer in a thread of its own; `first` goes in first and leaves only once every
    other is waiting to join its group. What each saw: its exception, or what another
    connection found stored right after its block returned."""
    seen: dict[str, BaseException | list[str]] = {}
    engine: Engine = writers._engine

    def write(name: str) -> None:
        try:
            with writers.member() as session:
                if name == first:
                    deadline = time.monotonic() + 10
                    while writers._waiting < len(work) - 1 and time.monotonic() < deadline:
                        time.sleep(0.001)
                work[name](session)
            seen[name] = stored(engine)
        except Exception as error:  # what the member's caller would get
            seen[name] = error

    leader = threading.Thread(target=write, args=(first,))
    leader.start()
    deadline = time.monotonic() + 10
    while writers._group is None and time.monotonic() < deadline:  # the first has opened it
        time.sleep(0.001)
    others = [threading.Thread(target=write, args=(name,)) for name in work if name != first]
    for thread in others:
        thread.start()
    for thread in [leader, *others]:
        thread.join(30)
    return seen


def every_member_told_and_the_next_writer_stored(
    writers: GroupCommit, engine: Engine, seen: dict[str, BaseException | list[str]]
) -> None:
    """A lost group: each member got an error, nothing is stored, and the write turn went
    back with it (the next writer opens a group of its own, committed as usual)."""
    assert all(isinstance(outcome, OperationalError) for outcome in seen.values()), seen
    assert stored(engine) == []
    with writers.member() as session:
        add(session, "later")
    assert stored(engine) == ["later"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_writers_that_come_while_a_group_is_open_share_one_commit_and_return_once_stored(
    engine: Engine, commits: list[int]
) -> None:
    writers = grouping(engine)
    names = ["a", "b", "c", "d"]
    seen = run_together(writers, {name: adding(name) for name in names}, "a")
    assert len(commits) == 1
    # Each block returned only once all were stored: none saw the group half done.
    assert seen == {name: names for name in names}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_member_that_fails_loses_only_its_own_work(engine: Engine, commits: list[int]) -> None:
    def fail(session: Session) -> None:
        add(session, "refused")
        raise ValueError("refused after writing")

    writers = grouping(engine)
    seen = run_together(writers, {"a": adding("a"), "b": fail, "c": adding("c")}, "a")
    assert isinstance(seen["b"], ValueError)
    assert seen["a"] == seen["c"] == ["a", "c"]
    assert len(commits) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_when_the_groups_commit_fails_every_member_is_told_and_nothing_is_stored(
    engine: Engine,
) -> None:
    writers = grouping(engine)
    seen = run_together(
        writers,
        {
            "a": adding("a"),
            "b": lambda s: add(s, "b", after=999),  # no note 999: the COMMIT refuses
            "c": adding("c"),
        },
        "a",
    )
    every_member_told_and_the_next_writer_stored(writers, engine, seen)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_full_group_commits_and_the_next_writers_open_another(
    engine: Engine, commits: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_commit, "GROUP_MEMBERS", 2)
    writers = grouping(engine)
    names = ["a", "b", "c", "d"]
    seen = run_together(writers, {name: adding(name) for name in names}, "a")
    assert stored(engine) == names
    assert all(isinstance(outcome, list) for outcome in seen.values())
    assert len(commits) == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_group_open_longer_than_its_time_commits_though_writers_wait(
    engine: Engine, commits: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_commit, "GROUP_SECONDS", 0.0)
    writers = grouping(engine)
    names = ["a", "b", "c"]
    run_together(writers, {name: adding(name) for name in names}, "a")
    assert stored(engine) == names
    assert len(commits) == 3


def test_a_lone_writer_commits_at_once_on_either_database(
    engine: Engine, commits: list[int]
) -> None:
    writers = grouping(engine)
    with writers.member(purpose="test") as session:
        assert session.info["purpose"] == "test"
        add(session, "alone")
        assert len(commits) == 0
    assert len(commits) == 1
    assert stored(engine) == ["alone"]
    with pytest.raises(ValueError), writers.member() as session:
        add(session, "undone")
        raise ValueError
    assert stored(engine) == ["alone"]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_each_writer_has_a_transaction_of_its_own(
    engine: Engine, commits: list[int], tmp_path: Path
) -> None:
    writers = grouping(engine)
    release = threading.Event()
    inside = threading.Barrier(3)

    def write(name: str) -> None:
        with writers.member() as session:
            add(session, name)
            inside.wait(10)  # all three at once: no turn to wait for
            release.wait(10)

    threads = [threading.Thread(target=write, args=(name,)) for name in "abc"]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    release.set()
    for thread in threads:
        thread.join(30)
    assert not inside.broken
    assert stored(engine) == ["a", "b", "c"]
    assert len(commits) == 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_group_reads_the_site_rules_once_and_the_next_group_sees_a_change(
    migrated_engine: Engine, settings: Settings
) -> None:
    """No one else can change the rules while a group holds the write lock, so its first
    member's look at them serves the rest (spam/rules.py); the next group looks again."""
    METADATA.create_all(migrated_engine)  # run_together reads the notes after each member
    rules_cache, spam_filter = RulesCache(settings), SpamFilter()
    lookups: list[str] = []

    @event.listens_for(migrated_engine, "before_cursor_execute")
    def count(_connection, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if "site_rules.version, spam_filter.generation" in statement:
            lookups.append(statement)

    writers = grouping(migrated_engine)
    modes: list[ModerationMode] = []

    def look(session: Session) -> None:
        modes.append(bring_up_to_date(session, rules_cache, spam_filter).moderation)

    seen = run_together(writers, {name: look for name in "abc"}, "a")
    assert all(isinstance(outcome, list) for outcome in seen.values()), seen
    assert len(lookups) == 1
    assert len(modes) == 3
    with writers.member() as session:
        save(session, settings, {"moderation": ModerationMode.NONE.value})
    assert len(lookups) == 1  # saving looks nothing up
    with writers.member() as session:
        look(session)
    assert len(lookups) == 2
    assert modes[-1] is ModerationMode.NONE != modes[0]


def end_the_transaction(session: Session) -> None:
    """What SQLite does after SQLITE_FULL, IOERR and kin: the whole transaction rolled back,
    behind SQLAlchemy's back."""
    session.connection().exec_driver_sql("ROLLBACK")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_when_the_database_rolls_back_the_whole_group_no_member_is_told_stored(
    engine: Engine,
) -> None:
    def fail_in_the_database(session: Session) -> None:
        add(session, "b")
        end_the_transaction(session)  # its RELEASE then fails: a driver error

    writers = grouping(engine)
    seen = run_together(writers, {"a": adding("a"), "b": fail_in_the_database}, "a")
    # "a" had left (its savepoint released) before "b" lost the transaction: both are told,
    # and nothing is stored.
    every_member_told_and_the_next_writer_stored(writers, engine, seen)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_driver_error_in_one_member_ends_the_group_unstored(engine: Engine) -> None:
    """Any driver error may have cost the transaction (the group cannot tell): the whole
    group is answered with an error rather than one member risk a false "stored"."""

    def refused_by_the_database(session: Session) -> None:
        session.execute(NOTES.insert().values(text=None))  # NOT NULL: IntegrityError

    writers = grouping(engine)
    seen = run_together(writers, {"a": adding("a"), "b": refused_by_the_database}, "a")
    assert isinstance(seen["b"], IntegrityError)
    assert isinstance(seen["a"], OperationalError)
    assert stored(engine) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_transaction_ended_without_an_error_is_not_committed_as_if_stored(
    engine: Engine,
) -> None:
    writers = grouping(engine)
    with pytest.raises(OperationalError), writers.member() as session:
        add(session, "a")
        end_the_transaction(session)
        # The member's savepoint opened again, now outside any transaction (SQLite then
        # begins one, and its RELEASE commits it): nothing raises, yet "a" is gone, and a
        # COMMIT would commit nothing and say nothing.
        connection = session.connection()
        savepoint = connection._nested_transaction._savepoint  # type: ignore[union-attr]
        connection.exec_driver_sql(f'SAVEPOINT "{savepoint}"')
    assert stored(engine) == []


def served_with_a_copy(path: Path, copy: Path) -> Engine:
    """An engine on a new database at `path` holding the notes table, and a copy of it at
    `copy` (SQLite's backup API) to rename over it."""
    engine = db.make_engine(f"sqlite:///{path}")
    METADATA.create_all(engine)
    with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    return engine


def test_a_file_renamed_over_before_the_commit_acknowledges_no_member(tmp_path: Path) -> None:
    """The database's file replaced while a group is open (after its BEGIN's check): its COMMIT
    is refused (db.check_same_file, at the engine's "commit"), the member told it was not
    stored, and so is the next."""
    path, copy = tmp_path / "served.db", tmp_path / "restored.db"
    engine = served_with_a_copy(path, copy)
    writers = grouping(engine)

    with pytest.raises(OperationalError) as member, writers.member() as session:
        add(session, "one")
        os.replace(copy, path)
    with pytest.raises(OperationalError) as next_writer, writers.member() as session:
        add(session, "two")

    assert replaced(member.value) and replaced(next_writer.value)
    engine.dispose()
    with closing(sqlite3.connect(path)) as now_there:
        assert now_there.execute("SELECT count(*) FROM notes").fetchone() == (0,)


def test_a_long_write_outside_a_group_is_refused_at_commit_once_the_file_was_replaced(
    tmp_path: Path,
) -> None:
    """A red team renamed a backup over the database during a bulk approval (6 s, one plain
    writing Session): it answered 200 with every comment done, stored in the old file. Every
    write transaction's COMMIT checks the file again."""
    path, copy = tmp_path / "served.db", tmp_path / "restored.db"
    engine = served_with_a_copy(path, copy)
    writing = db.make_sessionmakers(engine)[1]

    with pytest.raises(OperationalError) as refused, writing() as session:
        add(session, "approved in bulk")
        os.replace(copy, path)
        session.commit()

    assert replaced(refused.value)
    engine.dispose()
    with closing(sqlite3.connect(path)) as now_there:
        assert now_there.execute("SELECT count(*) FROM notes").fetchone() == (0,)
