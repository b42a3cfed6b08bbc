"""A map that keeps memory flat however many keys a file has: the last MEMORY_KEYS entries
in memory, all of them in a temporary SQLite file (the standard library's sqlite3) on disk.

For what a reader or the importer must remember per page or thread while it streams (a Disqus
thread's link, a page's slug, a post's id): a blog with 100,000 posts would otherwise hold
100,000 entries in memory, and the import's peak memory would grow with the file.
"""

from __future__ import annotations

import errno
import os
import pickle
import sqlite3
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

from commentd.errors import STORAGE_FULL_CODE, short_of

MEMORY_KEYS = 4096

V = TypeVar("V")
_MISSING = object()


class SpillMap(Generic[V]):
    """str → V, any number of entries, memory bounded by MEMORY_KEYS of them. Close it (or
    use it as a context manager) to delete its file. Not shared between threads."""

    def __init__(self, memory_keys: int = MEMORY_KEYS) -> None:
        self._memory: OrderedDict[str, V] = OrderedDict()
        self._memory_keys = memory_keys
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._disk: sqlite3.Connection | None = None

    def __setitem__(self, key: str, value: V) -> None:
        full = len(self._memory) >= self._memory_keys
        if self._disk is None and full and key not in self._memory:
            self._spill()
        if self._disk is not None:
            with self._machine_faults():
                self._disk.execute(
                    "INSERT OR REPLACE INTO map VALUES (?, ?)", (key, pickle.dumps(value))
                )
        self._remember(key, value)

    def get(self, key: str, default: V | None = None) -> V | None:
        """The value of `key`, else `default`."""
        found = self._memory.get(key, _MISSING)
        if found is not _MISSING:
            self._memory.move_to_end(key)
            return found  # type: ignore[return-value]
        if self._disk is None:
            return default
        with self._machine_faults():
            row = self._disk.execute("SELECT value FROM map WHERE key = ?", (key,)).fetchone()
        if row is None:
            return default
        value: V = pickle.loads(row[0])
        self._remember(key, value)
        return value

    def __contains__(self, key: str) -> bool:
        return self.get(key, _MISSING) is not _MISSING  # type: ignore[arg-type]

    def _remember(self, key: str, value: V) -> None:
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > self._memory_keys:
            self._memory.popitem(last=False)

    def _spill(self) -> None:
        """Memory is full for the first time: open the file and put everything so far in it."""
        self._folder = tempfile.TemporaryDirectory(prefix="commentd-spill-")
        with self._machine_faults():
            self._disk = sqlite3.connect(self._path())
            self._disk.execute("PRAGMA journal_mode=OFF")
            self._disk.execute("PRAGMA synchronous=OFF")
            self._disk.execute("CREATE TABLE map (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID")
            self._disk.executemany(
                "INSERT OR REPLACE INTO map VALUES (?, ?)",
                ((k, pickle.dumps(v)) for k, v in self._memory.items()),
            )

    def _path(self) -> Path:
        assert self._folder is not None
        return Path(self._folder.name) / "map.db"

    @contextmanager
    def _machine_faults(self) -> Iterator[None]:
        """The file's failures as what they are, the machine's, never the data's: OSError,
        ENOSPC for a full disk (a web request answers it 503 storage_full), else EIO."""
        try:
            yield
        except sqlite3.Error as error:
            code = errno.ENOSPC if short_of(error) == STORAGE_FULL_CODE else errno.EIO
            raise OSError(code, f"{os.strerror(code)} ({error})", str(self._path())) from error

    def close(self) -> None:
        """Delete the file on disk, if any."""
        if self._disk is not None:
            self._disk.close()
            self._disk = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def __enter__(self) -> SpillMap[V]:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
