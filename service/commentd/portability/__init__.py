"""Moving comments in and out (API.md, "Moving comments in and out"): readers of other systems'
exports, the one importer that stores what they read, and the exporters.

    readers/<format>.py  a file → SourceComment records, streaming, nothing stored
    importing.py         SourceComment records → stored comments: all or nothing, idempotent
    exporting.py         stored comments → commentd's JSON, or WordPress's WXR 1.2
"""

# The names `commentd import` and the upload API take, known without importing the readers
# (readers.READERS maps each to its reader): `commentd serve` and its workers import no reader,
# importer or exporter until an author uses one (docs/architecture.md, "Performance seams").
FORMATS = ("artalk", "commento", "disqus", "isso", "json", "remark42", "wordpress")
