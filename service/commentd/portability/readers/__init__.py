"""One module per source format; READERS maps the name `commentd import <format>` takes to
its reader (records.Reader)."""

from __future__ import annotations

from commentd.portability.readers import (
    native,
)
from commentd.portability.records import Reader

READERS: dict[str, Reader] = {
    "json": native.read,
}
