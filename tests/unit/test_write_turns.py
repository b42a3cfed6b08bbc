"""SQLite writers take turns on a lock file beside the database (db.FileTurn): the file is open
only while a turn is asked for or held, so engines made and disposed of, as a test run or a
long-lived process makes them, leave no descriptor behind (a CI run once ran out of them)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text

from commentd.db import WRITE_TURN_SUFFIX, FileTurn, make_engine


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_engines_made_and_disposed_of_leave_no_descriptor_open(tmp_path: Path) -> None:
    before = open_descriptors()
    for n in range(50):
        engine = make_engine(f"sqlite:///{tmp_path / f'db{n}.sqlite'}")
        with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.commit()
        engine.dispose()
        assert (tmp_path / f"db{n}.sqlite{WRITE_TURN_SUFFIX}").exists()  # the turn was taken

    assert open_descriptors() - before < 5


def test_a_turn_held_keeps_other_holders_out_until_released(tmp_path: Path) -> None:
    path = tmp_path / "turn"
    first, second = FileTurn(path), FileTurn(path)  # two open files: flock tells them apart

    assert first.acquire(timeout=0.1)
    assert not second.acquire(timeout=0.05)
    first.release()
    assert second.acquire(timeout=0.1)
    second.release()
