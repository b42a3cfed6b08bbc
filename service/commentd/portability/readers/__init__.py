"""One module per source format; READERS maps the name `commentd import <format>` takes to
its reader (records.Reader)."""

from __future__ import annotations

from commentd.portability.readers import (  # one per line, sorted: easy merges
    isso,
    remark42,
)
from commentd.portability.records import Reader

READERS: dict[str, Reader] = {
    "isso": isso.read,
    "remark42": remark42.read,
}
