"""Private PostgreSQL and Redis servers that a fault test may stop, kill and restart.

The machine's shared servers (5432, 6379) serve everyone's tests and must never go down; these
run from a temporary directory on a free port and are gone when the test ends.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
import redis

POSTGRES_BIN = Path(os.environ.get("COMMENTD_TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
INITDB_OPTIONS = ("-U", "postgres", "--auth=trust", "--no-sync", "-D")
REDIS_OPTIONS = ("--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
T = TypeVar("T")
SHARED_REDIS = os.environ.get("COMMENTD_TEST_REDIS", "redis://127.0.0.1:6379/0")


def redis_available(url: str = SHARED_REDIS) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def unique_prefix() -> str:
    """A rate-limit key prefix of its own, so parallel runs on one Redis never share counters."""
    return f"commentd-test-{secrets.token_hex(6)}"


def forget_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _start_on_a_free_port(start: Callable[[int], T], attempts: int = 5) -> T:
    """Run `start(port)` on a port the kernel just called free, trying another when the server
    could not bind it (RuntimeError or CalledProcessError).

    PostgreSQL and Redis cannot take a listening socket from us nor report a port they picked,
    so between our look and their bind another process may take the port; when it does, the
    server fails to start and another port is tried, `attempts` times at most.
    """
    for attempt in range(attempts):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
        probe.close()
        try:
            return start(port)
        except (RuntimeError, subprocess.CalledProcessError):
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _as_postgres_user() -> list[str]:
    """initdb and postgres refuse to run as root; run them as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class PrivatePostgres:
    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*_as_postgres_user(), str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data_dir), *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        self._ctl(
            "start",
            "-w",
            "-l",
            str(self.data_dir / "server.log"),
            "-o",
            f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off",
        )
        self.wait_ready()

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as in a real restart."""
        self._ctl("stop", "-w", "-m", "fast")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                psycopg.connect(
                    f"postgresql://postgres@127.0.0.1:{self.port}/postgres", connect_timeout=1
                ).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise RuntimeError("the private PostgreSQL did not come up")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh cluster in its own directory under /tmp (pytest's tmp_path is root's alone)."""
    if not (POSTGRES_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL server binaries in {POSTGRES_BIN}")
    data_dir = Path(tempfile.mkdtemp(prefix="commentd-test-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres")
    try:
        subprocess.run(
            [*_as_postgres_user(), str(POSTGRES_BIN / "initdb"), *INITDB_OPTIONS, str(data_dir)],
            check=True,
            capture_output=True,
        )

        def start(port: int) -> PrivatePostgres:
            server = PrivatePostgres(data_dir, port)
            server.start()
            return server

        server = _start_on_a_free_port(start)
        yield server
    finally:
        if (data_dir / "postmaster.pid").exists():
            PrivatePostgres(data_dir, 0).stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class PrivateRedis:
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), *REDIS_OPTIONS],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not redis_available(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("the private Redis did not come up")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")

    def start(port: int) -> PrivateRedis:
        server = PrivateRedis(port)
        server.start()
        return server

    server = _start_on_a_free_port(start)
    try:
        yield server
    finally:
        server.kill()
