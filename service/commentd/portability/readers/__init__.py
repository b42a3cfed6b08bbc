"""One module per source format; READERS maps the name `commentd import <format>` takes to
its reader (records.Reader)."""

from __future__ import annotations

from commentd.portability.readers import artalk, commento
from commentd.portability.records import Reader

READERS: dict[str, Reader] = {
    "artalk": artalk.read,
    "commento": commento.read,
}
