"""One module per source format; READERS maps the name `commentd import <format>` takes to
its reader (records.Reader)."""

from __future__ import annotations

from commentd.portability.readers import (  # one per line, sorted: easy merges
    artalk,
    commento,
    disqus,
    isso,
    native,
    remark42,
    wordpress,
)
from commentd.portability.records import Reader

READERS: dict[str, Reader] = {
    "artalk": artalk.read,
    "commento": commento.read,
    "disqus": disqus.read,
    "isso": isso.read,
    "json": native.read,
    "remark42": remark42.read,
    "wordpress": wordpress.read,
}
