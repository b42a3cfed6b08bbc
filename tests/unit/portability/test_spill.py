"""SpillMap: any number of keys, memory bounded, every value found again."""

from __future__ import annotations

import tracemalloc

from commentd.portability.spill import SpillMap


def test_every_value_is_found_again_past_memory() -> None:
    with SpillMap[tuple[str, bool]](memory_keys=100) as spill:
        for n in range(5000):
            spill[f"thread-{n}"] = (f"https://blog.example/{n}/", n % 3 == 0)
        spill["thread-7"] = ("https://blog.example/moved/", True)  # replaced after spilling
        assert spill.get("thread-0") == ("https://blog.example/0/", True)
        assert spill.get("thread-4999") == ("https://blog.example/4999/", False)
        assert spill.get("thread-7") == ("https://blog.example/moved/", True)
        assert spill.get("thread-5000") is None and "thread-5000" not in spill
        assert "thread-123" in spill


def test_small_maps_never_touch_the_disk() -> None:
    spill = SpillMap[int](memory_keys=100)
    for n in range(100):
        spill[str(n)] = n
    assert spill._disk is None
    assert spill.get("42") == 42
    spill.close()


def test_memory_stays_flat_however_many_keys() -> None:
    def peak(keys: int) -> int:
        tracemalloc.start()
        with SpillMap[str](memory_keys=1000) as spill:
            for n in range(keys):
                spill[f"key-{n}"] = "https://blog.example/" + "x" * 80
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(5_000), peak(50_000)
    assert large < small * 1.5, (small, large)
