"""`commentd serve`'s workers use at most MALLOC_ARENAS malloc arenas (issue 19: memory)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from commentd.ops.server import MALLOC_ARENAS
from tests.helpers import LiveServer, start_server
from tests.private_servers import SHARED_REDIS, forget_prefix, redis_available, unique_prefix

HEAP_ALIGNMENT = 64 << 20  # glibc reserves each arena but the main one as a 64 MiB heap


def malloc_heaps(pid: int) -> int:
    """The process's glibc heaps besides the main arena: anonymous mappings on 64 MiB."""
    count = 0
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) == 5 and int(fields[0].split("-")[0], 16) % HEAP_ALIGNMENT == 0:
            count += 1
    return count


@pytest.fixture(params=["embedded", "redis"])
def server(
    request: pytest.FixtureRequest, serve_env: dict[str, str], tmp_path: Path
) -> Iterator[LiveServer]:
    """`commentd serve` on each kind of rate-limit storage: each builds its counters (and, on
    Redis, the in-process fallback) in the master, before gunicorn forks the workers."""
    storage: dict[str, str] = {}
    if request.param == "redis":
        if not redis_available():
            pytest.skip(f"Redis is not reachable at {SHARED_REDIS}")
        prefix = unique_prefix()
        storage = {"COMMENTD_RATELIMIT_STORAGE_URI": SHARED_REDIS}
        storage["COMMENTD_RATELIMIT_KEY_PREFIX"] = prefix
    live = start_server(serve_env | storage, tmp_path)
    yield live
    live.stop()
    if storage:
        forget_prefix(SHARED_REDIS, storage["COMMENTD_RATELIMIT_KEY_PREFIX"])


def test_each_worker_keeps_to_its_arenas_with_every_thread_busy(server: LiveServer) -> None:
    urls = [f"{server.url}/api/posts/p{n % 50}/comments" for n in range(400)]
    with ThreadPoolExecutor(16) as pool:  # more than a worker's threads, on every worker
        assert {r.status_code for r in pool.map(lambda u: requests.get(u, timeout=30), urls)} == {
            200
        }
    master = server.process.pid
    workers = [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    assert workers
    # Without the limit each of the 4 request threads had a heap of its own (4 per worker).
    assert [malloc_heaps(pid) for pid in workers] == [MALLOC_ARENAS - 1] * len(workers)
    # The master runs no thread before it forks: a thread started there (a storage's sweep
    # timer, say) made a heap that each worker inherited and never used, 2 where 1 is allowed.
    assert malloc_heaps(master) == 0
