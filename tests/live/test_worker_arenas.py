"""`commentd serve`'s workers use at most MALLOC_ARENAS malloc arenas (issue 19: memory)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from commentd.ops.server import MALLOC_ARENAS
from tests.helpers import LiveServer

HEAP_ALIGNMENT = 64 << 20  # glibc reserves each arena but the main one as a 64 MiB heap


def malloc_heaps(pid: int) -> int:
    """The process's glibc heaps besides the main arena: anonymous mappings on 64 MiB."""
    count = 0
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) == 5 and int(fields[0].split("-")[0], 16) % HEAP_ALIGNMENT == 0:
            count += 1
    return count


def test_each_worker_keeps_to_its_arenas_with_every_thread_busy(live_server: LiveServer) -> None:
    urls = [f"{live_server.url}/api/posts/p{n % 50}/comments" for n in range(400)]
    with ThreadPoolExecutor(16) as pool:  # more than a worker's threads, on every worker
        assert {r.status_code for r in pool.map(lambda u: requests.get(u, timeout=30), urls)} == {
            200
        }
    master = live_server.process.pid
    workers = [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    assert workers
    # Without the limit each of the 4 request threads had a heap of its own (4 per worker).
    assert [malloc_heaps(pid) for pid in workers] == [MALLOC_ARENAS - 1] * len(workers)
