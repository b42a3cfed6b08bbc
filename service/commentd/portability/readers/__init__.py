"""One module per source format; READERS maps the name `commentd import <format>` takes to
its reader (records.Reader)."""

from __future__ import annotations

from commentd.portability.readers import disqus, wordpress
from commentd.portability.records import Reader

READERS: dict[str, Reader] = {
    "disqus": disqus.read,
    "wordpress": wordpress.read,
}
